//! mailgate's own rule: an app sends only where something of its own scopes it, unless an admin marked it
//! unrestricted; and where the grant access policies constrain comes from.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::decide::{Access, ConsideredKind, Decision, Rule, decide_at};
use super::model::*;

const KEY_APP: Uuid = Uuid::from_u128(1);
const ENTRA: Uuid = Uuid::from_u128(2);
const ENTRA_APP_ID: Uuid = Uuid::from_u128(0xE2);
const SCOPE: Uuid = Uuid::from_u128(10);
const EXEC: Uuid = Uuid::from_u128(11);

/// A group holding the notifications mailbox, and one holding the CEO; the directory lists both, so that a name is
/// never refused for being unknown here (DenyAccess scopes refuse unknown names).
fn snapshot() -> Snapshot {
    let group = |address: &str, member: &str| Group {
        address: address.into(),
        mailboxes: [member.to_owned()].into(),
        ..Group::default()
    };
    let groups = HashMap::from([
        (SCOPE, group("dl-graph-scope@contoso.test", "notifications@contoso.test")),
        (EXEC, group("exec@contoso.test", "ceo@contoso.test")),
    ]);
    let mailbox = |address: &str| RecipientEntry {
        address: address.into(),
        recipient_type: "UserMailbox".into(),
        recipient_type_details: "UserMailbox".into(),
        ..RecipientEntry::default()
    };
    let recipients = vec![mailbox("notifications@contoso.test"), mailbox("ceo@contoso.test")];
    let mut s = Snapshot { directory: Directory::new(groups, recipients), ..Snapshot::default() };
    s.apps.insert(KEY_APP, AppGrants::default());
    let entra = AppGrants { entra_app_id: Some(ENTRA_APP_ID), has_entra_identity: true, ..AppGrants::default() };
    s.apps.insert(ENTRA, entra);
    s
}

fn policy(n: u128, apps: AppSelector, group: Uuid, access_right: AccessRight) -> Policy {
    Policy {
        id: Uuid::from_u128(100 + n),
        apps,
        scope: PolicyScope::Group(group),
        access_right,
        description: "".into(),
    }
}

fn only(app: Uuid) -> AppSelector {
    AppSelector::Apps(vec![app])
}

fn decide(s: &Snapshot, app: Uuid, mailbox: &str) -> Decision {
    decide_at(s, app, "rogue-app", mailbox, OffsetDateTime::now_utc())
}

fn rule(s: &Snapshot, app: Uuid, mailbox: &str) -> (Access, Rule) {
    let d = decide(s, app, mailbox);
    (d.access, d.rule)
}

fn set(s: &mut Snapshot, app: Uuid, f: impl FnOnce(&mut AppGrants)) {
    if let Some(a) = s.apps.get_mut(&app) {
        f(a);
    }
}

#[test]
fn an_app_nothing_of_its_own_names_sends_as_no_one() {
    let mut s = snapshot();
    let d = decide(&s, KEY_APP, "ceo@contoso.test");
    assert_eq!((d.access, d.rule), (Access::Denied, Rule::UnscopedApp));
    assert!(d.reason.contains("mailgate policies new --app rogue-app"), "{}", d.reason);
    assert!(d.reason.contains("POST /v1/admin/policies"), "{}", d.reason);
    assert!(d.reason.contains("unrestricted"), "{}", d.reason);
    let scope = d.considered.iter().find(|c| c.kind == ConsideredKind::AppScope).expect("the app's scope");
    assert!(!scope.matched, "{scope:?}");

    // Holding the tenant-wide Entra grant does not make an app scoped: that is Exchange's default, which is refused.
    set(&mut s, ENTRA, |a| a.entra_mail_send = true);
    assert_eq!(rule(&s, ENTRA, "ceo@contoso.test"), (Access::Denied, Rule::UnscopedApp));

    // A policy for every app does not count, whichever its right.
    for right in [AccessRight::RestrictAccess, AccessRight::DenyAccess] {
        s.policies = vec![policy(1, AppSelector::All, SCOPE, right)];
        for app in [KEY_APP, ENTRA] {
            for mailbox in ["notifications@contoso.test", "ceo@contoso.test"] {
                assert_eq!(rule(&s, app, mailbox), (Access::Denied, Rule::UnscopedApp), "{right} * / {mailbox}");
            }
        }
    }
}

