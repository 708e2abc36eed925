//! The label values each family is known to take, so that every series dashboards and alerts query exists from the
//! first scrape, at zero: a series that appears only with its first event reads "no data" on a panel and keeps a
//! `rate()` alert from ever firing. Each list names where its values come from.

use prometheus_client::metrics::counter::Counter;

use super::Metrics;
use super::labels::{Outcome, Quota, Reason, ResultLabel, Status};

/// `mailgate_auth_failures_total{reason}`: auth::authenticate's reasons, auth::entra's `TokenError::reason`, and
/// routes::access's own.
pub const AUTH_FAILURE_REASONS: [&str; 19] = [
    "missing",
    "malformed",
    "bad_scheme",
    "unknown_key",
    "not_a_credential",
    "malformed_token",
    "unsupported_algorithm",
    "unknown_signing_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "wrong_tenant",
    "delegated_token",
    "missing_claim",
    "keys_unavailable",
    "unregistered_app",
    "missing_role",
];

/// `mailgate_http_shed_total{reason}`: startup::edge's concurrency limit and request timeout, body_budget.
pub const SHED_REASONS: [&str; 3] = ["overloaded", "request_timeout", "body_budget"];

/// `mailgate_decisions_total{result}`.
pub const DECISIONS: [&str; 2] = ["granted", "denied"];

/// `mailgate_quota_refusals_total{quota}`: accept::refusal's quotas and accept::refusal_budget's.
pub const QUOTAS: [&str; 3] = ["messages_per_minute", "recipients_per_day", "refusals_per_minute"];

/// `mailgate_graph_attempts_total{outcome}`: the audit outcomes delivery::outcome's `classify` gives an attempt.
pub const GRAPH_OUTCOMES: [&str; 6] = ["sent", "exchange_denied", "rejected", "throttled", "unavailable", "unknown"];

/// `mailgate_graph_token_fetches_total{result}`.
pub const TOKEN_RESULTS: [&str; 3] = ["fetched", "cached", "error"];

/// `mailgate_outbox_messages{status}`.
pub const OUTBOX_STATUSES: [&str; 2] = ["queued", "sending"];

/// Every known label set at zero, so that the series exist before their first event.
pub(super) fn seed(m: &Metrics) {
    let zero = |_: &Counter| {};
    for reason in AUTH_FAILURE_REASONS {
        m.auth_failures.with(Reason { reason }, zero);
    }
    for reason in SHED_REASONS {
        m.http_shed.with(Reason { reason }, zero);
    }
    for result in DECISIONS {
        m.decisions.with(ResultLabel { result }, zero);
    }
    for quota in QUOTAS {
        m.quota_refusals.with(Quota { quota }, zero);
    }
    for outcome in GRAPH_OUTCOMES {
        m.graph_attempts.with(Outcome { outcome }, zero);
    }
    for result in TOKEN_RESULTS {
        m.token_fetches.with(ResultLabel { result }, zero);
    }
    for status in OUTBOX_STATUSES {
        m.outbox.get_or_create(&Status { status }).set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::entra::TokenError;
    use crate::db::audit::Outcome;

    #[test]
    fn every_token_refusal_and_attempt_outcome_is_listed() {
        let refusals = [
            TokenError::Malformed(String::new()),
            TokenError::UnsupportedAlgorithm(String::new()),
            TokenError::UnknownSigningKey(String::new()),
            TokenError::BadSignature,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::WrongAudience(String::new()),
            TokenError::WrongIssuer(String::new()),
            TokenError::WrongTenant(String::new()),
            TokenError::NotAppOnly(String::new()),
            TokenError::MissingClaim("x"),
            TokenError::KeysUnavailable,
        ];
        for e in refusals {
            assert!(AUTH_FAILURE_REASONS.contains(&e.reason()), "{}", e.reason());
        }
        for o in GRAPH_OUTCOMES {
            assert!(Outcome::parse(o).is_some(), "{o} is no audit outcome");
        }
    }
}
