//! Table-driven tests: parsing valid filters and evaluating them.

use super::*;

pub(super) fn alice() -> MapRecipient {
    MapRecipient::new()
        .with(Property::PrimarySmtpAddress, "alice@contoso.test")
        .with(Property::Alias, "alice")
        .with(Property::DisplayName, "Alice O'Brien")
        .with(Property::Department, "Finance")
        .with(Property::City, "Zürich")
        .with(Property::CountryOrRegion, "CH")
        .with(Property::Title, "")
        .with(Property::CustomAttribute(1), "mailgate-send")
        .with(Property::CustomAttribute(15), "last")
        .with(Property::RecipientType, "UserMailbox")
        .with(Property::RecipientTypeDetails, "SharedMailbox")
        .with(Property::Company, "True")
        .in_group("DL-Graph-Scope@contoso.test")
        .in_group("Finance Team")
        .with_address("SMTP:alice@contoso.test")
        .with_address("smtp:a.obrien@contoso.test")
        .with_address("X500:/o=Contoso/cn=alice")
}

pub(super) fn check(filter: &str, r: &MapRecipient, expected: bool) {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter:?} failed: {e}"));
    assert_eq!(f.matches(r), expected, "{filter:?} on {r:?}");
    // Canonical text parses back to the same tree and decides the same way.
    let again = Filter::parse(&f.to_string()).unwrap_or_else(|e| panic!("{f} failed: {e}"));
    assert_eq!(again, f, "round trip of {filter:?} via {f}");
    assert_eq!(again.matches(r), expected);
}

#[test]
fn operators_on_alice() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        // -eq / -ne
        ("Department -eq 'Finance'", true),
        ("Department -eq 'Sales'", false),
        ("Department -ne 'Sales'", true),
        ("Department -ne 'Finance'", false),
        // -like / -notlike
        ("CustomAttribute1 -like 'mailgate*'", true),
        ("CustomAttribute1 -like 'mailgate'", false),
        ("CustomAttribute1 -notlike 'mailgate*'", false),
        ("CustomAttribute1 -notlike 'other*'", true),
        // Realistic scopes
        ("Department -eq 'Finance' -and CustomAttribute1 -like 'mailgate*'", true),
        ("(RecipientTypeDetails -eq 'SharedMailbox') -and -not (PrimarySmtpAddress -like 'ceo*')", true),
        ("(RecipientTypeDetails -eq 'SharedMailbox') -and -not(PrimarySmtpAddress -like 'alice*')", false),
        ("MemberOfGroup -eq 'dl-graph-scope@contoso.test'", true),
        ("RecipientTypeDetails -eq 'UserMailbox' -or RecipientTypeDetails -eq 'SharedMailbox'", true),
        ("{ Department -eq 'Finance' }", true),
        ("{CountryOrRegion -eq 'US'}", false),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
}

