//! How long things are kept: idempotency keys, message bodies, the audit log's months; and how soon audit rows are
//! sealed into the hash chain.

use std::time::Duration;

use super::ConfigError;
use super::delivery::positive;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};

settings! {
    /// how long an `Idempotency-Key` is remembered
    IDEMPOTENCY_TTL_SECS: u64 = "idempotency_ttl_secs", "MAILGATE_IDEMPOTENCY_TTL_SECS", DefaultIs::Value("86400");
    /// keep message bodies this long after the final status
    BODY_RETENTION_SECS: u64 = "body_retention_secs", "MAILGATE_BODY_RETENTION_SECS", DefaultIs::Value("0");
    /// `mailgate audit purge` (run as the owner) drops the audit log's months that ended this many days ago
    /// (1-36500); the service itself never drops any ([docs/audit.md](docs/audit.md#retention-mailgate-audit-purge))
    AUDIT_RETENTION_DAYS: i32 = "audit_retention_days", "MAILGATE_AUDIT_RETENTION_DAYS", DefaultIs::Value("400");
    /// how often audit rows are sealed into the hash chain (1-3600): about the longest a new audit row goes unsealed
    /// ([docs/audit-chain.md](docs/audit-chain.md))
    AUDIT_SEAL_SECS: u64 = "audit_seal_secs", "MAILGATE_AUDIT_SEAL_SECS", DefaultIs::Value("5");
}

#[derive(Clone, Debug)]
pub struct RetentionSettings {
    pub idempotency_ttl: Duration,
    /// How long a message's body is kept after its final status (0: purged at once).
    pub body_retention: Duration,
    /// `mailgate audit purge` drops the audit log's month partitions that ended this many days ago.
    pub audit_retention_days: i32,
    /// How often audit rows are sealed into the hash chain: the longest an audit row stays unsealed, roughly.
    pub audit_seal_interval: Duration,
}

pub(super) fn retention(raw: &Raw) -> Result<RetentionSettings, ConfigError> {
    let audit_retention_days = raw.value(&AUDIT_RETENTION_DAYS)?;
    if !(1..=36_500).contains(&audit_retention_days) {
        return Err(invalid(&AUDIT_RETENTION_DAYS.spec, "must be between 1 and 36500"));
    }
    let seal = raw.value(&AUDIT_SEAL_SECS)?;
    if !(1..=3600).contains(&seal) {
        return Err(invalid(&AUDIT_SEAL_SECS.spec, "must be between 1 and 3600"));
    }
    Ok(RetentionSettings {
        idempotency_ttl: Duration::from_secs(positive(raw, &IDEMPOTENCY_TTL_SECS)?),
        body_retention: Duration::from_secs(raw.value(&BODY_RETENTION_SECS)?),
        audit_retention_days,
        audit_seal_interval: Duration::from_secs(seal),
    })
}
