//! Settings for the HTTP edge: how long a caller may take, how many requests run at once, how large a body may be and
//! how much all of them may take at once, and how many failed authentications a source may make.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderName;

use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};
use super::{ConfigError, Limits, limits};
use crate::domain::message::GRAPH_MAX_REQUEST_BYTES;

settings! {
    /// address to serve on
    LISTEN: SocketAddr = "listen", "MAILGATE_LISTEN", DefaultIs::Value("127.0.0.1:8080");
    /// largest request body read: by default what can be delivered (Graph's 4 MB request without large messages); a
    /// larger one is refused `413 body_too_large` by its declared length, unread. An import bundle over it goes
    /// through `mailgate sync import`
    MAX_BODY_BYTES: usize = "max_body_bytes", "MAILGATE_MAX_BODY_BYTES", DefaultIs::Derived(
        "`5242880` (5 MiB); with large messages on, max message bytes × 4/3 + 1 MiB (`49982124`)");
    /// what request bodies may take at once per process, each charged three times its length (what handling it holds
    /// at its peak); at least three times `MAILGATE_MAX_BODY_BYTES`. A body that would pass it is refused, never held
    /// (its bytes dropped as they arrive), with `503 overloaded` and `Retry-After`. With
    /// `MAILGATE_LARGE_MESSAGES=true` the largest body (about 48 MiB) is charged about 143 MiB, so the default takes
    /// one at a time: raise it, and the memory given to the process, to take more
    MAX_INFLIGHT_BODY_BYTES: usize = "max_inflight_body_bytes", "MAILGATE_MAX_INFLIGHT_BODY_BYTES",
        DefaultIs::Explained("268435456", "256 MiB");
    /// an HTTP/1.1 connection that has not sent a whole request head in this time (or sat idle this long) is closed
    /// (1-300)
    HEADER_READ_TIMEOUT_SECS: u64 = "header_read_timeout_secs", "MAILGATE_HEADER_READ_TIMEOUT_SECS",
        DefaultIs::Value("30");
    /// a request not answered in this time, body upload included, gets 503 `request_timeout`; at least 35, so
    /// `Prefer: wait` (≤ 30 s) is never cut
    REQUEST_TIMEOUT_SECS: u64 = "request_timeout_secs", "MAILGATE_REQUEST_TIMEOUT_SECS", DefaultIs::Value("120");
    /// requests handled at once per process; more get 503 `overloaded` with `Retry-After` (`/healthz` and `/readyz`
    /// are exempt)
    MAX_CONCURRENT_REQUESTS: usize = "max_concurrent_requests", "MAILGATE_MAX_CONCURRENT_REQUESTS",
        DefaultIs::Value("512");
    /// failed authentications per source address (IPv6: per /64) per minute; more get 429 `too_many_auth_failures`
    /// unchecked
    AUTH_FAILURES_PER_MINUTE: u32 = "auth_failures_per_minute", "MAILGATE_AUTH_FAILURES_PER_MINUTE",
        DefaultIs::Value("30");
    /// of those, how many per source are written to the audit log; the rest are counted in metrics
    AUTH_FAILURES_AUDITED_PER_MINUTE: u32 = "auth_failures_audited_per_minute",
        "MAILGATE_AUTH_FAILURES_AUDITED_PER_MINUTE", DefaultIs::Value("10");
    /// behind a load balancer, the header it sets to the client's address (e.g. `X-Forwarded-For`; its last entry is
    /// used) for the failure limit; unset: the TCP peer. Set it only when mailgate is reachable through that load
    /// balancer alone
    CLIENT_ADDRESS_HEADER: HeaderName = "client_address_header", "MAILGATE_CLIENT_ADDRESS_HEADER",
        DefaultIs::Unset(None);
}

/// The body budget is counted in KiB internally; 64 GiB is far beyond any pod and within that count's range.
const MOST_INFLIGHT_BODY_BYTES: usize = 64 << 30;

