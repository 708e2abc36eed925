//! Registered caller apps.

use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct App {
    pub id: Uuid,
    pub name: String,
    /// The Entra application (client) id: `appid` in v1 tokens, `azp` in v2, `-AppId` in Exchange.
    pub entra_app_id: Option<Uuid>,
    pub entra_tenant_id: Option<Uuid>,
    /// The service principal's object id (`oid` in tokens).
    pub entra_object_id: Option<Uuid>,
    pub roles: Vec<String>,
    /// The app's Entra identity holds the tenant-wide Entra Mail.Send grant, which access policies constrain (only an
    /// app with an Entra identity can).
    pub entra_mail_send: bool,
    /// An admin chose to let the app send as every mailbox its access policies do not exclude, with no policy or role
    /// assignment of its own (Exchange's behaviour for an unscoped app). Otherwise such an app sends as no mailbox.
    pub unrestricted: bool,
    /// The app's own quotas (messages a minute, recipients a day); absent: the service-wide settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_per_minute: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients_per_day: Option<i32>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct NewApp<'a> {
    pub name: &'a str,
    pub entra_app_id: Option<Uuid>,
    pub entra_tenant_id: Option<Uuid>,
    pub entra_object_id: Option<Uuid>,
    /// None: the default, Mail.Send.
    pub roles: Option<Vec<String>>,
    pub entra_mail_send: bool,
    pub unrestricted: bool,
}

#[tracing::instrument(skip(db))]
pub async fn create(db: impl PgExecutor<'_>, app: &NewApp<'_>) -> Result<App, sqlx::Error> {
    sqlx::query_as!(App, "INSERT INTO apps (id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted)
         VALUES ($1, $2, $3, $4, $5, COALESCE($6, '{Mail.Send}'::text[]), $7, $8) RETURNING id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted, messages_per_minute, recipients_per_day, created_at", Uuid::now_v7(), app.name, app.entra_app_id, app.entra_tenant_id, app.entra_object_id, app.roles.as_deref(), app.entra_mail_send, app.unrestricted)
    .fetch_one(db)
    .await
}

/// Finds an app by its name or its Entra app id.
#[tracing::instrument(skip(db))]
pub async fn find(db: impl PgExecutor<'_>, name_or_app_id: &str) -> Result<Option<App>, sqlx::Error> {
    let as_uuid = Uuid::parse_str(name_or_app_id).ok();
    sqlx::query_as!(App, "SELECT id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted, messages_per_minute, recipients_per_day, created_at FROM apps WHERE name = $1 OR entra_app_id = $2", name_or_app_id, as_uuid)
        .fetch_optional(db)
        .await
}

/// The app an Entra token speaks for: by its app id, else by its service principal's object id, in either case only
/// within the app's own tenant: the one recorded, or mailgate's home tenant when none is (an app registered before
/// tenants were recorded). An app id is unique across tenants only for multi-tenant apps, and an object id names an
/// object of one tenant, so a token from another allowed tenant never speaks for the app.
#[tracing::instrument(skip(db))]
pub async fn find_entra(
    db: impl PgExecutor<'_>,
    tenant_id: Uuid,
    home_tenant_id: Option<Uuid>,
    app_id: Uuid,
    object_id: Option<Uuid>,
) -> Result<Option<App>, sqlx::Error> {
    sqlx::query_as!(App, "SELECT id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted, messages_per_minute, recipients_per_day, created_at FROM apps
          WHERE COALESCE(entra_tenant_id, $4) = $1
            AND (entra_app_id = $2 OR ($3::uuid IS NOT NULL AND entra_object_id = $3))
          ORDER BY (entra_app_id = $2) DESC NULLS LAST
          LIMIT 1", tenant_id, app_id, object_id, home_tenant_id)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<App>, sqlx::Error> {
    sqlx::query_as!(App, "SELECT id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted, messages_per_minute, recipients_per_day, created_at FROM apps ORDER BY name").fetch_all(db).await
}

/// The fields a change sets; None leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change<'a> {
    pub entra_app_id: Option<Uuid>,
    pub entra_tenant_id: Option<Uuid>,
    pub entra_object_id: Option<Uuid>,
    pub roles: Option<&'a [String]>,
    pub entra_mail_send: Option<bool>,
    pub unrestricted: Option<bool>,
}

/// Sets the given fields, leaving the others.
pub async fn change(db: impl PgExecutor<'_>, id: Uuid, c: &Change<'_>) -> Result<App, sqlx::Error> {
    sqlx::query_as!(App, "UPDATE apps SET entra_app_id = COALESCE($2, entra_app_id), entra_tenant_id = COALESCE($3, entra_tenant_id),
                entra_object_id = COALESCE($4, entra_object_id), roles = COALESCE($5, roles),
                entra_mail_send = COALESCE($6, entra_mail_send), unrestricted = COALESCE($7, unrestricted)
          WHERE id = $1 RETURNING id, name, entra_app_id, entra_tenant_id, entra_object_id, roles, entra_mail_send, unrestricted, messages_per_minute, recipients_per_day, created_at", id, c.entra_app_id, c.entra_tenant_id, c.entra_object_id, c.roles, c.entra_mail_send, c.unrestricted)
    .fetch_one(db)
    .await
}

/// Removes an app that never sent: one with messages keeps them, and its audit trail, so it stays.
pub async fn remove(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM apps WHERE id = $1", id).execute(db).await.map(|r| r.rows_affected() == 1)
}

/// The import's one change to an existing app: whether its Entra identity holds Mail.Send.
#[tracing::instrument(skip_all, fields(%entra_app_id))]
pub async fn set_entra_mail_send(
    db: impl PgExecutor<'_>,
    entra_app_id: Uuid,
    entra_mail_send: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE apps SET entra_mail_send = $2 WHERE entra_app_id = $1", entra_app_id, entra_mail_send)
        .execute(db)
        .await
        .map(drop)
}
