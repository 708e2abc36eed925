//! Whether the database answers at all: the readiness probe's one statement.

use sqlx::PgPool;

/// One round trip on a pooled connection.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT 1 AS one").fetch_one(pool).await.map(drop)
}
