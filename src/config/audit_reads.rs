//! Where the audit endpoints read: a small pool of their own, each statement bounded in time, optionally on a hot
//! standby, so that however much is read, sending keeps its own connections and the primary its capacity.

use std::time::Duration;

use super::{ConfigError, Raw, invalid};

#[derive(Clone, PartialEq, Eq)]
pub struct AuditReads {
    /// A hot standby (or any replica of the primary) to read from; None: `DATABASE_URL`.
    pub database_url: Option<String>,
    /// Connections the audit reads share, apart from the senders' pool.
    pub max_connections: u32,
    /// An audit statement running longer is cancelled and answered 503.
    pub statement_timeout: Duration,
}

impl Default for AuditReads {
    fn default() -> Self {
        Self { database_url: None, max_connections: 4, statement_timeout: Duration::from_secs(10) }
    }
}

impl std::fmt::Debug for AuditReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditReads")
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

pub(super) fn audit_reads(raw: &Raw) -> Result<AuditReads, ConfigError> {
    let d = AuditReads::default();
    let max_connections: u32 = raw.parse("audit_db_max_connections", d.max_connections)?;
    if !(1..=100).contains(&max_connections) {
        return Err(invalid("audit_db_max_connections", "must be between 1 and 100"));
    }
    let timeout: u64 = raw.parse("audit_statement_timeout_secs", d.statement_timeout.as_secs())?;
    if !(1..=3600).contains(&timeout) {
        return Err(invalid("audit_statement_timeout_secs", "must be between 1 and 3600"));
    }
    let database_url = raw.get("audit_database_url").map(str::to_owned);
    if let Some(url) = &database_url
        && (!(url.starts_with("postgres://") || url.starts_with("postgresql://"))
            || url.parse::<sqlx::postgres::PgConnectOptions>().is_err())
    {
        // The URL may hold a password: the error does not repeat it.
        return Err(invalid("audit_database_url", "is not a Postgres connection URL"));
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
        assert_eq!(s.audit_reads, AuditReads::default());
        assert_eq!((s.audit_reads.max_connections, s.audit_reads.statement_timeout.as_secs()), (4, 10));
        assert_eq!(s.audit_reads.database_url, None);
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
        assert_eq!(s.audit_reads.database_url.as_deref(), Some("postgres://svc:secret@standby/mailgate"));
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
