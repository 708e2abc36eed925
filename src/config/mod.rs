//! Settings: defaults, then an optional TOML file, then `MAILGATE_*` environment variables (and `DATABASE_URL`).
//! Each setting is declared once, in the module of its area (`settings!`: key, variable, type, default, description,
//! secret or not); everything is parsed and checked once, at start; an error names the setting that is wrong.

use std::path::Path;

use secrecy::ExposeSecret;

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

/// Every setting, grouped by the area that declares it (each group's type is defined in its area's module).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where database connections go and how they authenticate.
    pub db: DbSettings,
    /// MAILGATE_CLOUD: the defaults of the authority, Graph and the database scope.
    pub cloud: Cloud,
    /// How mailgate reaches Graph.
    pub graph: GraphSettings,
    /// Mailgate's own credential, for Graph and, under MAILGATE_DB_AUTH=entra, the database.
    pub credential: CredentialSettings,
    pub delivery: DeliverySettings,
    pub limits: Limits,
    pub http: HttpSettings,
    /// Entra ID tokens from callers; None when only API keys are accepted.
    pub entra: Option<EntraSettings>,
    /// Where and how the audit endpoints read.
    pub audit_reads: AuditReads,
    pub retention: RetentionSettings,
    pub telemetry: TelemetrySettings,
    /// SMTP ingress; None when no SMTP listener is set.
    pub smtp: Option<SmtpSettings>,
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
            max_recipients: self.limits.max_recipients,
            max_message_bytes: self.limits.max_message_bytes,
            large_messages: self.limits.large_messages,
        }
    }

    /// Where migrations connect, and the setting that named it (for errors).
    pub fn migration_url(&self) -> (&str, String) {
        match &self.db.migration_url {
            Some(url) => (url.expose_secret(), db::MIGRATION_DATABASE_URL.spec.env.to_owned()),
            None => (self.db.url.expose_secret(), db::DATABASE_URL.spec.env.to_owned()),
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
        let graph_timeout = delivery::graph_timeout(raw)?;
        let limits = limits::limits(raw)?;
        // Mailgate's own credential keeps the SDK's default authority unless one is set or the cloud has its own.
        let credential_authority = (authority_explicit || cloud != Cloud::Public).then(|| authority_host.clone());
        Ok(Settings {
            graph: cloud::graph(raw, cloud, graph_timeout)?,
            http: http::http(raw, &limits)?,
            delivery: delivery::delivery(raw, graph_timeout)?,
            retention: retention::retention(raw)?,
            db: db::db(raw, cloud)?,
            cloud,
            credential: credential::credential(raw, credential_authority)?,
            limits,
            telemetry: telemetry::telemetry(raw)?,
            entra: entra::entra(raw, authority_host)?,
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
pub use cloud::{Cloud, GraphSettings};
pub use credential::{CredentialKind, CredentialSettings};
pub use db::DbSettings;
pub use db_auth::{DEFAULT_DB_SCOPE, DbAuth};
pub use delivery::{DeliverySettings, Guarantee};
pub use entra::EntraSettings;
pub use http::HttpSettings;
pub use limits::Limits;
pub use retention::RetentionSettings;
pub use smtp::{Network, SmtpSettings, TlsFiles};
use sources::Raw;
pub use telemetry::{LogFormat, TelemetrySettings};
