//! Applying the schema. Migrations run as the owner role; `serve` runs as the service role, which may not change
//! the schema, so at start it migrates through the owner's URL when it has one and otherwise only if something is
//! pending (a one-role setup, where DATABASE_URL's role owns the schema).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::{Auth, MIGRATOR};

const AT_START: &str = "applying pending migrations at start as DATABASE_URL's role (when it is not the owner role, \
                        set MAILGATE_MIGRATION_DATABASE_URL to the owner's URL, or run `mailgate migrate` as the owner \
                        and set MAILGATE_MIGRATE_ON_START=false)";

/// Brings the schema up to date through `url`, the owner role's; `setting` names it in errors. Under Entra one token
/// serves: the single connection opens at once and migrations need no other.
pub async fn migrate(url: &str, setting: &str, auth: &Auth) -> anyhow::Result<()> {
    let options = auth.options(url).await.with_context(|| format!("connecting to {setting} to migrate"))?;
    let pooled =
        super::pooler::behind_pooler(&options).await.with_context(|| format!("connecting to {setting} to migrate"))?;
    anyhow::ensure!(!pooled, "{}", through_pooler(setting));
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {setting} to migrate"))?;
    let applied = MIGRATOR.run(&pool).await;
    pool.close().await;
    applied.with_context(|| {
        format!(
            "applying migrations as {setting}'s role, which must be the owner role (MAILGATE_MIGRATION_DATABASE_URL, \
             else DATABASE_URL)"
        )
    })
}

/// `serve`'s start: migrate as the owner at `owner_url` when set; otherwise through the service's own pool (`pooled`:
/// through a connection pooler), and only when this binary has migrations the database lacks.
pub async fn at_start(pool: &PgPool, pooled: bool, owner_url: Option<&str>, auth: &Auth) -> anyhow::Result<()> {
    if let Some(url) = owner_url {
        return migrate(url, "MAILGATE_MIGRATION_DATABASE_URL", auth).await;
    }
    if pending(pool).await.is_empty() {
        return Ok(());
    }
    anyhow::ensure!(!pooled, "{}", through_pooler("DATABASE_URL"));
    MIGRATOR.run(pool).await.context(AT_START)
}

/// Why migrations do not run through `setting`, and what to do.
fn through_pooler(setting: &str) -> String {
    format!(
        "{setting} reaches Postgres through a transaction-mode connection pooler (such as PgBouncer on port 6432), \
         which cannot hold the lock migrations take for their whole run: set MAILGATE_MIGRATION_DATABASE_URL to a \
         direct connection to the database (port 5432 on Azure Flexible Server), or run `mailgate migrate` with one"
    )
}

/// The versions this binary holds that the database has not applied as they are; all of them when it cannot tell
/// (no migrations table yet, or no right to read it).
pub async fn pending(pool: &PgPool) -> Vec<i64> {
    let applied: BTreeMap<i64, Vec<u8>> =
        sqlx::query_as::<_, (i64, Vec<u8>)>("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .map(|rows| rows.into_iter().collect())
            .unwrap_or_default();
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter(|m| applied.get(&m.version).is_none_or(|sum| sum.as_slice() != &*m.checksum))
        .map(|m| m.version)
        .collect()
}
