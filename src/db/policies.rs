//! Application access policies, and loading the whole mirror as one snapshot.

use std::collections::HashMap;

use sqlx::{FromRow, PgExecutor, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::groups;
use crate::policy::model::Group;
use crate::policy::{AccessRight, AppSelector, Directory, Policy, Snapshot};

#[derive(Debug, FromRow)]
struct PolicyRow {
    id: Uuid,
    all_apps: bool,
    scope_group_id: Uuid,
    access_right: String,
    description: String,
    app_ids: Vec<Uuid>,
}

/// A policy as shown to people: names, not ids.
#[derive(Debug, FromRow, serde::Serialize)]
pub struct PolicyView {
    pub id: Uuid,
    pub apps: Vec<String>,
    pub all_apps: bool,
    pub scope_group: String,
    pub access_right: String,
    pub description: String,
}

pub struct NewPolicy<'a> {
    pub apps: &'a AppSelector,
    pub scope_group_id: Uuid,
    pub access_right: AccessRight,
    pub description: &'a str,
}

#[tracing::instrument(skip(tx, p))]
pub async fn create(tx: &mut Transaction<'_, Postgres>, p: NewPolicy<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query("INSERT INTO access_policies (id, all_apps, scope_group_id, access_right, description) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(matches!(p.apps, AppSelector::All))
        .bind(p.scope_group_id)
        .bind(p.access_right.as_str())
        .bind(p.description)
        .execute(&mut **tx)
        .await?;
    if let AppSelector::Apps(apps) = p.apps {
        sqlx::query("INSERT INTO access_policy_apps (policy_id, app_id) SELECT $1, unnest($2::uuid[])")
            .bind(id)
            .bind(apps)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

#[tracing::instrument(skip(db))]
pub async fn remove(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM access_policies WHERE id = $1").bind(id).execute(db).await.map(|r| r.rows_affected() == 1)
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<PolicyView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.id, p.all_apps, g.address AS scope_group, p.access_right, p.description,
                COALESCE(array_agg(a.name ORDER BY a.name) FILTER (WHERE a.name IS NOT NULL), '{}') AS apps
           FROM access_policies p
           JOIN groups g ON g.id = p.scope_group_id
           LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
           LEFT JOIN apps a ON a.id = pa.app_id
          GROUP BY p.id, g.address
          ORDER BY p.created_at",
    )
    .fetch_all(db)
    .await
}

/// Reads the whole mirror. Three queries; the tables are small (Exchange allows a few hundred policies).
#[tracing::instrument(skip(pool))]
pub async fn load_snapshot(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    let rows: Vec<PolicyRow> = sqlx::query_as(
        "SELECT p.id, p.all_apps, p.scope_group_id, p.access_right, p.description,
                COALESCE(array_agg(pa.app_id) FILTER (WHERE pa.app_id IS NOT NULL), '{}') AS app_ids
           FROM access_policies p LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
          GROUP BY p.id ORDER BY p.created_at, p.id",
    )
    .fetch_all(pool)
    .await?;
    let mut policies = Vec::with_capacity(rows.len());
    for r in rows {
        let access_right = r.access_right.parse().map_err(|e: String| sqlx::Error::Decode(e.into()))?;
        policies.push(Policy {
            id: r.id,
            apps: if r.all_apps { AppSelector::All } else { AppSelector::Apps(r.app_ids) },
            scope_group: r.scope_group_id,
            access_right,
            description: r.description,
        });
    }
    let mut by_id: HashMap<Uuid, Group> = groups::list(pool)
        .await?
        .into_iter()
        .map(|g| (g.id, Group { address: g.address, ..Group::default() }))
        .collect();
    for m in groups::members(pool).await? {
        let Some(group) = by_id.get_mut(&m.group_id) else {
            continue;
        };
        match (m.mailbox, m.member_group_id) {
            (Some(mailbox), _) => {
                group.mailboxes.insert(mailbox);
            }
            (None, Some(child)) => group.subgroups.push(child),
            (None, None) => {}
        }
    }
    Ok(Snapshot { policies, directory: Directory { groups: by_id } })
}
