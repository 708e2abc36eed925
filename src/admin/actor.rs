//! Who makes a change. Every admin write runs in a transaction that names its actor first; the database's
//! change trail (change_events) records it with the before and after of each row.

use sqlx::{PgPool, Postgres, Transaction};

use crate::auth::Caller;

#[derive(Clone, Debug)]
pub struct Actor(String);

impl Actor {
    pub fn cli() -> Self {
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
        Self(format!("cli:{user}"))
    }

    pub fn http(caller: &Caller) -> Self {
        Self(format!("http:{}", caller.app_name))
    }

    pub fn named(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Begins a transaction whose changes are recorded as this actor's.
    pub async fn begin(&self, pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        crate::db::changes::set_actor(&mut tx, &self.0).await?;
        Ok(tx)
    }
}
