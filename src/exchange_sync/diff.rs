//! What an import would change: per object kind, added, changed (fields before → after) and removed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use uuid::Uuid;

use super::current::{AppRow, Current};
use super::state::*;
use super::unscoped::{UnscopedApp, unscoped};
use crate::admin::apps::valid_name;

/// One kind's changes, typed, as `apply` executes them.
#[derive(Debug)]
pub struct Plan<K, V> {
    pub added: Vec<(K, V)>,
    /// Key, before, after.
    pub changed: Vec<(K, V, V)>,
    pub removed: Vec<(K, V)>,
}

fn plan<K: Ord + Clone, V: PartialEq + Clone>(desired: &BTreeMap<K, V>, current: &BTreeMap<K, V>) -> Plan<K, V> {
    let mut p = Plan { added: Vec::new(), changed: Vec::new(), removed: Vec::new() };
    for (k, v) in desired {
        match current.get(k) {
            None => p.added.push((k.clone(), v.clone())),
            Some(old) if old != v => p.changed.push((k.clone(), old.clone(), v.clone())),
            Some(_) => {}
        }
    }
    p.removed = current.iter().filter(|(k, _)| !desired.contains_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    p
}

/// A mailgate app as the import sees it: created for an Entra app id a policy names, or its Entra grant updated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportedApp {
    pub name: String,
    pub entra_app_id: Uuid,
    pub entra_mail_send: bool,
}

#[derive(Debug)]
pub struct Diff {
    pub apps: Plan<String, ImportedApp>,
    pub recipients: Plan<String, RecipientState>,
    pub groups: Plan<String, GroupState>,
    pub members: Plan<MemberKey, Present>,
    pub policies: Plan<PolicyKey, PolicyState>,
    pub service_principals: Plan<Uuid, ServicePrincipalState>,
    pub scopes: Plan<String, ScopeState>,
    pub assignments: Plan<String, AssignmentState>,
    /// The rows behind the current policies, for updates and removals.
    pub policy_ids: BTreeMap<PolicyKey, Uuid>,
    /// Apps nothing of their own scopes once the import is made.
    pub unscoped: Vec<UnscopedApp>,
}

pub fn diff(desired: &Desired, current: &Current) -> Diff {
    let (d, c) = (&desired.mirror, &current.mirror);
    let mut policies = plan(&d.policies, &c.policies);
    let mut policy_ids = current.policy_ids.clone();
    // Repeats of one key cannot be told apart by an import: all but one go.
    for (key, id, description) in &current.duplicate_policies {
        policies.removed.push((key.clone(), PolicyState { description: description.clone() }));
        policy_ids.insert(key.clone(), *id);
    }
    let apps = plan_apps(desired, &current.apps);
    Diff {
        unscoped: unscoped(desired, &current.apps, &apps),
        apps,
        recipients: plan(&d.recipients, &c.recipients),
        groups: plan(&d.groups, &c.groups),
        members: plan(&d.members, &c.members),
        policies,
        service_principals: plan(&d.service_principals, &c.service_principals),
        scopes: plan(&d.scopes, &c.scopes),
        assignments: plan(&d.assignments, &c.assignments),
        policy_ids,
    }
}

/// Apps are never removed by an import; they are created for unknown app ids, and follow `EntraMailSendGrants`.
/// Without it nothing is known of Entra's grants: existing apps keep theirs, and new ones hold none.
fn plan_apps(desired: &Desired, apps: &[AppRow]) -> Plan<String, ImportedApp> {
    let mut p = Plan { added: Vec::new(), changed: Vec::new(), removed: Vec::new() };
    let grant = |id: Uuid, otherwise: bool| desired.mail_send_grants.as_ref().map_or(otherwise, |g| g.contains(&id));
    for app in apps {
        let Some(entra_app_id) = app.entra_app_id else { continue };
        let before = ImportedApp { name: app.name.clone(), entra_app_id, entra_mail_send: app.entra_mail_send };
        let after = ImportedApp { entra_mail_send: grant(entra_app_id, app.entra_mail_send), ..before.clone() };
        if before != after {
            p.changed.push((app.name.clone(), before, after));
        }
    }
    let known: BTreeSet<Uuid> = apps.iter().filter_map(|a| a.entra_app_id).collect();
    let mut taken: BTreeSet<String> = apps.iter().map(|a| a.name.clone()).collect();
    for id in desired.policy_app_ids.iter().filter(|id| !known.contains(id)) {
        let name = unique_name(&app_name(*id, desired.app_names.get(id)), &taken);
        taken.insert(name.clone());
        p.added.push((name.clone(), ImportedApp { name, entra_app_id: *id, entra_mail_send: grant(*id, false) }));
    }
    p
}

/// The service principal's display name as an app name, else `app-<first 8 hex of the id>`.
pub fn app_name(id: Uuid, display_name: Option<&String>) -> String {
    let mut slug = String::new();
    for c in display_name.map(|s| s.to_lowercase()).unwrap_or_default().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(63).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    if valid_name(&slug) { slug } else { format!("app-{}", &id.simple().to_string()[..8]) }
}

fn unique_name(base: &str, taken: &BTreeSet<String>) -> String {
    (1..)
        .map(|n| if n == 1 { base.to_owned() } else { format!("{}-{n}", &base[..base.len().min(58)]) })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_follow_the_apps_rule() {
        let id = Uuid::parse_str("15ca046b-ee0f-426e-858e-949b5f826596").expect("test value");
        assert_eq!(app_name(id, Some(&"Logic App: Notifications!".to_owned())), "logic-app-notifications");
        assert_eq!(app_name(id, Some(&"--__".to_owned())), "app-15ca046b");
        assert_eq!(app_name(id, None), "app-15ca046b");
        assert!(valid_name(&app_name(id, Some(&"x".repeat(200)))));
        let taken = BTreeSet::from(["logic-app".to_owned(), "logic-app-2".to_owned()]);
        assert_eq!(unique_name("logic-app", &taken), "logic-app-3");
    }
}
