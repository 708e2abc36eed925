//! Named SQL, one file per table family. Handlers and workers call these; nothing else writes SQL.

pub mod apps;
pub mod audit;
pub mod audit_reads;
pub mod audit_series;
pub mod changes;
pub mod delivery;
pub mod drift;
pub mod entra;
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

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use entra::Auth;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service pool on `url`. Under Entra its connect options are renewed in the background until it closes, so
/// that every connection it opens later (the listener's reconnections too) presents a valid token.
pub async fn connect(url: &str, max_connections: u32, auth: &Auth) -> anyhow::Result<PgPool> {
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before each use: a dead connection fails its statement, which callers already handle, and the
        // ping would be one more round trip on every query.
        .test_before_acquire(false);
    let base: PgConnectOptions = url.parse().context("parsing the database URL")?;
    match auth {
        Auth::Password => Ok(options.connect_with(base).await?),
        Auth::Entra(entra) => {
            let (first, expires_on) = entra.apply(&base).await?;
            let pool = options.connect_with(first).await?;
            tokio::spawn(entra::renew(pool.clone(), base, entra.clone(), expires_on));
            Ok(pool)
        }
    }
}

/// Channel names, shared by the triggers and NOTIFY calls in SQL and the listener.
pub mod channels {
    pub const POLICY: &str = "mailgate_policy";
    pub const CALLERS: &str = "mailgate_callers";
    pub const OUTBOX: &str = "mailgate_outbox";
    pub const DONE: &str = "mailgate_done";
}
