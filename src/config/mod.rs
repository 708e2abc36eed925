//! Settings: defaults, then an optional TOML file, then `MAILGATE_*` environment variables (and `DATABASE_URL`).
//! Everything is parsed and checked once, at start; an error names the setting that is wrong.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;

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

#[derive(Clone)]
pub struct Settings {
    /// The service role `serve` runs as.
    pub database_url: String,
    /// The owner role migrations run as; None: DATABASE_URL's role (a one-role setup).
    pub migration_database_url: Option<String>,
    /// Where LISTEN connects, directly to Postgres; None: DATABASE_URL (which then must not be a pooler).
    pub listen_database_url: Option<String>,
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

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &"<redacted>")
            .field("db_auth", &self.db_auth)
            .field("listen", &self.listen)
            .field("graph_url", &self.graph_url.as_str())
            .field("credential", &self.credential)
            .field("workers", &self.workers)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_recipients", &self.max_recipients)
            .field("max_attempts", &self.max_attempts)
            .field("entra", &self.entra)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Raw values by setting key (`listen`, `graph_url`, …) before parsing.
struct Raw {
    values: BTreeMap<String, String>,
}

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn parse<T>(&self, key: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| invalid(key, e.to_string())),
        }
    }

    fn required(&self, key: &'static str) -> Result<String, ConfigError> {
        self.get(key).map(str::to_owned).ok_or(ConfigError::Missing { key, env: env_name(key) })
    }
}

pub fn env_name(key: &str) -> String {
    if key == "database_url" { "DATABASE_URL".to_owned() } else { format!("MAILGATE_{}", key.to_ascii_uppercase()) }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, env: env_name(key), reason: reason.into() }
}

const KEYS: &[&str] = &[
    "database_url",
    "migration_database_url",
    "listen_database_url",
    "db_max_connections",
    "db_auth",
    "db_scope",
    "listen",
    "cloud",
    "graph_url",
    "graph_scope",
    "graph_timeout_secs",
    "credential",
    "managed_identity_client_id",
    "tenant_id",
    "client_id",
    "client_secret",
    "migrate_on_start",
    "workers",
    "max_body_bytes",
    "max_message_bytes",
    "max_recipients",
    "max_attempts",
    "lease_secs",
    "poll_interval_ms",
    "log_format",
    "drift_cooldown_secs",
    "allow_unknown_mailboxes",
    "delivery_guarantee",
    "message_ttl_secs",
    "mailbox_concurrency",
    "mailbox_messages_per_minute",
    "app_messages_per_minute",
    "app_recipients_per_day",
    "large_messages",
    "idempotency_ttl_secs",
    "body_retention_secs",
    "audit_retention_days",
    "shutdown_grace_secs",
    "metrics_max_series",
    "audit_seal_secs",
    "audit_database_url",
    "audit_db_max_connections",
    "audit_statement_timeout_secs",
    "app_refusals_per_minute",
    "entra_tenant_id",
    "entra_audiences",
    "entra_allowed_tenants",
    "entra_authority_host",
    "entra_leeway_secs",
    "entra_refresh_secs",
    "entra_min_refetch_secs",
];

impl Settings {
    /// Where migrations connect, and the setting that named it (for errors).
    pub fn migration_url(&self) -> (&str, String) {
        match &self.migration_database_url {
            Some(url) => (url, env_name("migration_database_url")),
            None => (&self.database_url, env_name("database_url")),
        }
    }

