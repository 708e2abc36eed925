//! Table-driven tests: every kind of error, with its position and the gist of its message.

use super::*;

fn err(input: &str) -> FilterError {
    match Filter::parse(input) {
        Ok(f) => panic!("{input:?} parsed as {f:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_have_positions_and_messages() {
    let table: &[(&str, usize, &str)] = &[
        ("", 0, "empty filter"),
        ("   ", 3, "empty filter"),
        ("{ }", 2, "empty filter"),
        ("Department -eq 'Finance", 15, "unterminated string"),
        ("Department -eq \"Finance", 15, "unterminated string"),
        ("Alias -eq 'O''Brien", 10, "unterminated string"),
        ("Department -contains 'x'", 11, "operator `-contains` is not supported"),
        ("Department -gt 5", 11, "use -eq, -ne, -like or -notlike"),
        ("Department -match 'x'", 11, "not supported"),
        ("Department -foo x", 11, "unknown operator `-foo`"),
        ("Department = 'x'", 11, "expected a comparison operator such as -eq or -like, found `=`"),
        ("Department -and City -eq x", 11, "expected a comparison operator"),
        ("Department", 10, "found end of input"),
        ("Departmnet -eq 'x'", 0, "unknown property `Departmnet`; valid properties are PrimarySmtpAddress"),
        ("CustomAttribute16 -eq 'x'", 0, "CustomAttribute1 to CustomAttribute15"),
        ("customattribute0 -eq 'x'", 0, "CustomAttribute1 to CustomAttribute15"),
        ("'Department' -eq 'x'", 0, "property names are not quoted"),
        ("Department -eq", 14, "missing value after -eq"),
        ("Department -eq -and City -eq x", 15, "missing value after -eq: expected a quoted string"),
        ("(Department -like)", 17, "missing value after -like"),
        ("Department -eq $foo", 15, "unsupported variable `$foo`"),
        ("(Department -eq 'x'", 19, "unbalanced parentheses: expected `)` to close the `(` at position 0"),
        ("((Alias -eq x)", 14, "`(` at position 0"),
        ("Department -eq 'x')", 18, "unbalanced parentheses: `)` has no matching `(`"),
        ("(Alias -eq x City -eq y)", 13, "expected `)` to close the `(` at position 0"),
        ("()", 1, "empty parentheses"),
        (")", 0, "expected a comparison"),
        ("Department -eq 'x' City -eq 'y'", 19, "unexpected `City` after a complete comparison"),
        ("Alias -eq 'x' -xor City -eq y", 14, "unexpected `-xor`"),
        ("Department -eq 'x' -and", 23, "expected a comparison such as Department -eq 'Finance', found end of input"),
        ("-not", 4, "expected a comparison"),
        ("{ Alias -eq x", 13, "expected `}` to close the `{` at position 0, found end of input"),
        ("{ Alias -eq x } y", 16, "after the closing `}`"),
        ("Alias -eq x }", 12, "unexpected `}`"),
        ("MemberOfGroup -like 'dl*'", 14, "MemberOfGroup supports only -eq and -ne"),
        ("MemberOfGroup -eq $null", 18, "MemberOfGroup needs a group name"),
        ("MemberOfGroup -eq ''", 18, "MemberOfGroup needs a group name"),
        // Positions count characters, not bytes.
        ("City -eq 'Zürich' = 1", 18, "unexpected `=`"),
        ("City -eq 'Zürich' -and Cité -eq x", 23, "unknown property `Cité`"),
    ];
    for (input, pos, gist) in table {
        let e = err(input);
        assert_eq!(e.position, *pos, "{input:?}: {e}");
        assert!(e.message.contains(gist), "{input:?}: {:?} lacks {gist:?}", e.message);
        assert_eq!(e.to_string(), format!("{} at position {pos}", e.message));
    }
}

#[test]
fn nesting_is_capped() {
    let ok = format!("{}Alias -eq x{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(Filter::parse(&ok).is_ok());
    let deep = format!("{}Alias -eq x{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    let e = err(&deep);
    assert_eq!(e.position, MAX_DEPTH);
    assert!(e.message.contains("nested too deeply"));

    let nots = format!("{}Alias -eq x", "-not ".repeat(MAX_DEPTH + 1));
    assert_eq!(err(&nots).position, MAX_DEPTH * 5);
    // `-not (` counts once, so the canonical form of a deep filter still parses.
    let not_parens = format!("{}Alias -eq x{}", "-not (".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    let f = Filter::parse(&not_parens).expect("test value");
    assert_eq!(Filter::parse(&f.to_string()).expect("test value"), f);

    // A huge unparenthesised chain is fine: it is a loop, not recursion.
    let chain = vec!["City -eq x"; 1000].join(" -or ");
    assert!(Filter::parse(&chain).is_ok());
}

#[test]
fn length_is_capped() {
    let long = format!("Alias -eq '{}'", "a".repeat(MAX_INPUT_BYTES));
    let e = err(&long);
    assert_eq!(e.position, MAX_INPUT_BYTES);
    assert!(e.message.contains("too long"));
    // Multi-byte characters: the position is in characters.
    let wide = format!("Alias -eq '{}'", "é".repeat(MAX_INPUT_BYTES));
    assert_eq!(err(&wide).position, 11 + (MAX_INPUT_BYTES - 11).div_ceil(2));
}

#[test]
fn new_refuses_what_text_cannot_say() {
    let cmp = |p, op, v| Expr::compare(p, op, v);
    let group = Value::Str("dl".into());
    assert!(Filter::new(cmp(Property::MemberOfGroup, CompareOp::Eq, group.clone())).is_ok());
    assert!(Filter::new(cmp(Property::MemberOfGroup, CompareOp::Like, group)).is_err());
    assert!(Filter::new(cmp(Property::MemberOfGroup, CompareOp::Eq, Value::Null)).is_err());
    assert!(Filter::new(cmp(Property::CustomAttribute(0), CompareOp::Eq, Value::Null)).is_err());

    let leaf = cmp(Property::Alias, CompareOp::Eq, Value::Str("x".into()));
    let mut e = leaf.clone();
    for _ in 0..MAX_DEPTH {
        e = Expr::Not(Box::new(e));
    }
    let f = Filter::new(e.clone()).expect("test value");
    assert_eq!(Filter::parse(&f.to_string()).expect("test value"), f);
    assert!(Filter::new(Expr::Not(Box::new(e))).is_err());
}

#[test]
fn odd_inputs_do_not_panic() {
    for input in [
        "-",
        "--",
        "-eq",
        "$",
        "'",
        "\"",
        "''",
        "{",
        "}",
        "(",
        "-not(",
        "Alias -eq -",
        "Alias -eq -5",
        "Alias -like *",
        "\u{0}",
        "Alias\u{3000}-eq\u{3000}x",
        "İ -eq x",
        "Alias -eq ''''",
    ] {
        let _ = Filter::parse(input);
    }
    assert_eq!(Filter::parse("Alias -eq -5").expect("test value").to_string(), "Alias -eq '-5'");
    assert!(
        Filter::parse("Alias -like *").expect("test value").matches(&MapRecipient::new().with(Property::Alias, "z"))
    );
}

#[test]
fn serde_uses_text() {
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer};
    let d: StrDeserializer<'_, Error> = "department -eq finance".into_deserializer();
    let f = <Filter as serde::Deserialize>::deserialize(d).expect("test value");
    assert_eq!(f.to_string(), "Department -eq 'finance'");
    let bad: StrDeserializer<'_, Error> = "department -gt 1".into_deserializer();
    assert!(<Filter as serde::Deserialize>::deserialize(bad).is_err());
    let p: StrDeserializer<'_, Error> = "customattribute3".into_deserializer();
    assert_eq!(<Property as serde::Deserialize>::deserialize(p).expect("test value"), Property::CustomAttribute(3));
}
