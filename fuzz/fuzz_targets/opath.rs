//! Fuzzes the OPATH recipient-filter parser and evaluator: any UTF-8 input must either
//! parse or yield an error (never panic), and whatever parses must evaluate, and print a
//! canonical form that parses back to the same filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::policy::opath::{Filter, MapRecipient, Property};

fn recipient() -> MapRecipient {
    MapRecipient::new()
        .with(Property::PrimarySmtpAddress, "alice@contoso.test")
        .with(Property::Alias, "alice")
        .with(Property::DisplayName, "Alice O'Brien")
        .with(Property::Department, "Finance")
        .with(Property::City, "Zürich")
        .with(Property::CustomAttribute(1), "mailgate-send")
        .with(Property::RecipientTypeDetails, "SharedMailbox")
        .in_group("dl-graph-scope@contoso.test")
        .with_address("SMTP:alice@contoso.test")
        .with_address("smtp:a.obrien@contoso.test")
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Filter::parse(s) {
        Ok(filter) => {
            let r = recipient();
            let verdict = filter.matches(&r);
            let _ = filter.properties();
            let text = filter.to_string();
            let again = Filter::parse(&text).expect("canonical form must re-parse");
            assert_eq!(again, filter, "round trip through {text:?}");
            assert_eq!(again.matches(&r), verdict);
        }
        Err(e) => assert!(e.position <= s.chars().count()),
    }
});
