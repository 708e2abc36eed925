//! What an attempt means for the message: done (and how), or try again (and when).
//! The rule that matters: retry only what cannot have been sent, because sendMail has no idempotency key.

use std::time::Duration;

use rand::Rng;

use super::graph::{Attempt, Transport};
use crate::config::Guarantee;
use crate::db::audit::Outcome;
use crate::db::messages::Status;

#[derive(Debug, PartialEq)]
pub enum Next {
    Done(Status),
    RetryAfter(Duration),
}

/// The audit outcome of one attempt, and what to do next.
pub fn classify(a: &Attempt, attempt_no: i32, max_attempts: i32, guarantee: Guarantee) -> (Outcome, Next) {
    let retry = |outcome| {
        if attempt_no >= max_attempts {
            (outcome, Next::Done(Status::Failed))
        } else {
            (outcome, Next::RetryAfter(a.retry_after.unwrap_or_else(|| backoff(attempt_no))))
        }
    };
    // Under at-least-once an ambiguous answer is retried like an outage; under at-most-once it ends the message.
    let ambiguous = || match guarantee {
        Guarantee::AtMostOnce => (Outcome::Unknown, Next::Done(Status::Unknown)),
        Guarantee::AtLeastOnce => retry(Outcome::Unknown),
    };
    match (&a.transport, a.status) {
        (Some(Transport::NotSent(_)), _) => retry(Outcome::Unavailable),
        (Some(Transport::MaybeSent(_)), _) => ambiguous(),
        (None, Some(202)) => (Outcome::Sent, Next::Done(Status::Sent)),
        (None, Some(403)) if a.code.as_deref() == Some("ErrorAccessDenied") => {
            (Outcome::ExchangeDenied, Next::Done(Status::Rejected))
        }
        (None, Some(429)) => retry(Outcome::Throttled),
        // 503 is refused before processing. 401 is mailgate's own token at fault, never the caller's message.
        (None, Some(503 | 401)) => retry(Outcome::Unavailable),
        (None, Some(s)) if (400..500).contains(&s) => (Outcome::Rejected, Next::Done(Status::Rejected)),
        // 500, 502, 504 and the rest: Graph may have queued the message.
        (None, _) => ambiguous(),
    }
}

/// 1 s, 2 s, 4 s … capped at 5 minutes, with up to 20% jitter so that replicas do not retry in step.
pub fn backoff(attempt_no: i32) -> Duration {
    let exp = u32::try_from(attempt_no.clamp(1, 10) - 1).unwrap_or(0);
    let base = Duration::from_secs(2u64.pow(exp)).min(Duration::from_secs(300));
    base.mul_f64(1.0 + rand::rng().random_range(0.0..0.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: Option<&str>) -> Attempt {
        Attempt { status: Some(status), code: code.map(str::to_owned), ..Attempt::default() }
    }

    #[test]
    fn final_answers() {
        assert_eq!(classify(&http(202, None), 1, 5, Guarantee::AtMostOnce), (Outcome::Sent, Next::Done(Status::Sent)));
        assert_eq!(
            classify(&http(403, Some("ErrorAccessDenied")), 1, 5, Guarantee::AtMostOnce),
            (Outcome::ExchangeDenied, Next::Done(Status::Rejected))
        );
        assert_eq!(
            classify(&http(400, Some("ErrorInvalidRecipients")), 1, 5, Guarantee::AtMostOnce),
            (Outcome::Rejected, Next::Done(Status::Rejected))
        );
        assert_eq!(classify(&http(403, Some("ErrorSendAsDenied")), 1, 5, Guarantee::AtMostOnce).0, Outcome::Rejected);
    }

    #[test]
    fn ambiguous_answers_are_not_retried() {
        for s in [500, 502, 504] {
            assert_eq!(
                classify(&http(s, None), 1, 5, Guarantee::AtMostOnce),
                (Outcome::Unknown, Next::Done(Status::Unknown))
            );
        }
        let dropped = Attempt { transport: Some(Transport::MaybeSent("reset".into())), ..Attempt::default() };
        assert_eq!(classify(&dropped, 1, 5, Guarantee::AtMostOnce).1, Next::Done(Status::Unknown));
    }

    #[test]
    fn retryable_answers_honour_retry_after_and_the_attempt_bound() {
        let mut throttled = http(429, Some("ApplicationThrottled"));
        throttled.retry_after = Some(Duration::from_secs(7));
        assert_eq!(
            classify(&throttled, 1, 5, Guarantee::AtMostOnce),
            (Outcome::Throttled, Next::RetryAfter(Duration::from_secs(7)))
        );
        assert_eq!(classify(&throttled, 5, 5, Guarantee::AtMostOnce), (Outcome::Throttled, Next::Done(Status::Failed)));
        let refused = Attempt { transport: Some(Transport::NotSent("refused".into())), ..Attempt::default() };
        assert!(matches!(classify(&refused, 2, 5, Guarantee::AtMostOnce), (Outcome::Unavailable, Next::RetryAfter(_))));
        assert!(matches!(classify(&http(503, None), 1, 5, Guarantee::AtMostOnce).1, Next::RetryAfter(_)));
    }

    #[test]
    fn at_least_once_retries_ambiguous_answers() {
        let dropped = Attempt { transport: Some(Transport::MaybeSent("reset".into())), ..Attempt::default() };
        assert!(matches!(classify(&dropped, 1, 5, Guarantee::AtLeastOnce), (Outcome::Unknown, Next::RetryAfter(_))));
        assert!(matches!(classify(&http(504, None), 1, 5, Guarantee::AtLeastOnce).1, Next::RetryAfter(_)));
        assert_eq!(classify(&http(500, None), 5, 5, Guarantee::AtLeastOnce).1, Next::Done(Status::Failed));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) < Duration::from_millis(1200));
        assert!(backoff(4) >= Duration::from_secs(8));
        assert!(backoff(50) <= Duration::from_secs(360));
    }
}
