//! The Exchange import's reads: the mirror as Postgres holds it, table by table, and the lock and actor an import
//! runs under. Its writes go through each table's own module, so every table has one writer.

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// The advisory lock key that serializes imports: two at once would each diff against a state the other is changing.
/// Imports alone take it; delivery takes no advisory lock, so an import (even a dry run) never holds up sends.
pub const IMPORT_LOCK: i64 = 0x6d67_2d69_6d70_6f72; // "mg-impor"

#[derive(Clone, Debug, FromRow)]
pub struct AppRow {
    pub id: Uuid,
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    pub entra_mail_send: bool,
    pub unrestricted: bool,
    pub roles: Vec<String>,
}

/// A policy with its scope's address and its apps' Entra ids and names, in the same (name) order.
#[derive(FromRow)]
pub struct PolicyRow {
    pub id: Uuid,
    pub all_apps: bool,
    pub scope_group: Option<String>,
    pub scope_mailbox: Option<String>,
    pub access_right: String,
    pub description: String,
    pub entra_ids: Vec<Option<Uuid>>,
    pub names: Vec<Option<String>>,
}

#[derive(FromRow)]
pub struct GroupRow {
    pub address: String,
    pub object_id: Option<Uuid>,
    pub display_name: String,
    pub recipient_type_details: String,
}

/// A member of the group at `group_address`: a mailbox, or the group at `child`.
#[derive(FromRow)]
pub struct MemberRow {
    pub group_address: String,
    pub mailbox: Option<String>,
    pub child: Option<String>,
}

#[derive(FromRow)]
pub struct AssignmentRow {
    pub name: String,
    /// The service principal's app id.
    pub app_id: Uuid,
    pub role: String,
    /// The management scope's name; None is organisation-wide.
    pub scope: Option<String>,
}

/// Names `actor` as the author of the transaction's changes, then waits for any other import to end.
#[tracing::instrument(skip_all)]
pub async fn begin_import(tx: &mut PgConnection, actor: &str) -> Result<(), sqlx::Error> {
    super::changes::set_actor(&mut *tx, actor).await?;
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", IMPORT_LOCK).execute(&mut *tx).await?;
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn apps(db: &mut PgConnection) -> Result<Vec<AppRow>, sqlx::Error> {
    sqlx::query_as!(
        AppRow,
        "SELECT id, name, entra_app_id, entra_mail_send, unrestricted, roles FROM apps ORDER BY name"
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn groups(db: &mut PgConnection) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as!(GroupRow, "SELECT address, object_id, display_name, recipient_type_details FROM groups")
        .fetch_all(db)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn members(db: &mut PgConnection) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as!(
        MemberRow,
        r#"SELECT g.address AS group_address, gm.mailbox, child.address AS "child?"
           FROM group_members gm JOIN groups g ON g.id = gm.group_id
           LEFT JOIN groups child ON child.id = gm.member_group_id"#
    )
    .fetch_all(db)
    .await
}

#[tracing::instrument(skip_all)]
pub async fn policies(db: &mut PgConnection) -> Result<Vec<PolicyRow>, sqlx::Error> {
    sqlx::query_as!(PolicyRow, r#"SELECT p.id, p.all_apps, g.address AS "scope_group?", p.scope_mailbox, p.access_right, p.description,
                COALESCE(array_agg(a.entra_app_id ORDER BY a.name) FILTER (WHERE a.id IS NOT NULL), '{}') AS "entra_ids!: Vec<Option<Uuid>>",
                COALESCE(array_agg(a.name ORDER BY a.name) FILTER (WHERE a.id IS NOT NULL), '{}') AS "names!: Vec<Option<String>>"
           FROM access_policies p
           LEFT JOIN groups g ON g.id = p.scope_group_id
           LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
           LEFT JOIN apps a ON a.id = pa.app_id
          GROUP BY p.id, g.address
          ORDER BY p.created_at, p.id"#)
    .fetch_all(db)
    .await
}

/// (app id, object id, display name).
#[tracing::instrument(skip_all)]
pub async fn service_principals(db: &mut PgConnection) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    let rows = sqlx::query!("SELECT app_id, object_id, display_name FROM service_principals").fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.app_id, r.object_id, r.display_name)).collect())
}

/// (name, recipient filter).
#[tracing::instrument(skip_all)]
pub async fn scopes(db: &mut PgConnection) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!("SELECT name, recipient_filter FROM management_scopes").fetch_all(db).await?;
    Ok(rows.into_iter().map(|r| (r.name, r.recipient_filter)).collect())
}

#[tracing::instrument(skip_all)]
pub async fn assignments(db: &mut PgConnection) -> Result<Vec<AssignmentRow>, sqlx::Error> {
    sqlx::query_as!(
        AssignmentRow,
        r#"SELECT ra.name, sp.app_id, ra.role, s.name AS "scope?"
           FROM role_assignments ra JOIN service_principals sp ON sp.id = ra.service_principal_id
           LEFT JOIN management_scopes s ON s.id = ra.scope_id"#
    )
    .fetch_all(db)
    .await
}
