//! The sending apps an import leaves unscoped: no access policy and no sending role assignment of their own names
//! them once the import is made (apps without the Mail.Send role send nothing and need no scope). mailgate refuses them (`unscoped_app`) until they are scoped or marked unrestricted; those that
//! hold the tenant-wide Entra grant are the ones Exchange itself lets send as every mailbox.

use std::collections::BTreeSet;

use serde::Serialize;
use uuid::Uuid;

use super::current::AppRow;
use super::diff::{ImportedApp, Plan};
use super::state::{AppSet, Desired, PolicyApp};
use crate::policy::model::SENDING_ROLES;

/// An app nothing of its own will scope after the import.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct UnscopedApp {
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    /// Holds the tenant-wide Entra Mail.Send grant once imported: Exchange lets it send as every mailbox.
    pub entra_mail_send: bool,
    /// Marked unrestricted by an admin: mailgate lets it send as every mailbox no policy denies. Otherwise mailgate
    /// refuses it every mailbox.
    pub unrestricted: bool,
}

pub fn unscoped(desired: &Desired, apps: &[AppRow], plan: &Plan<String, ImportedApp>) -> Vec<UnscopedApp> {
    let mirror = &desired.mirror;
    let mut scoped: BTreeSet<Uuid> = mirror
        .policies
        .keys()
        .filter_map(|k| match &k.apps {
            AppSet::Apps(apps) => Some(apps),
            AppSet::All => None,
        })
        .flatten()
        .filter_map(|a| match a {
            PolicyApp::Entra(id) => Some(*id),
            PolicyApp::Local(_) => None,
        })
        .collect();
    scoped.extend(
        mirror.assignments.values().filter(|a| SENDING_ROLES.contains(&a.role.as_str())).map(|a| a.service_principal),
    );
    let grant_after = |app: &AppRow| {
        plan.changed
            .iter()
            .find(|(name, _, _)| *name == app.name)
            .map_or(app.entra_mail_send, |(_, _, a)| a.entra_mail_send)
    };
    let existing = apps.iter().filter(|a| a.roles.iter().any(|r| r == "Mail.Send")).map(|a| UnscopedApp {
        name: a.name.clone(),
        entra_app_id: a.entra_app_id,
        entra_mail_send: grant_after(a),
        unrestricted: a.unrestricted,
    });
    let added = plan.added.iter().map(|(name, a)| UnscopedApp {
        name: name.clone(),
        entra_app_id: Some(a.entra_app_id),
        entra_mail_send: a.entra_mail_send,
        unrestricted: false,
    });
    let mut out: Vec<UnscopedApp> =
        existing.chain(added).filter(|a| a.entra_app_id.is_none_or(|id| !scoped.contains(&id))).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
