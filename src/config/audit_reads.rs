//! Where the audit endpoints read: a small pool of their own, each statement bounded in time, optionally on a hot
//! standby, so that however much is read, sending keeps its own connections and the primary its capacity.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};

settings! {
    /// where the audit endpoints (and the dashboard's data) read, e.g. a hot standby, as the service role: audit load
    /// then never touches the primary, and with it down audit reads answer 503 while sending carries on
    AUDIT_DATABASE_URL: SecretString = "audit_database_url", "MAILGATE_AUDIT_DATABASE_URL",
        DefaultIs::Unset(Some("`DATABASE_URL`"));
    /// the audit reads' own pool (1-100), apart from `MAILGATE_DB_MAX_CONNECTIONS`: readers wait for it, never for
    /// the senders'
    AUDIT_DB_MAX_CONNECTIONS: u32 = "audit_db_max_connections", "MAILGATE_AUDIT_DB_MAX_CONNECTIONS",
        DefaultIs::Value("4");
    /// an audit statement running longer is cancelled, answered `503 query_timeout` (1-3600)
    AUDIT_STATEMENT_TIMEOUT_SECS: u64 = "audit_statement_timeout_secs", "MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS",
        DefaultIs::Value("10");
}

/// Debug shows no URL: it may hold a password.
#[derive(Clone, Debug)]
pub struct AuditReads {
    /// A hot standby (or any replica of the primary) to read from; None: `DATABASE_URL`.
    pub database_url: Option<SecretString>,
    /// Connections the audit reads share, apart from the senders' pool.
    pub max_connections: u32,
    /// An audit statement running longer is cancelled and answered 503.
    pub statement_timeout: Duration,
}

impl Default for AuditReads {
    /// The declared defaults.
    fn default() -> Self {
        audit_reads(&Raw::defaults()).expect("the declared defaults are valid")
    }
}

pub(super) fn audit_reads(raw: &Raw) -> Result<AuditReads, ConfigError> {
    let max_connections = raw.value(&AUDIT_DB_MAX_CONNECTIONS)?;
    if !(1..=100).contains(&max_connections) {
        return Err(invalid(&AUDIT_DB_MAX_CONNECTIONS.spec, "must be between 1 and 100"));
    }
    let timeout = raw.value(&AUDIT_STATEMENT_TIMEOUT_SECS)?;
    if !(1..=3600).contains(&timeout) {
        return Err(invalid(&AUDIT_STATEMENT_TIMEOUT_SECS.spec, "must be between 1 and 3600"));
    }
    let database_url = raw.get(&AUDIT_DATABASE_URL)?;
    if let Some(url) = database_url.as_ref().map(ExposeSecret::expose_secret)
        && (!(url.starts_with("postgres://") || url.starts_with("postgresql://"))
            || url.parse::<sqlx::postgres::PgConnectOptions>().is_err())
    {
        // The URL may hold a password: the error does not repeat it.
        return Err(invalid(&AUDIT_DATABASE_URL.spec, "is not a Postgres connection URL"));
    }
    Ok(AuditReads { database_url, max_connections, statement_timeout: Duration::from_secs(timeout) })
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: std::collections::BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_sources(None, |name| map.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn audit_reads_default_to_four_connections_and_ten_seconds_on_the_primary() {
        let s = load(&[("DATABASE_URL", "postgres://svc:pw@db/mailgate")]).expect("loads");
        let d = AuditReads::default();
        assert_eq!(
            (s.audit_reads.max_connections, s.audit_reads.statement_timeout),
            (d.max_connections, d.statement_timeout)
        );
        assert!(d.database_url.is_none());
        assert_eq!((s.audit_reads.max_connections, s.audit_reads.statement_timeout.as_secs()), (4, 10));
        assert!(s.audit_reads.database_url.is_none());
    }

    #[test]
    fn audit_reads_are_read_checked_and_never_shown() {
        let s = load(&[
            ("DATABASE_URL", "postgres://svc:pw@db/mailgate"),
            ("MAILGATE_AUDIT_DATABASE_URL", "postgres://svc:secret@standby/mailgate"),
            ("MAILGATE_AUDIT_DB_MAX_CONNECTIONS", "2"),
            ("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS", "3"),
        ])
        .expect("loads");
        assert_eq!(
            s.audit_reads.database_url.as_ref().map(ExposeSecret::expose_secret),
            Some("postgres://svc:secret@standby/mailgate")
        );
        assert_eq!((s.audit_reads.max_connections, s.audit_reads.statement_timeout.as_secs()), (2, 3));
        assert!(!format!("{s:?}").contains("secret"), "{s:?}");
        for (name, bad) in [
            ("MAILGATE_AUDIT_DB_MAX_CONNECTIONS", "0"),
            ("MAILGATE_AUDIT_DB_MAX_CONNECTIONS", "101"),
            ("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS", "0"),
            ("MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS", "soon"),
            ("MAILGATE_AUDIT_DATABASE_URL", "mysql://standby/mailgate"),
        ] {
            let err = load(&[("DATABASE_URL", "x"), (name, bad)]).expect_err(bad);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
