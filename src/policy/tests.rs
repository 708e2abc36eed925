//! Table-driven tests of both Exchange models and their combination.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

use super::decide::{Access, Rule, decide_at};
use super::model::*;
use super::opath::Filter;

const APP: Uuid = Uuid::from_u128(1);
const OTHER_APP: Uuid = Uuid::from_u128(2);
const ENTRA_APP: Uuid = Uuid::from_u128(0xE1);
const G_NOTIFY: Uuid = Uuid::from_u128(10);
const G_EXEC: Uuid = Uuid::from_u128(11);
const G_OUTER: Uuid = Uuid::from_u128(12);
const SP: Uuid = Uuid::from_u128(20);
const SCOPE_MAILGATE: Uuid = Uuid::from_u128(30);
const SCOPE_FINANCE_GROUP: Uuid = Uuid::from_u128(31);
const NOTIFY_OID: Uuid = Uuid::from_u128(0xABC);

fn directory() -> Directory {
    let group = |address: &str, mailboxes: &[&str], subgroups: Vec<Uuid>| Group {
        address: address.into(),
        display_name: address.split('@').next().unwrap_or("").into(),
        object_id: None,
        mailboxes: mailboxes.iter().map(|m| (*m).to_owned()).collect(),
        subgroups,
    };
    let mut groups = HashMap::new();
    groups.insert(G_NOTIFY, group("scope@contoso.test", &["notify@contoso.test"], vec![]));
    groups.insert(G_EXEC, group("exec@contoso.test", &["ceo@contoso.test"], vec![]));
    // Outer holds exec by nesting, and itself, to prove cycles end.
    groups.insert(G_OUTER, group("outer@contoso.test", &[], vec![G_EXEC, G_OUTER]));
    let recipient = |address: &str, oid: Option<Uuid>, details: &str, props: &[(&str, &str)]| RecipientEntry {
        address: address.into(),
        object_id: oid,
        recipient_type: "UserMailbox".into(),
        recipient_type_details: details.into(),
        display_name: address.into(),
        user_principal_name: None,
        properties: props.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        email_addresses: vec![format!("SMTP:{address}")],
    };
    let recipients = vec![
        recipient("notify@contoso.test", Some(NOTIFY_OID), "SharedMailbox", &[("CustomAttribute1", "mailgate")]),
        recipient("ceo@contoso.test", None, "UserMailbox", &[("Department", "Board")]),
        recipient("payroll@contoso.test", None, "SharedMailbox", &[("Department", "Finance")]),
    ];
    Directory::new(groups, recipients)
}

fn policy(n: u128, apps: AppSelector, scope: PolicyScope, right: AccessRight) -> Policy {
    Policy { id: Uuid::from_u128(100 + n), apps, scope, access_right: right, description: String::new() }
}

use AccessRight::{DenyAccess as Deny, RestrictAccess as Restrict};

fn app() -> AppSelector {
    AppSelector::Apps(vec![APP])
}

fn group(g: Uuid) -> PolicyScope {
    PolicyScope::Group(g)
}

struct World {
    snapshot: Snapshot,
}

impl World {
    fn new() -> Self {
        // These tables are about the policies' semantics, so mailboxes outside the directory are decided too;
        // `unknown_names_and_aliases` covers the directory's own refusal.
        let mut snapshot = Snapshot { directory: directory(), allow_unknown_mailboxes: true, ..Snapshot::default() };
        let entra = AppGrants {
            entra_app_id: Some(ENTRA_APP),
            has_entra_identity: true,
            entra_mail_send: true,
            unrestricted: false,
        };
        snapshot.apps.insert(APP, entra);
        snapshot.apps.insert(OTHER_APP, AppGrants::default());
        Self { snapshot }
    }
    /// Marks APP unrestricted: with no policy of its own, Exchange's unscoped rules decide.
    fn unrestricted(mut self) -> Self {
        if let Some(a) = self.snapshot.apps.get_mut(&APP) {
            a.unrestricted = true;
        }
        self
    }
    fn policies(mut self, p: Vec<Policy>) -> Self {
        self.snapshot.policies = p;
        self
    }
    fn without_entra_grant(mut self) -> Self {
        if let Some(a) = self.snapshot.apps.get_mut(&APP) {
            a.entra_mail_send = false;
        }
        self
    }
    fn rbac(mut self, role: &str, scope: Option<Uuid>) -> Self {
        self.snapshot.service_principals.push(ServicePrincipal {
            id: SP,
            app_id: ENTRA_APP,
            object_id: Uuid::from_u128(21),
            display_name: "app".into(),
        });
        let filters = [
            (SCOPE_MAILGATE, "mailgate-scope", "CustomAttribute1 -eq 'mailgate'"),
            (SCOPE_FINANCE_GROUP, "exec-members", "MemberOfGroup -eq 'outer@contoso.test'"),
        ];
        for (id, name, f) in filters {
            let filter = Filter::parse(f).expect("filter");
            self.snapshot.scopes.insert(id, ManagementScope { id, name: name.into(), filter });
        }
        let n = self.snapshot.assignments.len() as u128;
        self.snapshot.assignments.push(RoleAssignment {
            id: Uuid::from_u128(40 + n),
            name: format!("assignment-{n}"),
            service_principal: SP,
            role: role.into(),
            scope,
        });
        self
    }
    fn decide(&self, mailbox: &str) -> (Access, Rule) {
        let d = decide_at(&self.snapshot, APP, "app", mailbox, OffsetDateTime::now_utc());
        (d.access, d.rule)
    }
}

