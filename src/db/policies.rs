//! Application access policies.

use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::policy::{AccessRight, AppSelector, PolicyScope};

/// A policy as shown to people: names, not ids.
#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub id: Uuid,
    /// App names; empty with `all_apps`.
    pub apps: Vec<String>,
    pub all_apps: bool,
    /// The scope: a group's address or a mailbox's.
    pub scope: String,
    /// `group` or `mailbox`.
    pub scope_kind: String,
    pub access_right: String,
    pub description: String,
}

pub struct NewPolicy<'a> {
    pub apps: &'a AppSelector,
    pub scope: &'a PolicyScope,
    pub access_right: AccessRight,
    pub description: &'a str,
}

#[tracing::instrument(skip(tx, p))]
pub async fn create(tx: &mut Transaction<'_, Postgres>, p: NewPolicy<'_>) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    let (group, mailbox) = match p.scope {
        PolicyScope::Group(g) => (Some(*g), None),
        PolicyScope::Mailbox(m) => (None, Some(m.as_str())),
    };
    sqlx::query!(
        "INSERT INTO access_policies (id, all_apps, scope_group_id, scope_mailbox, access_right, description)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        matches!(p.apps, AppSelector::All),
        group,
        mailbox,
        p.access_right.as_str(),
        p.description
    )
    .execute(&mut **tx)
    .await?;
    if let AppSelector::Apps(apps) = p.apps {
        sqlx::query!("INSERT INTO access_policy_apps (policy_id, app_id) SELECT $1, unnest($2::uuid[])", id, apps)
            .execute(&mut **tx)
            .await?;
    }
    Ok(id)
}

/// Set-ApplicationAccessPolicy changes only the description.
pub async fn set_description(db: impl PgExecutor<'_>, id: Uuid, description: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("UPDATE access_policies SET description = $2 WHERE id = $1", id, description)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

#[tracing::instrument(skip(db))]
pub async fn remove(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM access_policies WHERE id = $1", id).execute(db).await.map(|r| r.rows_affected() == 1)
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<PolicyView>, sqlx::Error> {
    sqlx::query_as!(
        PolicyView,
        r#"SELECT p.id, p.all_apps, COALESCE(g.address, p.scope_mailbox) AS "scope!",
            CASE WHEN p.scope_group_id IS NULL THEN 'mailbox' ELSE 'group' END AS "scope_kind!",
            p.access_right, p.description,
            COALESCE(array_agg(a.name ORDER BY a.name) FILTER (WHERE a.name IS NOT NULL), '{}') AS "apps!"
       FROM access_policies p
       LEFT JOIN groups g ON g.id = p.scope_group_id
       LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
       LEFT JOIN apps a ON a.id = pa.app_id GROUP BY p.id, g.address ORDER BY p.created_at, p.id"#
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<PolicyView>, sqlx::Error> {
    sqlx::query_as!(
        PolicyView,
        r#"SELECT p.id, p.all_apps, COALESCE(g.address, p.scope_mailbox) AS "scope!",
            CASE WHEN p.scope_group_id IS NULL THEN 'mailbox' ELSE 'group' END AS "scope_kind!",
            p.access_right, p.description,
            COALESCE(array_agg(a.name ORDER BY a.name) FILTER (WHERE a.name IS NOT NULL), '{}') AS "apps!"
       FROM access_policies p
       LEFT JOIN groups g ON g.id = p.scope_group_id
       LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
       LEFT JOIN apps a ON a.id = pa.app_id WHERE p.id = $1 GROUP BY p.id, g.address"#,
        id
    )
    .fetch_optional(db)
    .await
}

/// As `create`, naming the scope's group by its address and the apps by their Entra app ids (the import's write;
/// an id no app has is left out, as the import's diff has already reported it).
#[tracing::instrument(skip_all, fields(?group, ?mailbox))]
pub async fn create_by_names(
    tx: &mut PgConnection,
    all_apps: bool,
    entra_app_ids: Option<&[Uuid]>,
    group: Option<&str>,
    mailbox: Option<&str>,
    access_right: &str,
    description: &str,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO access_policies (id, all_apps, scope_group_id, scope_mailbox, access_right, description)
         VALUES ($1, $2, (SELECT id FROM groups WHERE address = $3), $4, $5, $6)",
        id,
        all_apps,
        group,
        mailbox,
        access_right,
        description
    )
    .execute(&mut *tx)
    .await?;
    if let Some(ids) = entra_app_ids {
        sqlx::query!(
            "INSERT INTO access_policy_apps (policy_id, app_id) SELECT $1, id FROM apps WHERE entra_app_id = ANY($2)",
            id,
            ids
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(id)
}

/// How many policies there are: Exchange caps their number.
#[tracing::instrument(skip_all)]
pub async fn count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM access_policies"#).fetch_one(db).await
}
