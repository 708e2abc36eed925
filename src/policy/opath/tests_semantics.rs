//! Table-driven tests: `$null`, MemberOfGroup, EmailAddresses, custom attributes, properties().

use super::tests_eval::{alice, check};
use super::*;

#[test]
fn null_and_booleans() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        ("Office -eq $null", true),
        ("Office -ne $null", false),
        ("Title -eq $null", true), // set to the empty string
        ("Department -eq $null", false),
        ("Department -ne $NULL", true),
        ("Office -eq ''", true),
        ("Office -eq 'x'", false),
        ("Office -ne 'x'", true),
        ("Office -like '*'", false),
        ("Office -notlike '*'", true),
        ("Department -like $null", false),
        ("Company -eq $true", true),
        ("Company -eq $False", false),
        ("EmailAddresses -eq $null", false),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
    check("EmailAddresses -eq $null", &MapRecipient::new(), true);
    check("MemberOfGroup -ne 'x'", &MapRecipient::new(), true);
}

#[test]
fn member_of_group() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        ("MemberOfGroup -eq 'dl-graph-scope@contoso.test'", true),
        ("MemberOfGroup -eq 'DL-GRAPH-SCOPE@CONTOSO.TEST'", true),
        ("MemberOfGroup -ne 'dl-graph-scope@contoso.test'", false),
        ("MemberOfGroup -eq 'Finance Team'", true),
        ("MemberOfGroup -eq 'Sales Team'", false),
        ("MemberOfGroup -ne 'Sales Team'", true),
        ("MemberOfGroup -eq dl-graph-scope@contoso.test", true),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
}

#[test]
fn email_addresses() {
    let a = alice();
    let table: &[(&str, bool)] = &[
        ("EmailAddresses -eq 'alice@contoso.test'", true),
        ("EmailAddresses -eq 'smtp:a.obrien@contoso.test'", true),
        ("EmailAddresses -eq 'SMTP:A.OBRIEN@contoso.test'", true),
        ("EmailAddresses -eq 'bob@contoso.test'", false),
        ("EmailAddresses -ne 'bob@contoso.test'", true),
        ("EmailAddresses -like '*@contoso.test'", true),
        ("EmailAddresses -like 'smtp:a.*'", true),
        ("EmailAddresses -notlike '*@fabrikam.test'", true),
        ("EmailAddresses -notlike '*@contoso.test'", false),
        ("EmailAddresses -like 'X500:*'", true),
    ];
    for (f, want) in table {
        check(f, &a, *want);
    }
    // The primary address counts even when not listed among the proxies.
    let bob = MapRecipient::new().with(Property::PrimarySmtpAddress, "bob@contoso.test");
    check("EmailAddresses -eq 'smtp:bob@contoso.test'", &bob, true);
    assert_eq!(strip_smtp("SmTp:x@y"), "x@y");
    assert_eq!(strip_smtp("sip:x@y"), "sip:x@y");
}

#[test]
fn custom_attribute_bounds() {
    let a = alice();
    for n in 1..=15u8 {
        let text = format!("CustomAttribute{n} -eq 'x'");
        let f = Filter::parse(&text).expect("test value");
        assert_eq!(f.properties(), vec![Property::CustomAttribute(n)]);
        assert_eq!(Property::CustomAttribute(n).name(), format!("CustomAttribute{n}"));
    }
    check("CustomAttribute15 -eq 'LAST'", &a, true);
    check("customattribute2 -eq $null", &a, true);
    for bad in
        ["CustomAttribute0", "CustomAttribute16", "CustomAttribute01", "CustomAttribute", "CustomAttribute99999999999"]
    {
        assert_eq!(Property::parse(bad), None, "{bad}");
    }
    assert!(Filter::new(Expr::compare(Property::CustomAttribute(16), CompareOp::Eq, Value::Null)).is_err());
}

#[test]
fn properties_and_names() {
    let f =
        Filter::parse("Department -eq 'Finance' -and (City -eq x -or department -ne y) -and -not MemberOfGroup -eq g")
            .expect("test value");
    assert_eq!(f.properties(), vec![Property::Department, Property::City, Property::MemberOfGroup]);
    for p in Property::all() {
        assert_eq!(Property::parse(&p.name()), Some(p));
        assert_eq!(Property::parse(&p.name().to_uppercase()), Some(p));
    }
    assert_eq!(Property::all().len(), 29);
    let parsed: Filter = "alias -EQ bob".parse().expect("test value");
    assert_eq!(parsed.to_string(), "Alias -eq 'bob'");
}
