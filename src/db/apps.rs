//! Registered caller apps.

use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct App {
    pub id: Uuid,
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[tracing::instrument(skip(db))]
pub async fn create(
    db: impl PgExecutor<'_>,
    name: &str,
    entra_app_id: Option<Uuid>,
) -> Result<App, sqlx::Error> {
    sqlx::query_as("INSERT INTO apps (id, name, entra_app_id) VALUES ($1, $2, $3) RETURNING id, name, entra_app_id, created_at")
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(entra_app_id)
        .fetch_one(db)
        .await
}

/// Finds an app by its name or its Entra app id.
#[tracing::instrument(skip(db))]
pub async fn find(
    db: impl PgExecutor<'_>,
    name_or_app_id: &str,
) -> Result<Option<App>, sqlx::Error> {
    let as_uuid = Uuid::parse_str(name_or_app_id).ok();
    sqlx::query_as(
        "SELECT id, name, entra_app_id, created_at FROM apps WHERE name = $1 OR entra_app_id = $2",
    )
    .bind(name_or_app_id)
    .bind(as_uuid)
    .fetch_optional(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<App>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, entra_app_id, created_at FROM apps ORDER BY name")
        .fetch_all(db)
        .await
}