/// The longest `Prefer: wait` a send honours; a request timeout must leave room for it.
const LONGEST_PREFER_WAIT_SECS: u64 = 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// The address to serve on.
    pub listen: SocketAddr,
    /// The largest request body read; a larger one is refused 413 by its declared length, unread.
    pub max_body_bytes: usize,
    /// An HTTP/1 connection that has not sent a whole request head within this time is closed. It also closes a
    /// keep-alive connection idle this long.
    pub header_read_timeout: Duration,
    /// A request not answered within this time (reading its body included) gets 503 `request_timeout`.
    pub request_timeout: Duration,
    /// Requests handled at once; more are answered 503 `overloaded` at once. Health probes do not count.
    pub max_concurrent_requests: usize,
    /// Failed authentications one source may make per minute; more get 429 without being checked.
    pub auth_failures_per_minute: u32,
    /// Of those, how many per source per minute are written to the audit log; the rest are counted in metrics.
    pub auth_failures_audited_per_minute: u32,
    /// A header the load balancer in front sets to the client's address (`X-Forwarded-For`): its last entry, the
    /// one that load balancer appended, is the source for the failure limit. None: the TCP peer's address.
    pub client_address_header: Option<HeaderName>,
    /// What request bodies may take at once, in bytes, across every request of this process, each charged three
    /// times its length (what handling it holds at its peak); a body that would pass it is refused 503 `overloaded`
    /// without being held.
    pub max_inflight_body_bytes: usize,
}

impl Default for HttpSettings {
    /// The declared defaults.
    fn default() -> Self {
        let raw = Raw::defaults();
        limits::limits(&raw).and_then(|limits| http(&raw, &limits)).expect("the declared defaults are valid")
    }
}

/// The largest request body worth reading: one that can hold the largest message that can be delivered. Without
/// large messages that is Graph's 4 MB request (a message over it is refused 413 whatever its size); with them, the
/// largest message in base64 JSON. Either way with room for the rest of the request.
fn default_body_limit(max_message_bytes: usize, large_messages: bool) -> usize {
    let largest = max_message_bytes.div_ceil(3) * 4 + 1024 * 1024;
    if large_messages { largest } else { largest.min(GRAPH_MAX_REQUEST_BYTES + 1024 * 1024) }
}

/// The HTTP settings: the body limit follows the message limits unless set, and the body budget is checked against it.
pub(super) fn http(raw: &Raw, limits: &Limits) -> Result<HttpSettings, ConfigError> {
    let max_body_bytes =
        raw.or(&MAX_BODY_BYTES, default_body_limit(limits.max_message_bytes, limits.large_messages))?;
    if max_body_bytes < 1024 {
        return Err(invalid(&MAX_BODY_BYTES.spec, "must be at least 1024"));
    }
    let http = edge(raw, max_body_bytes)?;
    // A body is charged three times its length (crate::body_budget): the budget must hold the largest one.
    if http.max_inflight_body_bytes < max_body_bytes.saturating_mul(3) {
        return Err(invalid(
            &MAX_INFLIGHT_BODY_BYTES.spec,
            format!(
                "must be at least three times MAILGATE_MAX_BODY_BYTES ({}), as each body is charged three times its \
                 length; else no body that large is ever read",
                max_body_bytes.saturating_mul(3)
            ),
        ));
    }
    Ok(http)
}

