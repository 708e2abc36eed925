//! The decision snapshot, built from the mirror as `db::snapshot` reads it.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::model::{AppGrants, Group, ManagementScope, Policy, RecipientEntry, Snapshot};
use super::opath::Filter;
use super::{AppSelector, Directory, PolicyScope};
use crate::db;
use crate::db::snapshot::{Mirror, PolicyRow};

fn decode(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

#[tracing::instrument(skip(pool))]
pub async fn load(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    build(db::snapshot::read(pool).await?)
}

fn build(mirror: Mirror) -> Result<Snapshot, sqlx::Error> {
    let policies = mirror.policies.into_iter().map(policy).collect::<Result<Vec<_>, _>>()?;

    let mut groups: HashMap<Uuid, Group> = mirror
        .groups
        .into_iter()
        .map(|g| {
            (
                g.id,
                Group { address: g.address, display_name: g.display_name, object_id: g.object_id, ..Group::default() },
            )
        })
        .collect();
    for member in mirror.members {
        let Some(group) = groups.get_mut(&member.group_id) else { continue };
        match (member.mailbox, member.member_group_id) {
            (Some(m), _) => {
                group.mailboxes.insert(m);
            }
            (None, Some(c)) => group.subgroups.push(c),
            (None, None) => {}
        }
    }
    let recipients = mirror
        .recipients
        .into_iter()
        .map(|r| RecipientEntry {
            address: r.address,
            object_id: r.object_id,
            user_principal_name: r.user_principal_name,
            recipient_type: r.recipient_type,
            recipient_type_details: r.recipient_type_details,
            display_name: r.display_name,
            properties: r.properties.0.into_iter().collect(),
            email_addresses: r.email_addresses,
        })
        .collect();

    let apps = mirror
        .apps
        .into_iter()
        .map(|a| {
            let has_entra_identity = a.entra_app_id.is_some() || a.has_object_id;
            let grants = AppGrants {
                entra_app_id: a.entra_app_id,
                has_entra_identity,
                entra_mail_send: a.entra_mail_send,
                unrestricted: a.unrestricted,
            };
            (a.id, grants)
        })
        .collect();
    let mut scopes = HashMap::new();
    for scope in mirror.scopes {
        let (id, name) = (scope.id, scope.name);
        // Filters are checked when stored; one that no longer parses matches nothing rather than everything.
        match Filter::parse(&scope.recipient_filter) {
            Ok(filter) => {
                scopes.insert(id, ManagementScope { id, name, filter });
            }
            Err(e) => tracing::error!(scope = %name, error = %e, "stored recipient filter does not parse"),
        }
    }
    let cooldowns = mirror.cooldowns.into_iter().map(|c| ((c.app_id, c.mailbox), (c.until, c.reason))).collect();

    Ok(Snapshot {
        policies,
        directory: Directory::new(groups, recipients),
        apps,
        service_principals: mirror.service_principals,
        scopes,
        assignments: mirror.assignments,
        cooldowns,
        allow_unknown_mailboxes: false,
    })
}

fn policy(r: PolicyRow) -> Result<Policy, sqlx::Error> {
    let scope = match (r.scope_group_id, r.scope_mailbox) {
        (Some(g), _) => PolicyScope::Group(g),
        (None, Some(m)) => PolicyScope::Mailbox(m),
        (None, None) => return Err(decode("access policy without a scope")),
    };
    Ok(Policy {
        id: r.id,
        apps: if r.all_apps { AppSelector::All } else { AppSelector::Apps(r.app_ids) },
        scope,
        access_right: r.access_right.parse().map_err(decode)?,
        description: r.description,
    })
}
