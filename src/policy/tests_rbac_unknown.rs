//! An RBAC management scope and a name the directory does not list: such a name may be a proxy address of any
//! mailbox, so a scope grants it only through an exact `-eq` on it, a group that lists it, or no filter at all.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::decide::{Access, Rule, decide_at};
use super::model::*;
use super::opath::Filter;

const APP: Uuid = Uuid::from_u128(1);
const ENTRA_APP_ID: Uuid = Uuid::from_u128(0xE1);
const SP: Uuid = Uuid::from_u128(20);
const ALERTS_GROUP: Uuid = Uuid::from_u128(10);
const EXEC_GROUP: Uuid = Uuid::from_u128(11);
const UNKNOWN: &str = "ceo@alerts.contoso.test";

/// The app holds no tenant-wide grant, so only its role assignment can grant; the directory lists one mailbox of
/// the alerts domain (unknown names are decided, as `MAILGATE_ALLOW_UNKNOWN_MAILBOXES` lets them be). The group
/// `alerts-senders` lists the unknown name itself; `exec` lists the CEO's primary address.
fn snapshot(directory: bool) -> Snapshot {
    let group = |address: &str, member: &str| Group {
        address: address.into(),
        mailboxes: [member.to_owned()].into(),
        ..Group::default()
    };
    let groups = HashMap::from([
        (ALERTS_GROUP, group("alerts-senders@contoso.test", UNKNOWN)),
        (EXEC_GROUP, group("exec@contoso.test", "ceo@contoso.test")),
    ]);
    let recipients = if directory {
        vec![RecipientEntry {
            address: "alerts@alerts.contoso.test".into(),
            recipient_type: "UserMailbox".into(),
            recipient_type_details: "SharedMailbox".into(),
            email_addresses: vec!["SMTP:alerts@alerts.contoso.test".into()],
            ..RecipientEntry::default()
        }]
    } else {
        Vec::new()
    };
    let mut s = Snapshot {
        directory: Directory::new(groups, recipients),
        allow_unknown_mailboxes: true,
        ..Snapshot::default()
    };
    let app = AppGrants { entra_app_id: Some(ENTRA_APP_ID), has_entra_identity: true, ..AppGrants::default() };
    s.apps.insert(APP, app);
    s.service_principals.push(ServicePrincipal {
        id: SP,
        app_id: ENTRA_APP_ID,
        object_id: Uuid::from_u128(21),
        display_name: "alerts".into(),
    });
    s
}

fn with_scope(mut s: Snapshot, filter: Option<&str>) -> Snapshot {
    let scope = filter.map(|f| {
        let id = Uuid::from_u128(30);
        let filter = Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e:?}"));
        s.scopes.insert(id, ManagementScope { id, name: "alerts".into(), filter });
        id
    });
    s.assignments.push(RoleAssignment {
        id: Uuid::from_u128(40),
        name: "alerts-send".into(),
        service_principal: SP,
        role: "Application Mail.Send".into(),
        scope,
    });
    s
}

fn decide(s: &Snapshot, mailbox: &str) -> (Access, Rule) {
    let d = decide_at(s, APP, "alerts-app", mailbox, OffsetDateTime::now_utc());
    (d.access, d.rule)
}

const GRANTED: (Access, Rule) = (Access::Granted, Rule::RbacAssignment);
const DENIED: (Access, Rule) = (Access::Denied, Rule::NoGrant);

#[test]
fn an_unknown_name_passes_no_pattern_and_no_negation() {
    let cases: [(&str, (Access, Rule)); 19] = [
        // Patterns: the name may be a proxy address of a mailbox whose primary address the pattern does not hold.
        ("PrimarySmtpAddress -like '*@alerts.contoso.test'", DENIED),
        ("EmailAddresses -like '*@alerts.contoso.test'", DENIED),
        ("PrimarySmtpAddress -like 'ceo@alerts.contoso.test'", DENIED),
        ("PrimarySmtpAddress -notlike 'x*'", DENIED),
        // Negations: nothing is known about the mailbox behind the name, so nothing is known not to hold.
        ("PrimarySmtpAddress -ne 'alerts@alerts.contoso.test'", DENIED),
        ("-not (PrimarySmtpAddress -eq 'alerts@alerts.contoso.test')", DENIED),
        ("Department -ne 'Board'", DENIED),
        ("-not (Department -like 'Board*')", DENIED),
        ("Department -eq $null", DENIED),
        ("-not (MemberOfGroup -eq 'exec@contoso.test')", DENIED),
        ("MemberOfGroup -ne 'exec@contoso.test'", DENIED),
        // A listed group with an exclusion the name cannot be shown to be outside of.
        ("(MemberOfGroup -eq 'alerts-senders@contoso.test') -and -not (MemberOfGroup -eq 'exec@contoso.test')", DENIED),
        ("(PrimarySmtpAddress -eq 'ceo@alerts.contoso.test') -and (Department -ne 'Board')", DENIED),
        // An exact -eq on that very address, or a group that lists the name: the filter names it.
        ("PrimarySmtpAddress -eq 'CEO@alerts.contoso.test'", GRANTED),
        ("EmailAddresses -eq 'smtp:ceo@alerts.contoso.test'", GRANTED),
        ("(PrimarySmtpAddress -eq 'ceo@alerts.contoso.test') -or (Department -like 'x*')", GRANTED),
        ("-not (PrimarySmtpAddress -ne 'ceo@alerts.contoso.test')", GRANTED),
        ("MemberOfGroup -eq 'alerts-senders@contoso.test'", GRANTED),
        ("(MemberOfGroup -eq 'alerts-senders@contoso.test') -or (City -notlike 'x')", GRANTED),
    ];
    for directory in [true, false] {
        for (filter, expected) in cases {
            let s = with_scope(snapshot(directory), Some(filter));
            assert_eq!(decide(&s, UNKNOWN), expected, "{filter} (directory listed: {directory})");
        }
    }
}

#[test]
fn an_org_wide_assignment_grants_an_unknown_name_and_a_known_mailbox_is_matched_as_before() {
    let s = with_scope(snapshot(true), None);
    assert_eq!(decide(&s, UNKNOWN), GRANTED);
    assert_eq!(decide(&s, "00000000-0000-0000-0000-00000000ffff"), GRANTED);

    // A mailbox the directory lists is read with everything it has: patterns and negations apply.
    for filter in [
        "PrimarySmtpAddress -like '*@alerts.contoso.test'",
        "PrimarySmtpAddress -ne 'ceo@alerts.contoso.test'",
        "Department -eq $null",
    ] {
        let s = with_scope(snapshot(true), Some(filter));
        assert_eq!(decide(&s, "alerts@alerts.contoso.test"), GRANTED, "{filter}");
        assert_eq!(decide(&s, UNKNOWN), DENIED, "{filter}");
    }
}

#[test]
fn the_refusal_says_why_an_unknown_name_is_outside() {
    let s = with_scope(snapshot(false), Some("PrimarySmtpAddress -like '*@alerts.contoso.test'"));
    let d = decide_at(&s, APP, "alerts-app", UNKNOWN, OffsetDateTime::now_utc());
    let why = &d.considered[0].why;
    assert!(why.contains("not in the directory") && why.contains("exact -eq"), "{why}");
}
