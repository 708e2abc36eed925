//! Named SQL, one file per table family. Handlers and workers call these; nothing else writes SQL.
//!
//! The functions the migrations define in the database (claim_messages, record_attempts, …) have their current
//! definitions in functions/<name>.sql. To change one, edit its file and add a migration carrying a copy; a test
//! (tests/api/db_functions.rs) fails when a file and the migrated database disagree.

pub mod apps;
pub mod audit;
pub mod audit_chain;
pub mod audit_reads;
pub mod audit_series;
pub mod audit_verify;
pub mod changes;
pub mod delivery;
pub mod directory;
pub mod drift;
pub mod entra;
pub mod exchange_import;
pub mod exchange_rbac;
pub mod groups;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod messages;
pub mod migrate;
pub mod outbox;
pub mod policies;
pub mod pooler;
pub mod quota;
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
    Ok(connect_detecting(url, max_connections, auth).await?.0)
}

/// As `connect`, and whether `url` goes through a transaction-mode connection pooler (`pooler`), whose connections
/// then keep no statement past its transaction.
pub async fn connect_detecting(url: &str, max_connections: u32, auth: &Auth) -> anyhow::Result<(PgPool, bool)> {
    let options = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping before each use: a dead connection fails its statement, which callers already handle, and the
        // ping would be one more round trip on every query.
        .test_before_acquire(false);
    // PgBouncer refuses start-up parameters it does not know (sqlx sends extra_float_digits=2); Postgres 12 and
    // later print floats exactly without it, and mailgate reads them in binary anyway.
    let base: PgConnectOptions =
        url.parse::<PgConnectOptions>().context("parsing the database URL")?.extra_float_digits(None);
    match auth {
        Auth::Password => {
            let pooled = pooler::behind_pooler(&base).await?;
            Ok((options.connect_with(pooler::for_pooler(base, pooled)).await?, pooled))
        }
        Auth::Entra(entra) => {
            let (first, expires_on) = entra.apply(&base).await?;
            let pooled = pooler::behind_pooler(&first).await?;
            let base = pooler::for_pooler(base, pooled);
            let pool = options.connect_with(pooler::for_pooler(first, pooled)).await?;
            tokio::spawn(entra::renew(pool.clone(), base, entra.clone(), expires_on));
            Ok((pool, pooled))
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
