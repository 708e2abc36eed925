//! Failed authentications per source address, in fixed one-minute windows held in memory: a source over its limit
//! is refused (429) before its credential is looked at, and only its first failures in a window are audited.
//!
//! Memory is bounded: at most `MAX_SOURCES` sources are told apart per window; later sources in the same window
//! share one count. That shared count never refuses anyone unchecked: the sources behind it are not known apart, so
//! refusing them would refuse a valid credential for the failures of others (whoever filled the table could lock
//! every new caller out). Their credentials are checked; their failures are counted, and audited only within the
//! shared share. IPv6 sources are counted per /64, the block one host usually controls.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Sources told apart per window.
const MAX_SOURCES: usize = 10_000;
/// Audit rows for failed authentication per window, from all sources together.
const MAX_AUDITED: u32 = 1_000;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Source {
    V4(Ipv4Addr),
    /// The upper 64 bits of an IPv6 address.
    V6(u64),
    /// No address known, or the window already tells `MAX_SOURCES` apart.
    Shared,
}

impl Source {
    fn of(ip: Option<IpAddr>) -> Self {
        match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => Self::V6((v6.to_bits() >> 64) as u64),
            None => Self::Shared,
        }
    }
}

struct Window {
    started: Instant,
    failures: HashMap<Source, u32>,
    audited: u32,
}

impl Window {
    /// A source new to a window that already tells `MAX_SOURCES` apart shares the count of the overflow.
    fn counted_as(&self, source: Source) -> Source {
        if self.failures.contains_key(&source) || self.failures.len() < MAX_SOURCES { source } else { Source::Shared }
    }
}

/// An address as proxies write it: `203.0.113.7`, `203.0.113.7:51234`, `2001:db8::1` or `[2001:db8::1]:443`.
pub fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>().ok().or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// What to do with a failure just counted.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    /// Write an audit row.
    Audit,
    /// Count it in metrics only: this source (or everyone) has had its audit rows for the window.
    CountOnly,
}

pub struct FailureLimiter {
    limit: u32,
    audited_per_source: u32,
    window: Duration,
    state: Mutex<Window>,
}

impl FailureLimiter {
    /// `limit` failures per source per minute; the first `audited_per_source` of them audited.
    pub fn new(limit: u32, audited_per_source: u32) -> Self {
        Self::with_window(limit, audited_per_source, WINDOW)
    }

    pub fn with_window(limit: u32, audited_per_source: u32, window: Duration) -> Self {
        let state = Window { started: Instant::now(), failures: HashMap::new(), audited: 0 };
        Self { limit, audited_per_source, window, state: Mutex::new(state) }
    }

    /// Before authenticating: `Err(retry_after)` when this source, counted apart, has used up its failures for the
    /// window. A source not counted apart (no address, or past `MAX_SOURCES`) is never refused here.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let w = self.current();
        let source = Source::of(ip);
        if source == Source::Shared {
            return Ok(());
        }
        if w.failures.get(&source).copied().unwrap_or(0) >= self.limit {
            let left = self.window.saturating_sub(w.started.elapsed());
            return Err(left.max(Duration::from_secs(1)));
        }
        Ok(())
    }

    /// Counts a failed authentication from this source and says whether it is worth an audit row.
    pub fn fail(&self, ip: Option<IpAddr>) -> Record {
        let mut w = self.current();
        let source = w.counted_as(Source::of(ip));
        let count = w.failures.entry(source).or_insert(0);
        *count = count.saturating_add(1);
        if *count <= self.audited_per_source && w.audited < MAX_AUDITED {
            w.audited += 1;
            Record::Audit
        } else {
            Record::CountOnly
        }
    }

    /// The window now, started afresh if the last one is over.
    fn current(&self) -> std::sync::MutexGuard<'_, Window> {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if w.started.elapsed() >= self.window {
            *w = Window { started: Instant::now(), failures: HashMap::new(), audited: 0 };
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("address"))
    }

    #[test]
    fn a_source_over_its_limit_is_refused_until_the_window_ends() {
        let limiter = FailureLimiter::with_window(3, 2, Duration::from_millis(200));
        let records: Vec<Record> = (0..3).map(|_| limiter.fail(ip("10.0.0.1"))).collect();
        assert_eq!(records, [Record::Audit, Record::Audit, Record::CountOnly]);
        assert!(limiter.check(ip("10.0.0.1")).is_err());
        // Another source, and the same host by its IPv4-mapped IPv6 name, are counted as they are.
        assert!(limiter.check(ip("10.0.0.2")).is_ok());
        assert!(limiter.check(ip("::ffff:10.0.0.1")).is_err());
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.check(ip("10.0.0.1")).is_ok());
        assert_eq!(limiter.fail(ip("10.0.0.1")), Record::Audit);
    }

    #[test]
    fn addresses_are_read_as_proxies_write_them() {
        for (text, want) in [
            ("203.0.113.7", "203.0.113.7"),
            (" 203.0.113.7:51234", "203.0.113.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
        ] {
            assert_eq!(parse_address(text), ip(want), "{text}");
        }
        assert_eq!(parse_address("unknown"), None);
    }

    #[test]
    fn ipv6_sources_are_counted_per_64_block() {
        let limiter = FailureLimiter::new(2, 2);
        limiter.fail(ip("2001:db8:1:2::1"));
        limiter.fail(ip("2001:db8:1:2:ffff::9"));
        assert!(limiter.check(ip("2001:db8:1:2::77")).is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn memory_is_bounded_and_audit_rows_too() {
        let limiter = FailureLimiter::new(5, 1);
        let mut audited = 0;
        for i in 0..(MAX_SOURCES as u32 + 2_000) {
            if limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))) == Record::Audit {
                audited += 1;
            }
        }
        assert_eq!(limiter.state.lock().expect("lock").failures.len(), MAX_SOURCES + 1);
        assert_eq!(audited, MAX_AUDITED);
    }

    #[test]
    fn no_one_is_refused_for_the_failures_of_sources_not_told_apart() {
        // 10,001 spoofed sources fill the table and reach the shared count, then 30 failures use it up.
        let limiter = FailureLimiter::new(30, 10);
        for i in 0..=(MAX_SOURCES as u32) {
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))));
        }
        for i in 0..30 {
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i))));
        }
        // A new caller is not refused unchecked, and neither is one without a known address.
        assert!(limiter.check(Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))).is_ok());
        assert!(limiter.check(None).is_ok());
        // A source counted apart still answers for its own failures.
        for _ in 0..30 {
            limiter.fail(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0001))));
        }
        assert!(limiter.check(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0001)))).is_err());
    }
}
