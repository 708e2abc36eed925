//! The diff as people and the API see it: per kind, keys added, fields changed (before → after), keys removed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Display, Write as _};

use serde::Serialize;
use serde_json::Value;

use super::diff::{Diff, Plan};
use super::unscoped::UnscopedApp;

/// The diff as shown to people and returned by the API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Whether the changes were made (false: a dry run).
    pub applied: bool,
    /// How many objects are added, changed or removed in all.
    pub changes: usize,
    pub apps: KindReport,
    pub recipients: KindReport,
    pub groups: KindReport,
    pub group_members: KindReport,
    pub access_policies: KindReport,
    pub service_principals: KindReport,
    pub management_scopes: KindReport,
    pub role_assignments: KindReport,
    /// Apps that no access policy or role assignment of their own names once the import is made (not changes):
    /// mailgate refuses them every mailbox (`unscoped_app`) until they are scoped or marked unrestricted.
    pub unscoped_apps: Vec<UnscopedApp>,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct KindReport {
    pub added: Vec<Item>,
    pub changed: Vec<Changed>,
    pub removed: Vec<Item>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Item {
    pub key: String,
    #[schema(value_type = Object)]
    pub fields: Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub key: String,
    /// Only the fields that differ.
    pub fields: BTreeMap<String, FieldChange>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// Any JSON value: a field may be a string, a flag, a list or null.
    pub before: Value,
    pub after: Value,
}

impl<K, V> Plan<K, V> {
    /// What is written: the added objects and the new state of the changed ones.
    pub fn upserts(&self) -> impl Iterator<Item = (&K, &V)> {
        self.added.iter().map(|(k, v)| (k, v)).chain(self.changed.iter().map(|(k, _, v)| (k, v)))
    }
}

impl<K: Display, V: Serialize> Plan<K, V> {
    fn report(&self) -> KindReport {
        let item = |(k, v): &(K, V)| Item { key: k.to_string(), fields: serde_json::to_value(v).unwrap_or_default() };
        let changed = |(k, before, after): &(K, V, V)| {
            let (b, a) =
                (serde_json::to_value(before).unwrap_or_default(), serde_json::to_value(after).unwrap_or_default());
            let names: BTreeSet<&String> =
                [&b, &a].iter().filter_map(|v| v.as_object()).flat_map(|o| o.keys()).collect();
            let fields = names
                .into_iter()
                .filter(|n| b.get(n.as_str()) != a.get(n.as_str()))
                .map(|n| {
                    let get = |v: &Value| v.get(n.as_str()).cloned().unwrap_or(Value::Null);
                    (n.clone(), FieldChange { before: get(&b), after: get(&a) })
                })
                .collect();
            Changed { key: k.to_string(), fields }
        };
        KindReport {
            added: self.added.iter().map(item).collect(),
            changed: self.changed.iter().map(changed).collect(),
            removed: self.removed.iter().map(item).collect(),
        }
    }
}

impl KindReport {
    fn len(&self) -> usize {
        self.added.len() + self.changed.len() + self.removed.len()
    }
}

impl Diff {
    pub fn report(&self, applied: bool) -> Report {
        let mut r = Report {
            applied,
            changes: 0,
            apps: self.apps.report(),
            recipients: self.recipients.report(),
            groups: self.groups.report(),
            group_members: self.members.report(),
            access_policies: self.policies.report(),
            service_principals: self.service_principals.report(),
            management_scopes: self.scopes.report(),
            role_assignments: self.assignments.report(),
            unscoped_apps: self.unscoped.iter().map(UnscopedApp::clone).collect(),
        };
        r.changes = r.kinds().iter().map(|(_, k)| k.len()).sum();
        r
    }
}

impl Report {
    pub fn kinds(&self) -> [(&'static str, &KindReport); 8] {
        [
            ("apps", &self.apps),
            ("recipients", &self.recipients),
            ("groups", &self.groups),
            ("group_members", &self.group_members),
            ("access_policies", &self.access_policies),
            ("service_principals", &self.service_principals),
            ("management_scopes", &self.management_scopes),
            ("role_assignments", &self.role_assignments),
        ]
    }
}

impl Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match (self.applied, self.changes) {
            (_, 0) => "no changes: the mirror already matches the bundle".to_owned(),
            (true, n) => format!("applied {n} changes"),
            (false, n) => format!("dry run: {n} changes would be made (nothing was changed; use --apply)"),
        };
        writeln!(f, "{verdict}")?;
        for (name, kind) in self.kinds() {
            if kind.len() == 0 {
                continue;
            }
            writeln!(
                f,
                "{name}: {} added, {} changed, {} removed",
                kind.added.len(),
                kind.changed.len(),
                kind.removed.len()
            )?;
            for i in &kind.added {
                writeln!(f, "  + {}", i.key)?;
            }
            for c in &kind.changed {
                let mut line = String::new();
                for (field, FieldChange { before, after }) in &c.fields {
                    let _ = write!(line, " {field}: {before} → {after};");
                }
                writeln!(f, "  ~ {}:{}", c.key, line.trim_end_matches(';'))?;
            }
            for i in &kind.removed {
                writeln!(f, "  - {}", i.key)?;
            }
        }
        if !self.unscoped_apps.is_empty() {
            writeln!(
                f,
                "unscoped apps: {} (no access policy or role assignment of their own; each sends as no mailbox until \
                 scoped or marked unrestricted)",
                self.unscoped_apps.len()
            )?;
        }
        for a in &self.unscoped_apps {
            let id = a.entra_app_id.map(|id| format!(" (Entra app id {id})")).unwrap_or_default();
            let what = match (a.unrestricted, a.entra_mail_send) {
                (true, _) => "marked unrestricted: mailgate lets it send as every mailbox no policy denies",
                (false, true) => {
                    "holds the tenant-wide Entra Mail.Send grant, so Exchange lets it send as every mailbox; mailgate \
                     refuses it"
                }
                (false, false) => "refused every mailbox",
            };
            writeln!(f, "  ! {}{id}: {what}", a.name)?;
        }
        Ok(())
    }
}