use Access::{Denied, Granted};

/// (name, policies, mailbox, expected).
type Case = (&'static str, Vec<Policy>, &'static str, (Access, Rule));

#[test]
fn access_policy_rules_in_evaluation_order() {
    let cases: Vec<Case> = vec![
        ("5: no policy grants", vec![], "anyone@contoso.test", (Granted, Rule::NoPolicy)),
        (
            "5: another app's policy does not apply",
            vec![policy(1, AppSelector::Apps(vec![OTHER_APP]), group(G_NOTIFY), Restrict)],
            "ceo@contoso.test",
            (Granted, Rule::NoPolicy),
        ),
        (
            "3: restrict grants inside",
            vec![policy(1, app(), group(G_NOTIFY), Restrict)],
            "notify@contoso.test",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "4: restrict denies outside",
            vec![policy(1, app(), group(G_NOTIFY), Restrict)],
            "ceo@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "3: inside either of two restrictions",
            vec![policy(1, app(), group(G_NOTIFY), Restrict), policy(2, app(), group(G_EXEC), Restrict)],
            "ceo@contoso.test",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "4: outside both restrictions",
            vec![policy(1, app(), group(G_NOTIFY), Restrict), policy(2, app(), group(G_EXEC), Restrict)],
            "other@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "2: deny denies inside",
            vec![policy(1, app(), group(G_EXEC), Deny)],
            "ceo@contoso.test",
            (Denied, Rule::DenyAccessInScope),
        ),
        (
            "5: deny grants outside",
            vec![policy(1, app(), group(G_EXEC), Deny)],
            "notify@contoso.test",
            (Granted, Rule::NoPolicy),
        ),
        (
            "1: deny wins over restrict on the same mailbox",
            vec![policy(1, app(), group(G_EXEC), Restrict), policy(2, app(), group(G_EXEC), Deny)],
            "ceo@contoso.test",
            (Denied, Rule::DenyAccessInScope),
        ),
        (
            "4: a deny elsewhere does not lift a restriction",
            vec![policy(1, app(), group(G_NOTIFY), Restrict), policy(2, app(), group(G_EXEC), Deny)],
            "third@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "*: star deny applies",
            vec![policy(1, AppSelector::All, group(G_EXEC), Deny)],
            "ceo@contoso.test",
            (Denied, Rule::DenyAccessInScope),
        ),
        (
            "*: star restrict applies",
            vec![policy(1, AppSelector::All, group(G_NOTIFY), Restrict)],
            "ceo@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "1: a star deny beats the app's own restrict",
            vec![policy(1, app(), group(G_EXEC), Restrict), policy(2, AppSelector::All, group(G_EXEC), Deny)],
            "ceo@contoso.test",
            (Denied, Rule::DenyAccessInScope),
        ),
        (
            "nested groups count",
            vec![policy(1, app(), group(G_OUTER), Restrict)],
            "ceo@contoso.test",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "nested deny",
            vec![policy(1, app(), group(G_OUTER), Deny)],
            "ceo@contoso.test",
            (Denied, Rule::DenyAccessInScope),
        ),
        (
            "cycles end",
            vec![policy(1, app(), group(G_OUTER), Restrict)],
            "notify@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "a single-mailbox scope",
            vec![policy(1, app(), PolicyScope::Mailbox("ceo@contoso.test".into()), Restrict)],
            "ceo@contoso.test",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "an object id resolves through the directory",
            vec![policy(1, app(), group(G_NOTIFY), Restrict)],
            "00000000-0000-0000-0000-000000000abc",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "5: only deny policies, mailbox outside them",
            vec![policy(1, app(), group(G_EXEC), Deny), policy(2, app(), group(G_NOTIFY), Deny)],
            "payroll@contoso.test",
            (Granted, Rule::NoPolicy),
        ),
        (
            "5, for a name the directory does not know: it may be an alias of a mailbox in a DenyAccess scope",
            vec![policy(1, app(), group(G_EXEC), Deny), policy(2, app(), group(G_NOTIFY), Deny)],
            "third@contoso.test",
            (Denied, Rule::UnknownMailbox),
        ),
    ];
    for (name, policies, mailbox, expected) in cases {
        // An app no policy of its own names is refused before Exchange's rules (`unscoped_app`); marked
        // unrestricted, it is decided by them, which is what this table is about.
        let own = policies.iter().any(|p| p.apps == app());
        let world = World::new().policies(policies);
        let world = if own { world } else { world.unrestricted() };
        assert_eq!(world.decide(mailbox), expected, "{name}");
    }
}

