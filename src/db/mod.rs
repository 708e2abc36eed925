//! Named SQL, one file per table family. Handlers and workers call these; nothing else writes SQL.

pub mod apps;
pub mod audit;
pub mod changes;
pub mod delivery;
pub mod drift;
pub mod groups;
pub mod idempotency;
pub mod keys;
pub mod messages;
pub mod migrate;
pub mod outbox;
pub mod policies;
pub mod quota;
pub mod rbac;
pub mod recipients;
pub mod snapshot;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before each use: a dead connection fails its statement, which callers already handle, and the
        // ping would be one more round trip on every query.
        .test_before_acquire(false)
        .connect(url)
        .await
}

/// Channel names, shared by the triggers and NOTIFY calls in SQL and the listener.
pub mod channels {
    pub const POLICY: &str = "mailgate_policy";
    pub const CALLERS: &str = "mailgate_callers";
    pub const OUTBOX: &str = "mailgate_outbox";
    pub const DONE: &str = "mailgate_done";
}