    /// Loads from the process environment and an optional TOML file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_sources(file, |name| std::env::var(name).ok())
    }

    /// Loads from an explicit environment lookup, so tests need not touch the process environment.
    pub fn from_sources(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        if let Some(path) = file {
            values.extend(read_file(path)?);
        }
        for key in KEYS.iter().chain(http::KEYS) {
            if let Some(v) = env(&env_name(key)) {
                values.insert((*key).to_owned(), v);
            }
        }
        Self::from_raw(&Raw { values })
    }

    fn from_raw(raw: &Raw) -> Result<Self, ConfigError> {
        let cloud = cloud::cloud(raw)?;
        let (authority_host, authority_explicit) = cloud::authority_host(raw, cloud)?;
        let graph_url: Url = raw.parse("graph_url", Url::parse(cloud.endpoints().graph_url).expect("valid"))?;
        if !matches!(graph_url.scheme(), "http" | "https") || graph_url.host().is_none() {
            return Err(invalid("graph_url", "must be an http(s) URL with a host"));
        }
        // Graph answers a sendMail in a few hundred milliseconds, and a worker holds its slot until the outcome is
        // committed: 32 keeps a replica near a hundred messages a second against Graph, and lets claims and
        // outcome writes share round trips under load (the send benchmark delivered 0.23× its ceiling with 8, 0.41×
        // with 32 and no more with 64).
        let workers: usize = raw.parse("workers", 32)?;
        if !(1..=256).contains(&workers) {
            return Err(invalid("workers", "must be between 1 and 256"));
        }
        let max_recipients: usize = raw.parse("max_recipients", 500)?;
        if !(1..=1000).contains(&max_recipients) {
            return Err(invalid("max_recipients", "must be between 1 and 1000 (Exchange's own range)"));
        }
        let max_attempts: i32 = raw.parse("max_attempts", 6)?;
        if !(1..=100).contains(&max_attempts) {
            return Err(invalid("max_attempts", "must be between 1 and 100"));
        }
        let max_message_bytes: usize = raw.parse("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)?;
        if !(1024..=MAX_UPLOAD_MESSAGE_BYTES).contains(&max_message_bytes) {
            return Err(invalid("max_message_bytes", "must be between 1024 and 157286400 (Graph's 150 MB)"));
        }
        let limits = limits(raw)?;
        let (max_body_bytes, http) = http::with_body_limit(raw, max_message_bytes, limits.large_messages)?;
        let graph_timeout: u64 = raw.parse("graph_timeout_secs", 30)?;
        if graph_timeout == 0 {
            return Err(invalid("graph_timeout_secs", "must be above 0"));
        }
        // A live worker keeps its lease going while a send lasts (large messages take several requests), so the
        // lease need only outlast one request and the wait for the next renewal; after a crash it is how long the
        // messages in flight stay `sending` before they are swept.
        let lease_secs: u64 = raw.parse("lease_secs", graph_timeout.saturating_mul(2))?;
        if lease_secs <= graph_timeout {
            return Err(invalid("lease_secs", "must be longer than MAILGATE_GRAPH_TIMEOUT_SECS"));
        }
        let poll_ms: u64 = raw.parse("poll_interval_ms", 1000)?;
        if !(10..=60_000).contains(&poll_ms) {
            return Err(invalid("poll_interval_ms", "must be between 10 and 60000"));
        }
        let log_format = match raw.get("log_format").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid("log_format", format!("`{other}`: expected text or json")));
            }
        };
        Ok(Settings {
            database_url: raw.required("database_url")?,
            migration_database_url: raw.get("migration_database_url").map(str::to_owned),
            listen_database_url: raw.get("listen_database_url").map(str::to_owned),
            db_max_connections: match raw.parse("db_max_connections", 10)? {
                n @ 2..=500 => n,
                _ => return Err(invalid("db_max_connections", "must be between 2 and 500")),
            },
            db_auth: db_auth(raw, cloud)?,
            listen: raw.parse("listen", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            graph_url,
            graph_scope: raw.get("graph_scope").map_or_else(|| cloud.graph_scope(), str::to_owned),
            cloud,
            credential_authority: (authority_explicit || cloud != Cloud::Public).then(|| authority_host.clone()),
            graph_timeout: Duration::from_secs(graph_timeout),
            credential: credential(raw)?,
            migrate_on_start: raw.parse("migrate_on_start", true)?,
            workers,
            max_body_bytes,
            max_message_bytes,
            max_recipients,
            max_attempts,
            lease: Duration::from_secs(lease_secs),
            poll_interval: Duration::from_millis(poll_ms),
            log_format,
            guarantee: match raw.get("delivery_guarantee").unwrap_or("at-most-once") {
                "at-most-once" => Guarantee::AtMostOnce,
                "at-least-once" => Guarantee::AtLeastOnce,
                other => {
                    return Err(invalid(
                        "delivery_guarantee",
                        format!("`{other}`: expected at-most-once or at-least-once"),
                    ));
                }
            },
            message_ttl: Duration::from_secs(positive(raw, "message_ttl_secs", 86_400)?),
            limits,
            idempotency_ttl: Duration::from_secs(positive(raw, "idempotency_ttl_secs", 86_400)?),
            body_retention: Duration::from_secs(raw.parse("body_retention_secs", 0)?),
            audit_retention_days: match raw.parse("audit_retention_days", 400)? {
                n @ 1..=36_500 => n,
                _ => return Err(invalid("audit_retention_days", "must be between 1 and 36500")),
            },
            shutdown_grace: Duration::from_secs(raw.parse("shutdown_grace_secs", graph_timeout + 5)?),
            drift_cooldown: match raw.parse::<u64>("drift_cooldown_secs", 0)? {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
            allow_unknown_mailboxes: raw.parse("allow_unknown_mailboxes", false)?,
            entra: entra(raw, authority_host)?,
            http,
            metrics_max_series: match raw.parse("metrics_max_series", crate::metrics::DEFAULT_MAX_SERIES)? {
                n @ 10..=100_000 => n,
                _ => return Err(invalid("metrics_max_series", "must be between 10 and 100000")),
            },
            audit_seal_interval: match raw.parse("audit_seal_secs", 5)? {
                n @ 1..=3600 => Duration::from_secs(n),
                _ => return Err(invalid("audit_seal_secs", "must be between 1 and 3600")),
            },
            audit_reads: audit_reads(raw)?,
        })
    }
}

fn list(raw: &Raw, key: &str) -> Vec<String> {
    raw.get(key)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Exchange Online's default maximum message size, 35 MB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 35 * 1024 * 1024;
/// Graph takes attachments up to 150 MB through upload sessions.
const MAX_UPLOAD_MESSAGE_BYTES: usize = 150 * 1024 * 1024;

/// Reads a flat TOML table whose keys are the setting keys (`listen = "0.0.0.0:8080"`).
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_err = |reason: String| ConfigError::File { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_err(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        if !KEYS.contains(&key.as_str()) && !http::KEYS.contains(&key.as_str()) {
            return Err(file_err(format!("unknown setting `{key}`")));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(file_err(format!(
                    "`{key}` must be a string, integer or boolean, not {}",
                    other.type_str()
                )));
            }
        };
        out.insert(key, value);
    }
    Ok(out)
}

mod audit_reads;
mod cloud;
mod credential;
mod db_auth;
mod delivery;
mod entra;
mod http;
#[cfg(test)]
mod tests;

pub use audit_reads::AuditReads;
use audit_reads::audit_reads;
pub use cloud::Cloud;
pub use credential::CredentialKind;
use credential::credential;
use db_auth::db_auth;
pub use db_auth::{DEFAULT_DB_SCOPE, DbAuth};
pub use delivery::{Guarantee, Limits};
use delivery::{limits, positive};
use entra::entra;
pub use http::HttpSettings;
