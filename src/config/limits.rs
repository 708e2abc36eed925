//! Limits on sending, enforced before Graph's: how large a message and how many recipients, how fast per mailbox
//! and per app, and whether messages over Graph's 4 MB request limit may go through drafts.

use super::ConfigError;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};

settings! {
    /// largest message (body sent plus decoded attachments); at most 150 MiB
    MAX_MESSAGE_BYTES: usize = "max_message_bytes", "MAILGATE_MAX_MESSAGE_BYTES",
        DefaultIs::Explained("36700160", "35 MiB");
    /// `true`: messages over Graph's 4 MB request limit go through drafts, which need `Mail.ReadWrite`
    /// ([docs/delivery.md](docs/delivery.md#messages-over-4-mb)); `false`: refused `413`
    LARGE_MESSAGES: bool = "large_messages", "MAILGATE_LARGE_MESSAGES", DefaultIs::Value("false");
    /// per message, as Exchange's default
    MAX_RECIPIENTS: usize = "max_recipients", "MAILGATE_MAX_RECIPIENTS", DefaultIs::Value("500");
    /// sends in flight per mailbox across all replicas (1-4)
    MAILBOX_CONCURRENCY: i64 = "mailbox_concurrency", "MAILGATE_MAILBOX_CONCURRENCY", DefaultIs::Value("4");
    /// sends started per mailbox in any 60 seconds, across replicas
    MAILBOX_MESSAGES_PER_MINUTE: i64 = "mailbox_messages_per_minute", "MAILGATE_MAILBOX_MESSAGES_PER_MINUTE",
        DefaultIs::Value("30");
    /// per-app quota at the API (0: none)
    APP_MESSAGES_PER_MINUTE: i64 = "app_messages_per_minute", "MAILGATE_APP_MESSAGES_PER_MINUTE",
        DefaultIs::Value("600");
    /// per-app quota at the API (0: none)
    APP_RECIPIENTS_PER_DAY: i64 = "app_recipients_per_day", "MAILGATE_APP_RECIPIENTS_PER_DAY",
        DefaultIs::Value("10000");
    /// refusals (403: `policy_denied`, `unknown_mailbox`, a missing role) per app and minute answered and recorded
    /// one by one; past them `429 too_many_refusals` with `Retry-After`, recorded as one audit row per app and minute
    /// ("N further refusals"). Per process (0: no limit)
    APP_REFUSALS_PER_MINUTE: u32 = "app_refusals_per_minute", "MAILGATE_APP_REFUSALS_PER_MINUTE",
        DefaultIs::Value("60");
}

/// Graph takes attachments up to 150 MB through upload sessions.
const MAX_UPLOAD_MESSAGE_BYTES: usize = 150 * 1024 * 1024;

/// Limits on sending, enforced before Graph would enforce them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Decoded size of a message (its body plus attachments) above which it is refused.
    pub max_message_bytes: usize,
    pub max_recipients: usize,
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

fn max_message_bytes(raw: &Raw) -> Result<usize, ConfigError> {
    let max_message_bytes = raw.value(&MAX_MESSAGE_BYTES)?;
    if !(1024..=MAX_UPLOAD_MESSAGE_BYTES).contains(&max_message_bytes) {
        return Err(invalid(&MAX_MESSAGE_BYTES.spec, "must be between 1024 and 157286400 (Graph's 150 MB)"));
    }
    Ok(max_message_bytes)
}

fn max_recipients(raw: &Raw) -> Result<usize, ConfigError> {
    let max_recipients = raw.value(&MAX_RECIPIENTS)?;
    if !(1..=1000).contains(&max_recipients) {
        return Err(invalid(&MAX_RECIPIENTS.spec, "must be between 1 and 1000 (Exchange's own range)"));
    }
    Ok(max_recipients)
}

pub(super) fn limits(raw: &Raw) -> Result<Limits, ConfigError> {
    let max_message_bytes = max_message_bytes(raw)?;
    let max_recipients = max_recipients(raw)?;
    let mailbox_concurrency = raw.value(&MAILBOX_CONCURRENCY)?;
    if !(1..=4).contains(&mailbox_concurrency) {
        return Err(invalid(
            &MAILBOX_CONCURRENCY.spec,
            "must be between 1 and 4 (Exchange allows 4 concurrent requests per mailbox)",
        ));
    }
    let mailbox_per_minute = raw.value(&MAILBOX_MESSAGES_PER_MINUTE)?;
    if mailbox_per_minute < 1 {
        return Err(invalid(&MAILBOX_MESSAGES_PER_MINUTE.spec, "must be at least 1"));
    }
    let app_messages_per_minute = raw.value(&APP_MESSAGES_PER_MINUTE)?;
    let app_recipients_per_day = raw.value(&APP_RECIPIENTS_PER_DAY)?;
    if app_messages_per_minute < 0 || app_recipients_per_day < 0 {
        return Err(invalid(&APP_MESSAGES_PER_MINUTE.spec, "quotas must be 0 (none) or more"));
    }
    let app_refusals_per_minute = raw.value(&APP_REFUSALS_PER_MINUTE)?;
    if app_refusals_per_minute > 1_000_000 {
        return Err(invalid(&APP_REFUSALS_PER_MINUTE.spec, "must be between 0 (no limit) and 1000000"));
    }
    Ok(Limits {
        max_message_bytes,
        max_recipients,
        mailbox_concurrency,
        mailbox_per_minute,
        app_messages_per_minute,
        app_recipients_per_day,
        app_refusals_per_minute,
        large_messages: raw.value(&LARGE_MESSAGES)?,
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
