//! The change trail written by the database's triggers: who changed which object, before and after.

use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgExecutor};
use time::OffsetDateTime;

#[derive(Debug, FromRow, Serialize, utoipa::ToSchema)]
pub struct ChangeEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    /// insert, update or delete.
    pub action: String,
    /// The table: apps, api_keys, groups, group_members, recipients, access_policies, …
    pub object_type: String,
    pub object_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

pub async fn list(
    db: impl PgExecutor<'_>,
    object_type: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<ChangeEvent>, sqlx::Error> {
    sqlx::query_as!(
        ChangeEvent,
        "SELECT id, at, actor, action, object_type, object_key, before, after FROM change_events
          WHERE ($1::text IS NULL OR object_type = $1) AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3",
        object_type,
        before_id,
        limit
    )
    .fetch_all(db)
    .await
}

/// Names `actor` as the author of the transaction's changes: the triggers that write the trail read it.
#[tracing::instrument(skip_all)]
pub async fn set_actor(tx: &mut PgConnection, actor: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT set_config('mailgate.actor', $1, true) AS actor", actor).fetch_one(tx).await.map(drop)
}
