//! Delivery settings: how many sends run at once and how long each may take, how often a fault is retried, the
//! guarantee for ambiguous answers, and how long a message may wait.

use std::time::Duration;

use super::ConfigError;
use super::setting::{DefaultIs, Parse, Setting, settings};
use super::sources::{Raw, invalid};

settings! {
    /// concurrent Graph sends per process (and ≤ 4 per mailbox); a send holds a database connection only for its
    /// claim, its body and its outcome, so they share the pool
    WORKERS: usize = "workers", "MAILGATE_WORKERS", DefaultIs::Value("32");
    /// attempts before a retryable fault becomes `failed`
    MAX_ATTEMPTS: i32 = "max_attempts", "MAILGATE_MAX_ATTEMPTS", DefaultIs::Value("6");
    /// per Graph request
    GRAPH_TIMEOUT_SECS: u64 = "graph_timeout_secs", "MAILGATE_GRAPH_TIMEOUT_SECS", DefaultIs::Value("30");
    /// how long a claimed message stays `sending` without word from its worker (which renews it while a send lasts)
    /// before it counts as lost: `unknown`, or queued again under at-least-once; above the Graph timeout
    LEASE_SECS: u64 = "lease_secs", "MAILGATE_LEASE_SECS", DefaultIs::Derived("2 × Graph timeout (`60`)");
    /// how often due retries are looked for and lost leases and expired messages swept (new messages wake workers
    /// at once)
    POLL_INTERVAL_MS: u64 = "poll_interval_ms", "MAILGATE_POLL_INTERVAL_MS", DefaultIs::Value("1000");
    /// or `at-least-once`: what to do when Graph may or may not have a message
    DELIVERY_GUARANTEE: Guarantee = "delivery_guarantee", "MAILGATE_DELIVERY_GUARANTEE",
        DefaultIs::Value("at-most-once");
    /// a message not sent by then fails, and is never sent late
    MESSAGE_TTL_SECS: u64 = "message_ttl_secs", "MAILGATE_MESSAGE_TTL_SECS", DefaultIs::Value("86400");
    /// how long SIGTERM waits for sends in flight
    SHUTDOWN_GRACE_SECS: u64 = "shutdown_grace_secs", "MAILGATE_SHUTDOWN_GRACE_SECS",
        DefaultIs::Derived("Graph timeout + 5");
    /// deny a pair locally this long after Exchange refused it (0: off)
    DRIFT_COOLDOWN_SECS: u64 = "drift_cooldown_secs", "MAILGATE_DRIFT_COOLDOWN_SECS", DefaultIs::Value("0");
    /// send as names the directory does not list (only matters once it lists mailboxes)
    ALLOW_UNKNOWN_MAILBOXES: bool = "allow_unknown_mailboxes", "MAILGATE_ALLOW_UNKNOWN_MAILBOXES",
        DefaultIs::Value("false");
}

/// What to do when Graph may or may not have accepted a message (timeout, dropped connection, 500/502/504).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarantee {
    /// Mark it `unknown` and never resend: no duplicates, possibly a lost message. The default.
    AtMostOnce,
    /// Send it again: never lost, possibly delivered twice.
    AtLeastOnce,
}

impl Parse for Guarantee {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "at-most-once" => Ok(Self::AtMostOnce),
            "at-least-once" => Ok(Self::AtLeastOnce),
            other => Err(format!("`{other}`: expected at-most-once or at-least-once")),
        }
    }
}

#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// Sends in flight per process.
    pub workers: usize,
    pub max_attempts: i32,
    /// How long a claimed message stays `sending` without word from its worker.
    pub lease: Duration,
    pub poll_interval: Duration,
    pub guarantee: Guarantee,
    /// A message not delivered within this time after acceptance fails.
    pub message_ttl: Duration,
    /// How long SIGTERM waits for sends in flight.
    pub shutdown_grace: Duration,
    /// After Exchange refuses a pair the mirror granted, deny it locally this long (None: off).
    pub drift_cooldown: Option<Duration>,
    /// Whether a `from` the directory does not know may be sent as when the directory lists mailboxes.
    pub allow_unknown_mailboxes: bool,
}

/// MAILGATE_GRAPH_TIMEOUT_SECS, which Graph's settings hold: declared here, as the lease and the shutdown grace
/// follow it.
pub(super) fn graph_timeout(raw: &Raw) -> Result<Duration, ConfigError> {
    match raw.value(&GRAPH_TIMEOUT_SECS)? {
        0 => Err(invalid(&GRAPH_TIMEOUT_SECS.spec, "must be above 0")),
        secs => Ok(Duration::from_secs(secs)),
    }
}

pub(super) fn delivery(raw: &Raw, graph_timeout: Duration) -> Result<DeliverySettings, ConfigError> {
    // Graph answers a sendMail in a few hundred milliseconds, and a worker holds its slot until the outcome is
    // committed: 32 keeps a replica near a hundred messages a second against Graph, and lets claims and
    // outcome writes share round trips under load (the send benchmark delivered 0.23× its ceiling with 8, 0.41×
    // with 32 and no more with 64).
    let workers = raw.value(&WORKERS)?;
    if !(1..=256).contains(&workers) {
        return Err(invalid(&WORKERS.spec, "must be between 1 and 256"));
    }
    let max_attempts = raw.value(&MAX_ATTEMPTS)?;
    if !(1..=100).contains(&max_attempts) {
        return Err(invalid(&MAX_ATTEMPTS.spec, "must be between 1 and 100"));
    }
    let graph_timeout = graph_timeout.as_secs();
    // A live worker keeps its lease going while a send lasts (large messages take several requests), so the
    // lease need only outlast one request and the wait for the next renewal; after a crash it is how long the
    // messages in flight stay `sending` before they are swept.
    let lease_secs = raw.or(&LEASE_SECS, graph_timeout.saturating_mul(2))?;
    if lease_secs <= graph_timeout {
        return Err(invalid(&LEASE_SECS.spec, format!("must be longer than {}", GRAPH_TIMEOUT_SECS.spec.env)));
    }
    let poll_ms = raw.value(&POLL_INTERVAL_MS)?;
    if !(10..=60_000).contains(&poll_ms) {
        return Err(invalid(&POLL_INTERVAL_MS.spec, "must be between 10 and 60000"));
    }
    Ok(DeliverySettings {
        workers,
        max_attempts,
        lease: Duration::from_secs(lease_secs),
        poll_interval: Duration::from_millis(poll_ms),
        guarantee: raw.value(&DELIVERY_GUARANTEE)?,
        message_ttl: Duration::from_secs(positive(raw, &MESSAGE_TTL_SECS)?),
        shutdown_grace: Duration::from_secs(raw.or(&SHUTDOWN_GRACE_SECS, graph_timeout + 5)?),
        drift_cooldown: match raw.value(&DRIFT_COOLDOWN_SECS)? {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        },
        allow_unknown_mailboxes: raw.value(&ALLOW_UNKNOWN_MAILBOXES)?,
    })
}

pub(super) fn positive(raw: &Raw, setting: &Setting<u64>) -> Result<u64, ConfigError> {
    match raw.value(setting)? {
        0 => Err(invalid(&setting.spec, "must be above 0")),
        v => Ok(v),
    }
}