/// The HTTP settings but for the body limit, each checked on its own.
fn edge(raw: &Raw, max_body_bytes: usize) -> Result<HttpSettings, ConfigError> {
    let listen = raw.value(&LISTEN)?;
    let header_read = raw.value(&HEADER_READ_TIMEOUT_SECS)?;
    if !(1..=300).contains(&header_read) {
        return Err(invalid(&HEADER_READ_TIMEOUT_SECS.spec, "must be between 1 and 300"));
    }
    let request = raw.value(&REQUEST_TIMEOUT_SECS)?;
    if !(LONGEST_PREFER_WAIT_SECS + 5..=3600).contains(&request) {
        return Err(invalid(
            &REQUEST_TIMEOUT_SECS.spec,
            "must be between 35 and 3600, so that `Prefer: wait` (up to 30 s) is never cut short",
        ));
    }
    let max_concurrent = raw.value(&MAX_CONCURRENT_REQUESTS)?;
    if !(1..=100_000).contains(&max_concurrent) {
        return Err(invalid(&MAX_CONCURRENT_REQUESTS.spec, "must be between 1 and 100000"));
    }
    let failures = raw.value(&AUTH_FAILURES_PER_MINUTE)?;
    if !(1..=1_000_000).contains(&failures) {
        return Err(invalid(&AUTH_FAILURES_PER_MINUTE.spec, "must be between 1 and 1000000"));
    }
    let audited = raw.value(&AUTH_FAILURES_AUDITED_PER_MINUTE)?;
    // Fewer failures allowed than the default audited share: the share follows.
    let audited = if raw.given(&AUTH_FAILURES_AUDITED_PER_MINUTE).is_some() { audited } else { audited.min(failures) };
    if audited > failures {
        return Err(invalid(
            &AUTH_FAILURES_AUDITED_PER_MINUTE.spec,
            "must be at most MAILGATE_AUTH_FAILURES_PER_MINUTE (failures beyond that are refused unchecked)",
        ));
    }
    let max_inflight_body_bytes = raw.value(&MAX_INFLIGHT_BODY_BYTES)?;
    if !(1024..=MOST_INFLIGHT_BODY_BYTES).contains(&max_inflight_body_bytes) {
        return Err(invalid(&MAX_INFLIGHT_BODY_BYTES.spec, "must be between 1024 and 68719476736 (64 GiB)"));
    }
    Ok(HttpSettings {
        listen,
        max_body_bytes,
        header_read_timeout: Duration::from_secs(header_read),
        request_timeout: Duration::from_secs(request),
        max_concurrent_requests: max_concurrent,
        auth_failures_per_minute: failures,
        auth_failures_audited_per_minute: audited,
        client_address_header: raw.get(&CLIENT_ADDRESS_HEADER)?,
        max_inflight_body_bytes,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{ConfigError, Settings};
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        map.insert("DATABASE_URL".to_owned(), "postgres://x/y".to_owned());
        Settings::from_sources(None, |name| map.get(name).cloned())
    }

    #[test]
    fn the_body_budget_defaults_to_256_mib_and_must_hold_the_largest_body() {
        let s = load(&[]).expect("loads");
        assert_eq!(s.http.max_inflight_body_bytes, 256 * 1024 * 1024);
        let err = load(&[("MAILGATE_MAX_BODY_BYTES", "2000000"), ("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "5999999")])
            .expect_err("smaller than one body's charge");
        assert!(err.to_string().contains("MAILGATE_MAX_INFLIGHT_BODY_BYTES"), "{err}");
        let s = load(&[("MAILGATE_MAX_BODY_BYTES", "2000000"), ("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "6000000")])
            .expect("one body fits");
        assert_eq!(s.http.max_inflight_body_bytes, 6_000_000);
        // With large messages the largest body is about 48 MiB: the default budget holds it too.
        assert!(load(&[("MAILGATE_LARGE_MESSAGES", "true")]).is_ok());
    }

    #[test]
    fn defaults_leave_room_for_the_longest_wait() {
        let s = load(&[]).expect("loads");
        assert_eq!(s.http, HttpSettings::default());
        assert!(s.http.request_timeout > Duration::from_secs(LONGEST_PREFER_WAIT_SECS));
    }

    #[test]
    fn values_are_read_and_checked() {
        let s = load(&[
            ("MAILGATE_HEADER_READ_TIMEOUT_SECS", "2"),
            ("MAILGATE_REQUEST_TIMEOUT_SECS", "40"),
            ("MAILGATE_MAX_CONCURRENT_REQUESTS", "3"),
            ("MAILGATE_AUTH_FAILURES_PER_MINUTE", "7"),
            ("MAILGATE_AUTH_FAILURES_AUDITED_PER_MINUTE", "4"),
            ("MAILGATE_CLIENT_ADDRESS_HEADER", "X-Forwarded-For"),
            ("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "100000000"),
        ])
        .expect("loads");
        assert_eq!(s.http.header_read_timeout, Duration::from_secs(2));
        assert_eq!(s.http.request_timeout, Duration::from_secs(40));
        assert_eq!((s.http.max_concurrent_requests, s.http.auth_failures_per_minute), (3, 7));
        assert_eq!(s.http.auth_failures_audited_per_minute, 4);
        assert_eq!(s.http.client_address_header, Some(HeaderName::from_static("x-forwarded-for")));
        assert_eq!(s.http.max_inflight_body_bytes, 100_000_000);
        // Fewer failures allowed than the default audited share: the share follows.
        let s = load(&[("MAILGATE_AUTH_FAILURES_PER_MINUTE", "3")]).expect("loads");
        assert_eq!(s.http.auth_failures_audited_per_minute, 3);
        for (name, bad) in [
            ("MAILGATE_HEADER_READ_TIMEOUT_SECS", "0"),
            ("MAILGATE_REQUEST_TIMEOUT_SECS", "30"),
            ("MAILGATE_REQUEST_TIMEOUT_SECS", "soon"),
            ("MAILGATE_MAX_CONCURRENT_REQUESTS", "0"),
            ("MAILGATE_AUTH_FAILURES_PER_MINUTE", "0"),
            ("MAILGATE_AUTH_FAILURES_AUDITED_PER_MINUTE", "31"),
            ("MAILGATE_CLIENT_ADDRESS_HEADER", "bad header"),
            ("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "1000"),
            ("MAILGATE_MAX_INFLIGHT_BODY_BYTES", "68719476737"),
        ] {
            let err = load(&[(name, bad)]).expect_err(bad);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
