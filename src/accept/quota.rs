//! Which of a batch's messages fit their app's quotas, given the counters as they stand (locked by the batch's
//! transaction): in arrival order, each admitted message counts against the ones after it.

use std::collections::HashMap;

use uuid::Uuid;

use crate::db::quota::{Period, Usage};

/// What one message asks of its app's quotas. A limit of 0 is no limit.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    pub app_id: Uuid,
    pub per_minute: i64,
    pub per_day: i64,
    pub recipients: i64,
}

impl Ask {
    /// The counters this ask reads.
    pub fn keys(&self) -> impl Iterator<Item = (Uuid, Period)> {
        let minute = (self.per_minute > 0).then_some((self.app_id, Period::Minute));
        let day = (self.per_day > 0).then_some((self.app_id, Period::Day));
        minute.into_iter().chain(day)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Admitted,
    /// Over a quota: the period, its limit, and seconds until its bucket ends.
    Over {
        period: Period,
        limit: i64,
        frees_in: f64,
    },
}

fn period_of(u: &Usage) -> Period {
    if u.period == "minute" { Period::Minute } else { Period::Day }
}

/// The verdict for each ask, in order.
pub fn admit(asks: &[Ask], usage: &[Usage]) -> Vec<Verdict> {
    let mut counters: HashMap<(Uuid, Period), (i64, f64)> =
        usage.iter().map(|u| ((u.app_id, period_of(u)), (u.used, u.frees_in))).collect();
    asks.iter()
        .map(|ask| {
            let minute = counters.get(&(ask.app_id, Period::Minute)).copied().unwrap_or((0, 60.0));
            let day = counters.get(&(ask.app_id, Period::Day)).copied().unwrap_or((0, 86_400.0));
            if ask.per_minute > 0 && minute.0 >= ask.per_minute {
                return Verdict::Over { period: Period::Minute, limit: ask.per_minute, frees_in: minute.1 };
            }
            if ask.per_day > 0 && day.0 + ask.recipients > ask.per_day {
                return Verdict::Over { period: Period::Day, limit: ask.per_day, frees_in: day.1 };
            }
            if ask.per_minute > 0 {
                counters.insert((ask.app_id, Period::Minute), (minute.0 + 1, minute.1));
            }
            if ask.per_day > 0 {
                counters.insert((ask.app_id, Period::Day), (day.0 + ask.recipients, day.1));
            }
            Verdict::Admitted
        })
        .collect()
}

/// What the admitted asks add to each counter.
pub fn increments<'a>(admitted: impl Iterator<Item = &'a Ask>, usage: &'a [Usage]) -> Vec<(&'a Usage, i64)> {
    let mut added: HashMap<(Uuid, Period), i64> = HashMap::new();
    for ask in admitted {
        if ask.per_minute > 0 {
            *added.entry((ask.app_id, Period::Minute)).or_default() += 1;
        }
        if ask.per_day > 0 {
            *added.entry((ask.app_id, Period::Day)).or_default() += ask.recipients;
        }
    }
    usage.iter().filter_map(|u| added.get(&(u.app_id, period_of(u))).map(|n| (u, *n))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    fn usage(app_id: Uuid, period: &str, used: i64) -> Usage {
        Usage { app_id, period: period.into(), bucket: 1, used, frees_in: 12.5 }
    }

    fn ask(app_id: Uuid, per_minute: i64, per_day: i64, recipients: i64) -> Ask {
        Ask { app_id, per_minute, per_day, recipients }
    }

    #[test]
    fn admitted_messages_count_against_later_ones_in_the_same_batch() {
        let current = [usage(APP, "minute", 1), usage(APP, "day", 0), usage(OTHER, "minute", 0)];
        let asks = [ask(APP, 3, 0, 1), ask(OTHER, 1, 0, 1), ask(APP, 3, 0, 1), ask(APP, 3, 0, 1), ask(OTHER, 1, 0, 1)];
        let verdicts = admit(&asks, &current);
        let over = Verdict::Over { period: Period::Minute, limit: 3, frees_in: 12.5 };
        assert_eq!(verdicts[..4], [Verdict::Admitted, Verdict::Admitted, Verdict::Admitted, over]);
        assert!(matches!(verdicts[4], Verdict::Over { period: Period::Minute, limit: 1, .. }));
        let admitted = asks.iter().zip(&verdicts).filter(|(_, v)| **v == Verdict::Admitted).map(|(a, _)| a);
        let added: Vec<(Uuid, String, i64)> =
            increments(admitted, &current).into_iter().map(|(u, n)| (u.app_id, u.period.clone(), n)).collect();
        assert_eq!(added, [(APP, "minute".to_owned(), 2), (OTHER, "minute".to_owned(), 1)]);
    }

    #[test]
    fn recipients_per_day_refuse_the_message_that_would_pass_the_limit() {
        let current = [usage(APP, "day", 95)];
        let verdicts = admit(&[ask(APP, 0, 100, 6), ask(APP, 0, 100, 5), ask(APP, 0, 100, 1)], &current);
        assert!(matches!(verdicts[0], Verdict::Over { period: Period::Day, limit: 100, .. }));
        assert_eq!(
            verdicts[1..],
            [Verdict::Admitted, Verdict::Over { period: Period::Day, limit: 100, frees_in: 12.5 }]
        );
    }

    #[test]
    fn no_limits_read_no_counters() {
        assert_eq!(ask(APP, 0, 0, 3).keys().count(), 0);
        assert_eq!(admit(&[ask(APP, 0, 0, 1_000_000)], &[]), [Verdict::Admitted]);
    }
}
