//! Telling a transaction-mode connection pooler (PgBouncer, Azure Flexible Server's built-in one on port 6432) from
//! Postgres itself, and what changes behind one.
//!
//! Behind such a pooler a client connection holds a server connection for one transaction at a time. So:
//! - a statement must not outlive its transaction on the server: mailgate turns sqlx's statement cache off there,
//!   which (with the patched sqlx-postgres, vendor/sqlx-postgres/PATCH.md) runs each statement unnamed and in one
//!   implicit transaction;
//! - LISTEN cannot work (the server connection it was registered on goes back to the pool and notifications meet
//!   whoever holds it then), so notifications need a direct connection: MAILGATE_LISTEN_DATABASE_URL;
//! - session-level advisory locks (migrations take one) cannot work either: migrations need a direct connection.
//!
//! A pooler answers the start-up with a backend process id of its own (the cancel key it hands out), so it differs
//! from `pg_backend_pid()` of the server connection behind it; straight to Postgres, or through a TCP proxy that
//! passes the start-up along, they are equal.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

/// Whether `options` reach Postgres through a connection pooler, from one probe connection.
pub async fn behind_pooler(options: &PgConnectOptions) -> Result<bool, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    // The simple protocol: no prepared statement, which through a pooler could meet another client's of its name.
    // Dynamic: a macro would prepare the statement, which is what this probe must not do.
    let pid: i32 = sqlx::raw_sql("SELECT pg_backend_pid()").fetch_one(&mut conn).await?.try_get(0)?;
    let announced = conn.backend_process_id();
    conn.close().await?;
    Ok(i64::from(pid) != i64::from(announced))
}

/// Options for connections through a pooler or not: no statement kept past its transaction behind one.
pub fn for_pooler(options: PgConnectOptions, pooled: bool) -> PgConnectOptions {
    if pooled { options.statement_cache_capacity(0) } else { options }
}
