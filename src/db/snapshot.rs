//! Reads the whole mirror as one decision snapshot. A handful of queries over small tables
//! (Exchange allows a few hundred policies); run only when the mirror changes.

use std::collections::HashMap;

use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::policy::model::{AppGrants, Group, ManagementScope, RecipientEntry, RoleAssignment, ServicePrincipal};
use crate::policy::opath::Filter;
use crate::policy::{AppSelector, Directory, Policy, PolicyScope, Snapshot};

#[derive(FromRow)]
struct PolicyRow {
    id: Uuid,
    all_apps: bool,
    scope_group_id: Option<Uuid>,
    scope_mailbox: Option<String>,
    access_right: String,
    description: String,
    app_ids: Vec<Uuid>,
}

#[derive(FromRow)]
struct GroupRow {
    id: Uuid,
    address: String,
    display_name: String,
    object_id: Option<Uuid>,
}

fn decode(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> sqlx::Error {
    sqlx::Error::Decode(e.into())
}

#[tracing::instrument(skip(pool))]
pub async fn load(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    // One consistent view: an import committing between two of these reads must not yield policies from after it
    // over groups from before it.
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let rows = sqlx::query_as!(
        PolicyRow,
        r#"SELECT p.id, p.all_apps, p.scope_group_id, p.scope_mailbox, p.access_right, p.description,
                  COALESCE(array_agg(pa.app_id) FILTER (WHERE pa.app_id IS NOT NULL), '{}') AS "app_ids!"
             FROM access_policies p LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
            GROUP BY p.id ORDER BY p.created_at, p.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut policies = Vec::with_capacity(rows.len());
    for r in rows {
        let scope = match (r.scope_group_id, r.scope_mailbox) {
            (Some(g), _) => PolicyScope::Group(g),
            (None, Some(m)) => PolicyScope::Mailbox(m),
            (None, None) => return Err(decode("access policy without a scope")),
        };
        policies.push(Policy {
            id: r.id,
            apps: if r.all_apps { AppSelector::All } else { AppSelector::Apps(r.app_ids) },
            scope,
            access_right: r.access_right.parse().map_err(decode)?,
            description: r.description,
        });
    }

    let mut groups: HashMap<Uuid, Group> =
        sqlx::query_as!(GroupRow, "SELECT id, address, display_name, object_id FROM groups")
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|g| {
                (
                    g.id,
                    Group {
                        address: g.address,
                        display_name: g.display_name,
                        object_id: g.object_id,
                        ..Group::default()
                    },
                )
            })
            .collect();
    let members =
        sqlx::query!("SELECT group_id, mailbox, member_group_id FROM group_members").fetch_all(&mut *tx).await?;
    for member in members {
        let Some(group) = groups.get_mut(&member.group_id) else { continue };
        match (member.mailbox, member.member_group_id) {
            (Some(m), _) => {
                group.mailboxes.insert(m);
            }
            (None, Some(c)) => group.subgroups.push(c),
            (None, None) => {}
        }
    }
    let recipients = super::directory::list(&mut *tx)
        .await?
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

    let apps = sqlx::query!(
        r#"SELECT id, entra_app_id, entra_object_id IS NOT NULL AS "has_object_id!", entra_mail_send, unrestricted
             FROM apps"#
    )
    .fetch_all(&mut *tx)
    .await?
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
    let service_principals =
        sqlx::query_as!(ServicePrincipal, "SELECT id, app_id, object_id, display_name FROM service_principals")
            .fetch_all(&mut *tx)
            .await?;
    let mut scopes = HashMap::new();
    for scope in sqlx::query!("SELECT id, name, recipient_filter FROM management_scopes").fetch_all(&mut *tx).await? {
        let (id, name) = (scope.id, scope.name);
        // Filters are checked when stored; one that no longer parses matches nothing rather than everything.
        match Filter::parse(&scope.recipient_filter) {
            Ok(filter) => {
                scopes.insert(id, ManagementScope { id, name, filter });
            }
            Err(e) => tracing::error!(scope = %name, error = %e, "stored recipient filter does not parse"),
        }
    }
    let assignments = sqlx::query_as!(
        RoleAssignment,
        r#"SELECT id, name, service_principal_id AS service_principal, role, scope_id AS scope
             FROM role_assignments ORDER BY name"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let cooldowns = sqlx::query!("SELECT app_id, mailbox, until, reason FROM access_cooldowns WHERE until > now()")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|c| ((c.app_id, c.mailbox), (c.until, c.reason)))
        .collect();

    Ok(Snapshot {
        policies,
        directory: Directory::new(groups, recipients),
        apps,
        service_principals,
        scopes,
        assignments,
        cooldowns,
        allow_unknown_mailboxes: false,
    })
}
