//! Settings: defaults, then an optional TOML file, then `MAILGATE_*` environment variables (and `DATABASE_URL`).
//! Each setting is declared once, in the module of its area (`settings!`: key, variable, type, default, description,
//! secret or not); everything is parsed and checked once, at start; an error names the setting that is wrong.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

/// A setting that could not be used, named the way an operator sets it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {env} ({key}) is required")]
    Missing { key: &'static str, env: String },
    #[error("setting {env} ({key}) is invalid: {reason}")]
    Invalid { key: &'static str, env: String, reason: String },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// The service role `serve` runs as.
    pub database_url: SecretString,
    /// The owner role migrations run as; None: DATABASE_URL's role (a one-role setup).
    pub migration_database_url: Option<SecretString>,
    /// Where LISTEN connects, directly to Postgres; None: DATABASE_URL (which then must not be a pooler).
    pub listen_database_url: Option<SecretString>,
    pub db_max_connections: u32,
    /// How database connections authenticate (MAILGATE_DB_AUTH).
    pub db_auth: DbAuth,
    pub listen: SocketAddr,
    pub graph_url: Url,
    pub graph_scope: String,
    /// MAILGATE_CLOUD: the defaults of the authority, Graph and the database scope.
    pub cloud: Cloud,
    /// Where mailgate's own credential signs in (workload identity, client secret), when not the SDK's default
    /// (`AZURE_AUTHORITY_HOST`, else the public cloud): set by MAILGATE_ENTRA_AUTHORITY_HOST or a national cloud.
    pub credential_authority: Option<Url>,
    pub graph_timeout: Duration,
    pub credential: CredentialKind,
    pub migrate_on_start: bool,
    pub workers: usize,
    pub max_body_bytes: usize,
    /// Decoded size of a message (its body plus attachments) above which it is refused.
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_attempts: i32,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub log_format: LogFormat,
    pub guarantee: Guarantee,
    /// A message not delivered within this time after acceptance fails.
    pub message_ttl: Duration,
    pub limits: Limits,
    pub idempotency_ttl: Duration,
    /// How long a message's body is kept after its final status (0: purged at once).
    pub body_retention: Duration,
    /// `mailgate audit purge` drops the audit log's month partitions that ended this many days ago.
    pub audit_retention_days: i32,
    /// How long SIGTERM waits for sends in flight.
    pub shutdown_grace: Duration,
    /// After Exchange refuses a pair the mirror granted, deny it locally this long (None: off).
    pub drift_cooldown: Option<Duration>,
    /// Whether a `from` the directory does not know may be sent as when the directory lists mailboxes.
    pub allow_unknown_mailboxes: bool,
    /// Entra ID tokens from callers; None when only API keys are accepted.
    pub entra: Option<EntraSettings>,
    pub http: HttpSettings,
    /// Label sets one metric family keeps; new ones beyond it are counted under `other`.
    pub metrics_max_series: usize,
    /// How often audit rows are sealed into the hash chain: the longest an audit row stays unsealed, roughly.
    pub audit_seal_interval: Duration,
    /// Where and how the audit endpoints read.
    pub audit_reads: AuditReads,
    /// SMTP ingress; None when no SMTP listener is set.
    pub smtp: Option<SmtpSettings>,
}

#[derive(Clone, Debug)]
pub struct EntraSettings {
    pub tenant_id: String,
    pub allowed_tenants: Vec<String>,
    pub audiences: Vec<String>,
    pub authority_host: Url,
    pub leeway: Duration,
    pub refresh_interval: Duration,
    pub min_refetch_interval: Duration,
}

/// Every area's declarations, in the order the README's table lists them.
const AREAS: &[&[setting::Spec]] = &[
    db::SETTINGS,
    db_auth::SETTINGS,
    cloud::SETTINGS,
    credential::SETTINGS,
    delivery::SETTINGS,
    limits::SETTINGS,
    http::SETTINGS,
    entra::SETTINGS,
    audit_reads::SETTINGS,
    retention::SETTINGS,
    telemetry::SETTINGS,
    smtp::SETTINGS,
];

/// Every setting mailgate reads.
fn all() -> impl Iterator<Item = &'static setting::Spec> {
    AREAS.iter().flat_map(|area| area.iter())
}

