//! API keys: stored as a prefix and a digest, never the key itself.

use sqlx::{FromRow, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, FromRow)]
pub struct StoredKey {
    pub id: Uuid,
    pub app_id: Uuid,
    pub app_name: String,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub app_roles: Vec<String>,
    pub key_roles: Option<Vec<String>>,
    /// Checked again on every use of a cached key.
    pub expires_at: Option<OffsetDateTime>,
    /// The app's own quotas; none: the service-wide settings.
    pub messages_per_minute: Option<i32>,
    pub recipients_per_day: Option<i32>,
}

#[derive(Debug, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: Uuid,
    pub app_name: String,
    pub prefix: String,
    /// Roles this key is limited to; absent when it carries its app's roles.
    pub roles: Option<Vec<String>>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// Stores a new key as its prefix and the digest of the whole key (auth::ApiKey's `prefix()` and `digest()`).
#[tracing::instrument(skip(db, secret_hash))]
pub async fn insert(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    prefix: &str,
    secret_hash: &[u8],
    expires_at: Option<OffsetDateTime>,
    roles: Option<&[String]>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar!("INSERT INTO api_keys (id, app_id, prefix, secret_hash, expires_at, roles) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", Uuid::now_v7(), app_id, prefix, secret_hash, expires_at, roles)
        .fetch_one(db)
        .await
}

/// The live key with this prefix: not revoked, not expired.
#[tracing::instrument(skip(db))]
pub async fn find_active(db: impl PgExecutor<'_>, prefix: &str) -> Result<Option<StoredKey>, sqlx::Error> {
    sqlx::query_as!(
        StoredKey,
        "SELECT k.id, k.app_id, a.name AS app_name, k.prefix, k.secret_hash, a.roles AS app_roles,
                k.roles AS key_roles, k.expires_at, a.messages_per_minute, a.recipients_per_day
           FROM api_keys k JOIN apps a ON a.id = k.app_id
          WHERE k.prefix = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())",
        prefix
    )
    .fetch_optional(db)
    .await
}

/// Records use. Callers do it at most once a minute per key and off the request's path, so authentication does not
/// write on every request.
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE api_keys SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        id
    )
    .execute(db)
    .await
    .map(drop)
}

/// Revokes by key id or prefix; returns how many keys were revoked now.
#[tracing::instrument(skip(db))]
pub async fn revoke(db: impl PgExecutor<'_>, id_or_prefix: &str) -> Result<u64, sqlx::Error> {
    let id = Uuid::parse_str(id_or_prefix).ok();
    let prefix = id_or_prefix.strip_prefix("mg_").unwrap_or(id_or_prefix);
    let prefix = prefix.split('_').next().unwrap_or(prefix);
    sqlx::query!(
        "UPDATE api_keys SET revoked_at = now() WHERE (id = $1 OR prefix = $2) AND revoked_at IS NULL",
        id,
        prefix
    )
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

#[tracing::instrument(skip(db))]
pub async fn list(db: impl PgExecutor<'_>, app_id: Option<Uuid>) -> Result<Vec<KeyInfo>, sqlx::Error> {
    sqlx::query_as!(
        KeyInfo,
        "SELECT k.id, a.name AS app_name, k.prefix, k.roles, k.created_at, k.expires_at, k.revoked_at, k.last_used_at
           FROM api_keys k JOIN apps a ON a.id = k.app_id
          WHERE $1::uuid IS NULL OR k.app_id = $1
          ORDER BY a.name, k.created_at",
        app_id
    )
    .fetch_all(db)
    .await
}
