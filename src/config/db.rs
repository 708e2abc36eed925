//! Where mailgate's database connections go: the service role's URL, the owner's for migrations, a direct one for
//! LISTEN, and how many connections a process opens.

use secrecy::SecretString;

use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};
use super::{Cloud, ConfigError, DbAuth, db_auth};

settings! {
    /// Postgres, as the service role ([database roles](#database-roles))
    DATABASE_URL: SecretString = "database_url", "DATABASE_URL", DefaultIs::Required;
    /// Postgres as the owner role, for `mailgate migrate` and migrating at `serve`'s start
    MIGRATION_DATABASE_URL: SecretString = "migration_database_url", "MAILGATE_MIGRATION_DATABASE_URL",
        DefaultIs::Unset(Some("`DATABASE_URL`"));
    /// Postgres for LISTEN, one connection straight to the database: needed when `DATABASE_URL` goes through a
    /// transaction-mode pooler such as Flexible Server's PgBouncer on port 6432, where LISTEN cannot work (start-up
    /// stops naming this setting) ([deploy/README.md](deploy/README.md#the-database))
    LISTEN_DATABASE_URL: SecretString = "listen_database_url", "MAILGATE_LISTEN_DATABASE_URL",
        DefaultIs::Unset(Some("`DATABASE_URL`"));
    /// connection pool size per process
    DB_MAX_CONNECTIONS: u32 = "db_max_connections", "MAILGATE_DB_MAX_CONNECTIONS", DefaultIs::Value("10");
    /// apply migrations at `serve` (as the service role: only when some are pending)
    MIGRATE_ON_START: bool = "migrate_on_start", "MAILGATE_MIGRATE_ON_START", DefaultIs::Value("true");
}

/// Debug shows no URL: each is a `SecretString`, as it may hold a password.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// The service role `serve` runs as.
    pub url: SecretString,
    /// The owner role migrations run as; None: DATABASE_URL's role (a one-role setup).
    pub migration_url: Option<SecretString>,
    /// Where LISTEN connects, directly to Postgres; None: DATABASE_URL (which then must not be a pooler).
    pub listen_url: Option<SecretString>,
    pub max_connections: u32,
    pub migrate_on_start: bool,
    /// How database connections authenticate (MAILGATE_DB_AUTH).
    pub auth: DbAuth,
}

pub(super) fn db(raw: &Raw, cloud: Cloud) -> Result<DbSettings, ConfigError> {
    let max_connections = raw.value(&DB_MAX_CONNECTIONS)?;
    if !(2..=500).contains(&max_connections) {
        return Err(invalid(&DB_MAX_CONNECTIONS.spec, "must be between 2 and 500"));
    }
    Ok(DbSettings {
        url: raw.value(&DATABASE_URL)?,
        migration_url: raw.get(&MIGRATION_DATABASE_URL)?,
        listen_url: raw.get(&LISTEN_DATABASE_URL)?,
        max_connections,
        migrate_on_start: raw.value(&MIGRATE_ON_START)?,
        auth: db_auth::db_auth(raw, cloud)?,
    })
}