/// The setting a TOML key names.
fn spec(key: &str) -> Option<&'static setting::Spec> {
    all().find(|s| s.key == key)
}

impl Settings {
    /// The limits a message is validated against that come from settings rather than from Graph.
    pub fn message_limits(&self) -> crate::domain::message::Limits {
        crate::domain::message::Limits {
            max_recipients: self.max_recipients,
            max_message_bytes: self.max_message_bytes,
            large_messages: self.limits.large_messages,
        }
    }

    /// Where migrations connect, and the setting that named it (for errors).
    pub fn migration_url(&self) -> (&str, String) {
        match &self.migration_database_url {
            Some(url) => (url.expose_secret(), db::MIGRATION_DATABASE_URL.spec.env.to_owned()),
            None => (self.database_url.expose_secret(), db::DATABASE_URL.spec.env.to_owned()),
        }
    }

    /// Loads from the process environment and an optional TOML file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |name| std::env::var(name).ok())
    }

    /// Loads from an explicit environment lookup, so tests need not touch the process environment.
    pub fn from_sources(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_raw(&Raw::load(file, env)?)
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let cloud = raw.value(&cloud::CLOUD)?;
        let (authority_host, authority_explicit) = cloud::authority_host(raw, cloud)?;
        let graph_url = cloud::graph_url(raw, cloud)?;
        let limits = limits::limits(raw)?;
        let max_message_bytes = limits::max_message_bytes(raw)?;
        let (max_body_bytes, http) = http::with_body_limit(raw, max_message_bytes, limits.large_messages)?;
        let d = delivery::delivery(raw)?;
        let r = retention::retention(raw)?;
        let db = db::db(raw)?;
        Ok(Settings {
            db_auth: db_auth::db_auth(raw, cloud)?,
            database_url: db.url,
            migration_database_url: db.migration_url,
            listen_database_url: db.listen_url,
            db_max_connections: db.max_connections,
            migrate_on_start: db.migrate_on_start,
            listen: raw.value(&http::LISTEN)?,
            graph_url,
            graph_scope: raw.or(&cloud::GRAPH_SCOPE, cloud.graph_scope())?,
            cloud,
            credential_authority: (authority_explicit || cloud != Cloud::Public).then(|| authority_host.clone()),
            graph_timeout: d.graph_timeout,
            credential: credential::credential(raw)?,
            workers: d.workers,
            max_body_bytes,
            max_message_bytes,
            max_recipients: limits::max_recipients(raw)?,
            max_attempts: d.max_attempts,
            lease: d.lease,
            poll_interval: d.poll_interval,
            log_format: raw.value(&telemetry::LOG_FORMAT)?,
            guarantee: raw.value(&delivery::DELIVERY_GUARANTEE)?,
            message_ttl: d.message_ttl,
            limits,
            idempotency_ttl: r.idempotency_ttl,
            body_retention: r.body_retention,
            audit_retention_days: r.audit_retention_days,
            shutdown_grace: d.shutdown_grace,
            drift_cooldown: d.drift_cooldown,
            allow_unknown_mailboxes: raw.value(&delivery::ALLOW_UNKNOWN_MAILBOXES)?,
            entra: entra::entra(raw, authority_host)?,
            http,
            metrics_max_series: telemetry::metrics_max_series(raw)?,
            audit_seal_interval: r.audit_seal_interval,
            audit_reads: audit_reads::audit_reads(raw)?,
            smtp: smtp::smtp(raw)?,
        })
    }
}

mod audit_reads;
mod cloud;
mod credential;
mod db;
mod db_auth;
mod delivery;
#[cfg(test)]
mod docs;
mod entra;
mod http;
pub mod identity;
mod limits;
mod retention;
mod setting;
mod smtp;
mod sources;
mod telemetry;
#[cfg(test)]
mod tests;

pub use audit_reads::AuditReads;
pub use cloud::Cloud;
pub use credential::CredentialKind;
pub use db_auth::{DEFAULT_DB_SCOPE, DbAuth};
pub use delivery::Guarantee;
pub use http::HttpSettings;
pub use limits::Limits;
pub use smtp::{SmtpSettings, TlsFiles};
use sources::Raw;
