//! Application Access Policies, decided exactly as Exchange documents for Test-ApplicationAccessPolicy:
//! 1. DenyAccess wins over RestrictAccess;
//! 2. a DenyAccess policy whose scope holds the mailbox denies;
//! 3. a RestrictAccess policy whose scope holds the mailbox grants;
//! 4. an app with any RestrictAccess policy is denied every mailbox outside them;
//! 5. otherwise the app's tenant-wide grant applies: granted.

use uuid::Uuid;

use super::decide::{Access, Consideration, Rule};
use super::directory::{Identity, name_key};
use super::model::{AccessRight, Policy, PolicyScope, Snapshot};

pub struct Verdict {
    pub access: Access,
    pub rule: Rule,
    pub policy: Option<Uuid>,
    pub scope: Option<String>,
    pub reason: String,
    pub considered: Vec<Consideration>,
}

fn scope_name(snapshot: &Snapshot, p: &Policy) -> String {
    match &p.scope {
        PolicyScope::Group(g) => snapshot.directory.address(*g).to_owned(),
        PolicyScope::Mailbox(m) => m.clone(),
    }
}

fn in_scope(p: &Policy, who: &Identity) -> bool {
    match &p.scope {
        PolicyScope::Group(g) => who.groups.contains(g),
        PolicyScope::Mailbox(m) => who.names.contains(&name_key(m)),
    }
}

pub fn evaluate(snapshot: &Snapshot, app: Uuid, app_name: &str, who: &Identity) -> Verdict {
    let mailbox = &who.canonical;
    let applicable: Vec<(&Policy, bool)> =
        snapshot.policies.iter().filter(|p| p.apps.includes(app)).map(|p| (p, in_scope(p, who))).collect();
    let considered =
        applicable.iter().map(|(p, inside)| Consideration::policy(p, &scope_name(snapshot, p), *inside)).collect();
    let verdict = |access, rule, policy: Option<&Policy>, reason| Verdict {
        access,
        rule,
        policy: policy.map(|p| p.id),
        scope: policy.map(|p| scope_name(snapshot, p)),
        reason,
        considered,
    };
    let find = |right: AccessRight, inside: bool| {
        applicable.iter().find(|(p, i)| p.access_right == right && *i == inside).map(|(p, _)| *p)
    };

    if let Some(p) = find(AccessRight::DenyAccess, true) {
        let reason = format!(
            "DenyAccess policy {} denies app {app_name} every mailbox in {}, and {mailbox} is in it",
            p.id,
            scope_name(snapshot, p)
        );
        return verdict(Access::Denied, Rule::DenyAccessInScope, Some(p), reason);
    }
    if let Some(p) = find(AccessRight::RestrictAccess, true) {
        let reason = format!(
            "RestrictAccess policy {} allows app {app_name} the mailboxes in {}, and {mailbox} is in it",
            p.id,
            scope_name(snapshot, p)
        );
        return verdict(Access::Granted, Rule::RestrictAccessInScope, Some(p), reason);
    }
    let restricting: Vec<&Policy> =
        applicable.iter().filter(|(p, _)| p.access_right == AccessRight::RestrictAccess).map(|(p, _)| *p).collect();
    if let Some(first) = restricting.first() {
        let scopes: Vec<String> = restricting.iter().map(|p| scope_name(snapshot, p)).collect();
        let reason = format!(
            "app {app_name} is restricted by RestrictAccess to the mailboxes in {}, and {mailbox} is in none of them",
            scopes.join(", ")
        );
        return verdict(Access::Denied, Rule::RestrictAccessNotInScope, Some(first), reason);
    }
    let reason = if applicable.is_empty() {
        format!("no access policy applies to app {app_name}, so its tenant-wide Mail.Send grant applies")
    } else {
        format!("app {app_name} has only DenyAccess policies and {mailbox} is in none of their scopes")
    };
    verdict(Access::Granted, Rule::NoPolicy, None, reason)
}