#[test]
fn precedence_and_parentheses() {
    let a = alice();
    // T = Department -eq Finance, F = City -eq Paris
    let table: &[(&str, bool)] = &[
        // -and binds tighter than -or: F -and F -or T == (F -and F) -or T
        ("City -eq Paris -and City -eq Paris -or Department -eq Finance", true),
        ("City -eq Paris -and (City -eq Paris -or Department -eq Finance)", false),
        // T -or T -and F == T -or (T -and F)
        ("Department -eq Finance -or Department -eq Finance -and City -eq Paris", true),
        ("(Department -eq Finance -or Department -eq Finance) -and City -eq Paris", false),
        // -not binds tighter than -and / -or
        ("-not City -eq Paris -and Department -eq Finance", true),
        ("-not Department -eq Finance -or Department -eq Finance", true),
        ("-not (Department -eq Finance -or Department -eq Finance)", false),
        ("-not -not Department -eq Finance", true),
        ("-NOT(-not(Department -eq Finance))", true),
        ("((((Department -eq Finance))))", true),
        ("((Department -eq Finance) -and ((City -eq 'Zürich')))", true),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
    let tree = Filter::parse("Alias -eq a -or Alias -eq b -and Alias -eq c").expect("test value");
    assert!(matches!(tree.expr(), Expr::Or(_, r) if matches!(**r, Expr::And(..))));
    let left = Filter::parse("Alias -eq a -and Alias -eq b -and Alias -eq c").expect("test value");
    assert!(matches!(left.expr(), Expr::And(l, _) if matches!(**l, Expr::And(..))));
    assert_eq!(left.to_string(), "Alias -eq 'a' -and Alias -eq 'b' -and Alias -eq 'c'");
    let right = Filter::parse("Alias -eq a -and (Alias -eq b -and Alias -eq c)").expect("test value");
    assert_eq!(right.to_string(), "Alias -eq 'a' -and (Alias -eq 'b' -and Alias -eq 'c')");
    assert_ne!(left, right);
}

#[test]
fn quoting_and_escapes() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        ("DisplayName -eq 'Alice O''Brien'", true),
        ("DisplayName -eq \"Alice O'Brien\"", true),
        ("DisplayName -like \"*O'B*\"", true),
        ("Alias -eq \"al\"\"ice\"", false),
        ("Alias -eq alice", true),
        ("PrimarySmtpAddress -eq alice@contoso.test", true),
        ("CustomAttribute1 -eq mailgate-send", true),
        ("Alias -eq 'al ice'", false),
        ("City -eq 'zürich'", true),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
    let f = Filter::parse("Alias -eq \"say \"\"hi\"\"\"").expect("test value");
    let want = Expr::compare(Property::Alias, CompareOp::Eq, Value::Str("say \"hi\"".into()));
    assert_eq!(f.expr(), &want);
    assert_eq!(Filter::parse("Alias -eq 'it''s'").expect("test value").to_string(), "Alias -eq 'it''s'");
    // A quoted '$true' is text, a bare $true is the literal.
    let quoted = Filter::parse("Company -eq '$true'").expect("test value");
    assert_ne!(quoted, Filter::parse("Company -eq $true").expect("test value"));
}

#[test]
fn wildcards() {
    let table: &[(&str, &str, bool)] = &[
        ("mailgate-send", "mailgate*", true),
        ("mailgate-send", "*send", true),
        ("mailgate-send", "*gate*", true),
        ("mailgate-send", "m?ilgate-send", true),
        ("mailgate-send", "mailgate?", false),
        ("mailgate-send", "*", true),
        ("mailgate-send", "**", true),
        ("mailgate-send", "MAILGATE-SEND", true),
        ("mailgate-send", "mailgate-sen", false),
        ("a.b", "a?b", true),
        ("axb", "a.b", false),
        ("", "*", true),
        ("", "?", false),
        ("abc", "", false),
        ("ab", "a*b*", true),
        ("aaa", "a*a*a*a", false),
        ("[x]", "[x]", true),
        ("x", "[x]", false),
    ];
    for (text, pattern, want) in table {
        assert_eq!(like(text, pattern), *want, "{text:?} -like {pattern:?}");
    }
    // Pathological pattern stays fast (would be exponential with naive backtracking).
    let text = "a".repeat(5000);
    let pattern = format!("{}b", "*a".repeat(200));
    assert!(!like(&text, &pattern));
}

#[test]
fn case_insensitivity() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        ("department -EQ 'FINANCE'", true),
        ("DEPARTMENT -Ne 'finance'", false),
        ("customattribute1 -LIKE 'MAILGATE*'", true),
        ("Department -eq 'Finance' -AND City -eq 'ZÜRICH'", true),
        ("Department -eq 'Sales' -Or -NoT City -eq 'x'", true),
        ("memberofgroup -eq 'FINANCE TEAM'", true),
        ("emailaddresses -eq 'A.OBRIEN@CONTOSO.TEST'", true),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
}