#[test]
fn rbac_rules_and_their_combination_with_access_policies() {
    let restrict_notify = || vec![policy(1, app(), group(G_NOTIFY), Restrict)];
    let cases: Vec<(&str, World, &str, (Access, Rule))> = vec![
        (
            "no Entra grant, no RBAC, no policy: nothing scopes it",
            World::new().without_entra_grant(),
            "notify@contoso.test",
            (Denied, Rule::UnscopedApp),
        ),
        (
            "no Entra grant, no RBAC, unrestricted: unrestricted gives the grant",
            World::new().without_entra_grant().unrestricted(),
            "notify@contoso.test",
            (Granted, Rule::NoPolicy),
        ),
        (
            "no Entra grant: a Restrict policy cannot grant",
            World::new().without_entra_grant().policies(restrict_notify()),
            "notify@contoso.test",
            (Denied, Rule::NoGrant),
        ),
        (
            "RBAC Mail.Send in a filter scope grants",
            World::new().without_entra_grant().rbac("Application Mail.Send", Some(SCOPE_MAILGATE)),
            "notify@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "RBAC scope filter does not match: denied",
            World::new().without_entra_grant().rbac("Application Mail.Send", Some(SCOPE_MAILGATE)),
            "ceo@contoso.test",
            (Denied, Rule::NoGrant),
        ),
        (
            "RBAC org-wide Mail.Send grants everything",
            World::new().without_entra_grant().rbac("Application Mail.Send", None),
            "anyone@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "Mail Full Access sends",
            World::new().without_entra_grant().rbac("Application Mail Full Access", Some(SCOPE_MAILGATE)),
            "notify@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "Exchange Full Access sends",
            World::new().without_entra_grant().rbac("Application Exchange Full Access", None),
            "ceo@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "Mail.Read does not send, nor scope sending",
            World::new().without_entra_grant().rbac("Application Mail.Read", None),
            "ceo@contoso.test",
            (Denied, Rule::UnscopedApp),
        ),
        (
            "Mail.Read does not send beside a scoping policy",
            World::new().without_entra_grant().policies(restrict_notify()).rbac("Application Mail.Read", None),
            "ceo@contoso.test",
            (Denied, Rule::NoGrant),
        ),
        (
            "MemberOfGroup filters see nested groups",
            World::new().without_entra_grant().rbac("Application Mail.Send", Some(SCOPE_FINANCE_GROUP)),
            "ceo@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "RBAC grant adds to a DenyAccess policy: access policies constrain only the Entra grant",
            World::new()
                .policies(vec![policy(1, app(), group(G_EXEC), Deny)])
                .rbac("Application Mail.Send", Some(SCOPE_FINANCE_GROUP)),
            "ceo@contoso.test",
            (Granted, Rule::RbacAssignment),
        ),
        (
            "RBAC outside scope: the Entra grant and its policies decide (granted)",
            World::new().policies(restrict_notify()).rbac("Application Mail.Send", Some(SCOPE_FINANCE_GROUP)),
            "notify@contoso.test",
            (Granted, Rule::RestrictAccessInScope),
        ),
        (
            "RBAC outside scope: the Entra grant and its policies decide (denied)",
            World::new().policies(restrict_notify()).rbac("Application Mail.Send", Some(SCOPE_MAILGATE)),
            "payroll@contoso.test",
            (Denied, Rule::RestrictAccessNotInScope),
        ),
        (
            "Entra grant without policies still grants beside a narrow RBAC scope",
            World::new().rbac("Application Mail.Send", Some(SCOPE_MAILGATE)),
            "payroll@contoso.test",
            (Granted, Rule::NoPolicy),
        ),
    ];
    for (name, world, mailbox, expected) in cases {
        assert_eq!(world.decide(mailbox), expected, "{name}");
    }
}