#[test]
fn the_seed_articles_demo_a_key_app_restricted_to_a_group() {
    let mut s = snapshot();
    s.policies = vec![policy(1, only(KEY_APP), SCOPE, AccessRight::RestrictAccess)];
    assert_eq!(rule(&s, KEY_APP, "notifications@contoso.test"), (Access::Granted, Rule::RestrictAccessInScope));
    assert_eq!(rule(&s, KEY_APP, "ceo@contoso.test"), (Access::Denied, Rule::RestrictAccessNotInScope));
    let d = decide(&s, KEY_APP, "notifications@contoso.test");
    let grant = d.considered.iter().find(|c| c.kind == ConsideredKind::EntraGrant).expect("the grant");
    assert!(grant.matched && grant.why.contains("no Entra identity"), "{grant:?}");
    // A policy that lists the app among others names it too.
    s.policies = vec![policy(1, AppSelector::Apps(vec![ENTRA, KEY_APP]), SCOPE, AccessRight::RestrictAccess)];
    assert_eq!(rule(&s, KEY_APP, "notifications@contoso.test"), (Access::Granted, Rule::RestrictAccessInScope));
}

#[test]
fn a_key_apps_own_deny_policy_scopes_it_as_exchange_would() {
    let mut s = snapshot();
    s.policies = vec![policy(1, only(KEY_APP), EXEC, AccessRight::DenyAccess)];
    assert_eq!(rule(&s, KEY_APP, "ceo@contoso.test"), (Access::Denied, Rule::DenyAccessInScope));
    assert_eq!(rule(&s, KEY_APP, "notifications@contoso.test"), (Access::Granted, Rule::NoPolicy));
}

#[test]
fn an_entra_app_needs_the_entra_grant_for_its_access_policies() {
    let mut s = snapshot();
    s.policies = vec![policy(1, only(ENTRA), SCOPE, AccessRight::RestrictAccess)];
    let d = decide(&s, ENTRA, "notifications@contoso.test");
    assert_eq!((d.access, d.rule), (Access::Denied, Rule::NoGrant));
    assert!(d.reason.contains("entra_mail_send"), "{}", d.reason);
    set(&mut s, ENTRA, |a| a.entra_mail_send = true);
    assert_eq!(rule(&s, ENTRA, "notifications@contoso.test"), (Access::Granted, Rule::RestrictAccessInScope));
}

#[test]
fn only_an_unrestricted_app_sends_with_nothing_of_its_own_and_policies_for_every_app_still_bind_it() {
    let mut s = snapshot();
    for app in [KEY_APP, ENTRA] {
        set(&mut s, app, |a| a.unrestricted = true);
        let d = decide(&s, app, "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::NoPolicy), "{app}");
        let scope = d.considered.iter().find(|c| c.kind == ConsideredKind::AppScope).expect("the app's scope");
        assert!(scope.matched && scope.why.contains("unrestricted"), "{scope:?}");
    }
    s.policies = vec![policy(1, AppSelector::All, EXEC, AccessRight::DenyAccess)];
    assert_eq!(rule(&s, KEY_APP, "ceo@contoso.test"), (Access::Denied, Rule::DenyAccessInScope));
    assert_eq!(rule(&s, KEY_APP, "notifications@contoso.test"), (Access::Granted, Rule::NoPolicy));
    // Its own RestrictAccess policy narrows an unrestricted app as it narrows any grant.
    s.policies = vec![policy(1, only(KEY_APP), SCOPE, AccessRight::RestrictAccess)];
    assert_eq!(rule(&s, KEY_APP, "ceo@contoso.test"), (Access::Denied, Rule::RestrictAccessNotInScope));
}

#[test]
fn an_rbac_assignment_of_its_own_scopes_an_app_and_the_entra_grant_still_adds_to_it() {
    let mut s = snapshot();
    let sp = Uuid::from_u128(20);
    s.service_principals.push(ServicePrincipal {
        id: sp,
        app_id: ENTRA_APP_ID,
        object_id: Uuid::from_u128(21),
        display_name: "entra".into(),
    });
    let filter = super::opath::Filter::parse("CustomAttribute1 -eq 'mailgate'").expect("filter");
    let scope = ManagementScope { id: Uuid::from_u128(30), name: "mailgate".into(), filter };
    s.scopes.insert(scope.id, scope);
    let assign = |role: &str| RoleAssignment {
        id: Uuid::from_u128(40),
        name: "assignment".into(),
        service_principal: sp,
        role: role.into(),
        scope: Some(Uuid::from_u128(30)),
    };
    // A role that does not send does not scope sending.
    s.assignments = vec![assign("Application Mail.Read")];
    assert_eq!(rule(&s, ENTRA, "ceo@contoso.test"), (Access::Denied, Rule::UnscopedApp));
    s.assignments = vec![assign("Application Mail.Send")];
    assert_eq!(rule(&s, ENTRA, "ceo@contoso.test"), (Access::Denied, Rule::NoGrant));
    // Exchange's surprise, kept: the tenant-wide grant reaches past the assignment's scope.
    set(&mut s, ENTRA, |a| a.entra_mail_send = true);
    assert_eq!(rule(&s, ENTRA, "ceo@contoso.test"), (Access::Granted, Rule::NoPolicy));
}
