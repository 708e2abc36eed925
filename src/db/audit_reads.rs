//! Where the audit endpoints (and the dashboard's data) read: a small pool of their own, apart from the one sending
//! uses, on `DATABASE_URL` or on a hot standby (`MAILGATE_AUDIT_DATABASE_URL`). However much auditors read, sends
//! keep their connections; with a standby, the primary never sees audit load at all.
//!
//! Each read runs in a read-only transaction with a statement timeout of its own (`SET LOCAL`, so nothing outlives
//! the transaction on a connection a pooler may hand to someone else). The pool connects lazily: a standby that is
//! down at start, or later, costs audit reads their answer (503), never the service its start or its sends.

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::entra;
use crate::config::Settings;

#[derive(Clone)]
pub struct AuditReads {
    pool: PgPool,
    /// The statement that opens each read: read-only, with the statement timeout.
    begin: String,
    timeout: Duration,
}

impl AuditReads {
    /// The pool on the standby when one is set, else on `DATABASE_URL`. No connection is made until the first read.
    pub async fn connect(settings: &Settings, auth: &entra::Auth) -> anyhow::Result<Self> {
        let reads = &settings.audit_reads;
        let (url, name) = match &reads.database_url {
            Some(url) => (url.expose_secret(), "MAILGATE_AUDIT_DATABASE_URL"),
            None => (settings.db.url.expose_secret(), "DATABASE_URL"),
        };
        let base: PgConnectOptions = url.parse().with_context(|| format!("parsing {name}"))?;
        let options = PgPoolOptions::new()
            .max_connections(reads.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false);
        let pool = match auth {
            entra::Auth::Password => options.connect_lazy_with(base),
            entra::Auth::Entra(password) => {
                let (first, expires_on) = password.apply(&base).await?;
                let pool = options.connect_lazy_with(first);
                tokio::spawn(entra::renew(pool.clone(), base, password.clone(), expires_on));
                pool
            }
        };
        Ok(Self::new(pool, reads.statement_timeout))
    }

    pub fn new(pool: PgPool, timeout: Duration) -> Self {
        let millis = timeout.as_millis();
        Self { pool, begin: format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {millis}"), timeout }
    }

    /// A read-only transaction whose statements are cancelled past the timeout. Dropping it ends it.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin_with(sqlx::AssertSqlSafe(self.begin.clone())).await
    }

    /// The statement timeout, for the answer that reports one.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}