#[test]
fn a_cooldown_denies_before_anything_else_and_expires() {
    let mut w = World::new().rbac("Application Mail.Send", None);
    let now = OffsetDateTime::now_utc();
    w.snapshot.cooldowns.insert((APP, "ceo@contoso.test".into()), (now + time::Duration::minutes(5), "drift".into()));
    assert_eq!(w.decide("ceo@contoso.test"), (Denied, Rule::DriftCooldown));
    let later = decide_at(&w.snapshot, APP, "app", "ceo@contoso.test", now + time::Duration::minutes(6));
    assert_eq!((later.access, later.rule), (Granted, Rule::RbacAssignment));
}

#[test]
fn every_thing_considered_is_explained() {
    let w = World::new()
        .policies(vec![policy(1, app(), group(G_NOTIFY), Restrict), policy(2, app(), group(G_EXEC), Deny)])
        .rbac("Application Mail.Read", None)
        .rbac("Application Mail.Send", Some(SCOPE_MAILGATE));
    let d = decide_at(&w.snapshot, APP, "app", "ceo@contoso.test", OffsetDateTime::now_utc());
    assert_eq!(d.access, Denied);
    let kinds: Vec<String> = d.considered.iter().map(|c| format!("{:?}:{}", c.kind, c.matched)).collect();
    assert_eq!(
        kinds,
        [
            "RoleAssignment:false",
            "RoleAssignment:false",
            "AppScope:true",
            "EntraGrant:true",
            "AccessPolicy:false",
            "AccessPolicy:true"
        ]
    );
    assert!(d.considered[0].why.contains("does not allow sending"), "{:?}", d.considered[0]);
    assert!(d.considered[1].why.contains("outside scope mailgate-scope"), "{:?}", d.considered[1]);
    assert!(d.reason.contains("DenyAccess"), "{}", d.reason);
}

#[test]
fn unknown_names_and_aliases() {
    let mut w = World::new().policies(vec![policy(1, app(), group(G_EXEC), Deny)]);
    // A proxy address, in another case, or the object id: the same mailbox, the same denial.
    w.snapshot.directory = {
        let mut d = directory();
        let mut recipients = d.recipients().to_vec();
        recipients[1].email_addresses.push("smtp:Jane.Doe@Contoso.test".into());
        d = Directory::new(d.groups().clone(), recipients);
        d
    };
    assert_eq!(w.decide("JANE.DOE@contoso.test"), (Denied, Rule::DenyAccessInScope));
    let d = decide_at(&w.snapshot, APP, "app", "jane.doe@contoso.test", OffsetDateTime::now_utc());
    assert_eq!(d.mailbox, "ceo@contoso.test");
    assert_eq!(w.decide("00000000-0000-0000-0000-000000000ABC"), (Granted, Rule::NoPolicy));
    // An unknown name is never granted for being outside a DenyAccess scope: it may be an alias of a mailbox inside.
    assert_eq!(w.decide("third@contoso.test"), (Denied, Rule::UnknownMailbox));
    w.snapshot.directory = Directory::new(directory().groups().clone(), Vec::new());
    assert_eq!(w.decide("ceo-alias@contoso.test"), (Denied, Rule::UnknownMailbox), "no directory: no aliases known");
    assert_eq!(w.decide("ceo@contoso.test"), (Denied, Rule::DenyAccessInScope));

    // Without a DenyAccess policy an unknown name is decided as given while allowed, or while the directory is
    // empty (the seed article's setup: a RestrictAccess group and its members).
    let mut w = World::new().policies(vec![policy(1, app(), group(G_NOTIFY), Restrict)]);
    assert_eq!(w.decide("third@contoso.test"), (Denied, Rule::RestrictAccessNotInScope));
    w.snapshot.allow_unknown_mailboxes = false;
    assert_eq!(w.decide("third@contoso.test"), (Denied, Rule::UnknownMailbox));
    assert_eq!(w.decide("notify@contoso.test"), (Granted, Rule::RestrictAccessInScope));
    w.snapshot.directory = Directory::new(directory().groups().clone(), Vec::new());
    assert_eq!(w.decide("notify@contoso.test"), (Granted, Rule::RestrictAccessInScope));
    assert_eq!(w.decide("third@contoso.test"), (Denied, Rule::RestrictAccessNotInScope));
    let w = World::new().policies(vec![]).unrestricted();
    assert_eq!(w.decide("third@contoso.test"), (Granted, Rule::NoPolicy), "no policy: the tenant-wide grant");
}

#[test]
fn a_rules_name_in_spans_is_its_name_in_the_api() {
    use super::Rule;
    for rule in [
        Rule::RbacAssignment,
        Rule::DenyAccessInScope,
        Rule::RestrictAccessInScope,
        Rule::RestrictAccessNotInScope,
        Rule::NoPolicy,
        Rule::NoGrant,
        Rule::UnscopedApp,
        Rule::DriftCooldown,
        Rule::UnknownMailbox,
    ] {
        assert_eq!(serde_json::to_value(rule).expect("json"), rule.as_str());
    }
}
