//! RBAC for Applications: service principals, management scopes and role assignments.

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ServicePrincipalRow {
    pub id: Uuid,
    pub app_id: Uuid,
    pub object_id: Uuid,
    pub display_name: String,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct ScopeRow {
    pub id: Uuid,
    pub name: String,
    pub recipient_filter: String,
}

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AssignmentRow {
    pub id: Uuid,
    pub name: String,
    /// The service principal's app id.
    pub app_id: Uuid,
    pub role: String,
    /// None: organisation-wide.
    pub scope: Option<String>,
}

pub async fn create_principal(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    object_id: Uuid,
    display_name: &str,
) -> Result<ServicePrincipalRow, sqlx::Error> {
    sqlx::query_as!(
        ServicePrincipalRow,
        "INSERT INTO service_principals (id, app_id, object_id, display_name) VALUES ($1, $2, $3, $4)
         RETURNING id, app_id, object_id, display_name",
        Uuid::now_v7(),
        app_id,
        object_id,
        display_name
    )
    .fetch_one(db)
    .await
}

/// By app id or object id.
pub async fn find_principal(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ServicePrincipalRow>, sqlx::Error> {
    sqlx::query_as!(
        ServicePrincipalRow,
        "SELECT id, app_id, object_id, display_name FROM service_principals WHERE app_id = $1 OR object_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub async fn list_principals(db: impl PgExecutor<'_>) -> Result<Vec<ServicePrincipalRow>, sqlx::Error> {
    sqlx::query_as!(
        ServicePrincipalRow,
        "SELECT id, app_id, object_id, display_name FROM service_principals ORDER BY display_name, app_id"
    )
    .fetch_all(db)
    .await
}

pub async fn remove_principal(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM service_principals WHERE id = $1", id).execute(db).await.map(|r| r.rows_affected() == 1)
}

pub async fn create_scope(db: impl PgExecutor<'_>, name: &str, filter: &str) -> Result<ScopeRow, sqlx::Error> {
    sqlx::query_as!(ScopeRow, "INSERT INTO management_scopes (id, name, recipient_filter) VALUES ($1, $2, $3) RETURNING id, name, recipient_filter", Uuid::now_v7(), name, filter)
    .fetch_one(db)
    .await
}

pub async fn find_scope(db: impl PgExecutor<'_>, name: &str) -> Result<Option<ScopeRow>, sqlx::Error> {
    sqlx::query_as!(ScopeRow, "SELECT id, name, recipient_filter FROM management_scopes WHERE name = $1", name)
        .fetch_optional(db)
        .await
}

pub async fn list_scopes(db: impl PgExecutor<'_>) -> Result<Vec<ScopeRow>, sqlx::Error> {
    sqlx::query_as!(ScopeRow, "SELECT id, name, recipient_filter FROM management_scopes ORDER BY name")
        .fetch_all(db)
        .await
}

pub async fn set_scope_filter(db: impl PgExecutor<'_>, name: &str, filter: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("UPDATE management_scopes SET recipient_filter = $2 WHERE name = $1", name, filter)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

pub async fn remove_scope(db: impl PgExecutor<'_>, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM management_scopes WHERE name = $1", name)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

pub async fn create_assignment(
    db: impl PgExecutor<'_>,
    name: &str,
    principal: Uuid,
    role: &str,
    scope: Option<Uuid>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!("INSERT INTO role_assignments (id, name, service_principal_id, role, scope_id) VALUES ($1, $2, $3, $4, $5) RETURNING id", Uuid::now_v7(), name, principal, role, scope)
    .fetch_one(db)
    .await
}

pub async fn list_assignments(db: impl PgExecutor<'_>) -> Result<Vec<AssignmentRow>, sqlx::Error> {
    sqlx::query_as!(
        AssignmentRow,
        r#"SELECT a.id, a.name, sp.app_id, a.role, s.name AS "scope?"
       FROM role_assignments a JOIN service_principals sp ON sp.id = a.service_principal_id
       LEFT JOIN management_scopes s ON s.id = a.scope_id ORDER BY a.name"#
    )
    .fetch_all(db)
    .await
}

pub async fn find_assignment(db: impl PgExecutor<'_>, name: &str) -> Result<Option<AssignmentRow>, sqlx::Error> {
    sqlx::query_as!(
        AssignmentRow,
        r#"SELECT a.id, a.name, sp.app_id, a.role, s.name AS "scope?"
       FROM role_assignments a JOIN service_principals sp ON sp.id = a.service_principal_id
       LEFT JOIN management_scopes s ON s.id = a.scope_id WHERE a.name = $1"#,
        name
    )
    .fetch_optional(db)
    .await
}

pub async fn remove_assignment(db: impl PgExecutor<'_>, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM role_assignments WHERE name = $1", name).execute(db).await.map(|r| r.rows_affected() == 1)
}

pub async fn set_assignment_scope(
    db: impl PgExecutor<'_>,
    name: &str,
    scope: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!("UPDATE role_assignments SET scope_id = $2 WHERE name = $1", name, scope)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

#[tracing::instrument(skip_all, fields(%app_id))]
pub async fn remove_principal_by_app_id(db: impl PgExecutor<'_>, app_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM service_principals WHERE app_id = $1", app_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Creates the service principal of `app_id`, or replaces the mirrored fields of the one there (the import's write).
#[tracing::instrument(skip_all, fields(%app_id))]
pub async fn upsert_principal(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    object_id: Uuid,
    display_name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO service_principals (id, app_id, object_id, display_name) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app_id) DO UPDATE SET object_id = EXCLUDED.object_id, display_name = EXCLUDED.display_name",
        Uuid::now_v7(),
        app_id,
        object_id,
        display_name
    )
    .execute(db)
    .await
    .map(drop)
}

/// Creates the scope `name`, or replaces its filter (the import's write).
#[tracing::instrument(skip_all, fields(%name))]
pub async fn upsert_scope(db: impl PgExecutor<'_>, name: &str, filter: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO management_scopes (id, name, recipient_filter) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET recipient_filter = EXCLUDED.recipient_filter",
        Uuid::now_v7(),
        name,
        filter
    )
    .execute(db)
    .await
    .map(drop)
}

/// As `create_assignment`, naming the service principal by its app id and the scope by its name (the import's write).
#[tracing::instrument(skip_all, fields(%name, %app_id))]
pub async fn create_assignment_by_names(
    db: impl PgExecutor<'_>,
    name: &str,
    app_id: Uuid,
    role: &str,
    scope: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO role_assignments (id, name, service_principal_id, role, scope_id)
         VALUES ($1, $2, (SELECT id FROM service_principals WHERE app_id = $3), $4,
                 (SELECT id FROM management_scopes WHERE name = $5))",
        Uuid::now_v7(),
        name,
        app_id,
        role,
        scope
    )
    .execute(db)
    .await
    .map(drop)
}
