//! Delivery settings: the guarantee for ambiguous answers, the limits enforced before Graph's, and whether
//! messages over Graph's 4 MB request limit may go through drafts.

use super::{ConfigError, Raw, invalid};

/// What to do when Graph may or may not have accepted a message (timeout, dropped connection, 500/502/504).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarantee {
    /// Mark it `unknown` and never resend: no duplicates, possibly a lost message. The default.
    AtMostOnce,
    /// Send it again: never lost, possibly delivered twice.
    AtLeastOnce,
}

/// Limits on sending, enforced before Graph would enforce them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sends in flight per mailbox across all replicas (Exchange allows 4).
    pub mailbox_concurrency: i64,
    /// Messages started per mailbox per minute (Exchange's sending limit is 30).
    pub mailbox_per_minute: i64,
    /// Per-app quotas at the API; 0 = none. Apps may override them.
    pub app_messages_per_minute: i64,
    pub app_recipients_per_day: i64,
    /// Refusals (403: the allowlist's, a missing role) per app per minute that are answered and recorded one by one;
    /// past them 429 `too_many_refusals`, recorded as one audit row per app and minute. 0: no limit.
    pub app_refusals_per_minute: u32,
    /// Messages whose Graph request passes 4 MB go through a draft and upload sessions, which need the
    /// Mail.ReadWrite permission. Off by default: Mail.Send alone cannot read mail, so such messages are refused
    /// at the API (413) unless an administrator grants and scopes Mail.ReadWrite and turns this on.
    pub large_messages: bool,
}

pub(super) fn positive(raw: &Raw, key: &'static str, default: u64) -> Result<u64, ConfigError> {
    match raw.parse(key, default)? {
        0 => Err(invalid(key, "must be above 0")),
        v => Ok(v),
    }
}

pub(super) fn limits(raw: &Raw) -> Result<Limits, ConfigError> {
    let mailbox_concurrency: i64 = raw.parse("mailbox_concurrency", 4)?;
    if !(1..=4).contains(&mailbox_concurrency) {
        return Err(invalid(
            "mailbox_concurrency",
            "must be between 1 and 4 (Exchange allows 4 concurrent requests per mailbox)",
        ));
    }
    let mailbox_per_minute: i64 = raw.parse("mailbox_messages_per_minute", 30)?;
    if mailbox_per_minute < 1 {
        return Err(invalid("mailbox_messages_per_minute", "must be at least 1"));
    }
    let app_messages_per_minute: i64 = raw.parse("app_messages_per_minute", 600)?;
    let app_recipients_per_day: i64 = raw.parse("app_recipients_per_day", 10_000)?;
    if app_messages_per_minute < 0 || app_recipients_per_day < 0 {
        return Err(invalid("app_messages_per_minute", "quotas must be 0 (none) or more"));
    }
    let app_refusals_per_minute: u32 = raw.parse("app_refusals_per_minute", 60)?;
    if app_refusals_per_minute > 1_000_000 {
        return Err(invalid("app_refusals_per_minute", "must be between 0 (no limit) and 1000000"));
    }
    let large_messages = match raw.get("large_messages").unwrap_or("false") {
        "true" => true,
        "false" => false,
        other => return Err(invalid("large_messages", format!("`{other}`: expected true or false"))),
    };
    Ok(Limits {
        mailbox_concurrency,
        mailbox_per_minute,
        app_messages_per_minute,
        app_recipients_per_day,
        app_refusals_per_minute,
        large_messages,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Settings;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, super::ConfigError> {
        let map: std::collections::BTreeMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_sources(None, |name| map.get(name).map(|v| (*v).to_owned()))
    }

    #[test]
    fn refusals_default_to_60_a_minute_per_app() {
        assert_eq!(load(&[("DATABASE_URL", "x")]).expect("loads").limits.app_refusals_per_minute, 60);
        let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_APP_REFUSALS_PER_MINUTE", "0")]).expect("loads");
        assert_eq!(s.limits.app_refusals_per_minute, 0);
        for bad in ["-1", "1000001", "many"] {
            let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_APP_REFUSALS_PER_MINUTE", bad)]).expect_err(bad);
            assert!(err.to_string().contains("MAILGATE_APP_REFUSALS_PER_MINUTE"), "{err}");
        }
    }

    #[test]
    fn large_messages_are_off_unless_turned_on() {
        let s = load(&[("DATABASE_URL", "x")]).expect("loads");
        assert!(!s.limits.large_messages);
        let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_LARGE_MESSAGES", "true")]).expect("loads");
        assert!(s.limits.large_messages);
        let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_LARGE_MESSAGES", "yes")]).expect_err("not a bool");
        assert!(err.to_string().contains("MAILGATE_LARGE_MESSAGES"), "{err}");
    }
}
