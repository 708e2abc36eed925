//! A family whose label sets are capped: past `max` distinct sets, a new one is counted under the family's `other`
//! set. Labels are fixed words or route templates by design, but a bug or a hostile caller must not be able to
//! grow the scrape (and the memory behind it) without bound.

use std::hash::Hash;
use std::sync::Mutex;

use prometheus_client::metrics::family::{Family, MetricConstructor};

/// A label set that has an `other` value to fold into.
pub trait Fold {
    fn other() -> Self;
}

#[derive(Debug)]
pub struct Capped<S, M, C = fn() -> M> {
    family: Family<S, M, C>,
    max: usize,
    /// Label sets admitted under their own values (the family does not tell its size outside its tests). The lock
    /// serialises admitting, so concurrent first uses cannot overshoot the cap.
    admitted: Mutex<usize>,
}

impl<S, M, C> Capped<S, M, C>
where
    S: Clone + Hash + Eq + Fold,
    C: MetricConstructor<M> + Clone,
{
    pub fn new(family: Family<S, M, C>, max: usize) -> Self {
        Self { family, max, admitted: Mutex::new(0) }
    }

    /// The family itself, to register: the registry encodes what this records.
    pub fn family(&self) -> Family<S, M, C> {
        self.family.clone()
    }

    /// Runs `f` on the metric for `labels`, or for the `other` set once the family is full.
    pub fn with(&self, labels: S, f: impl FnOnce(&M)) {
        // The common case, a label set seen before, takes only the family's read lock.
        if let Some(metric) = self.family.get(&labels) {
            return f(&metric);
        }
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        let labels = if self.family.get(&labels).is_some() {
            // Admitted meanwhile by another caller.
            labels
        } else if *admitted < self.max {
            *admitted += 1;
            labels
        } else {
            S::other()
        };
        f(&self.family.get_or_create(&labels));
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Route {
        route: String,
    }

    impl Fold for Route {
        fn other() -> Self {
            Route { route: "other".into() }
        }
    }

    fn route(r: &str) -> Route {
        Route { route: r.into() }
    }

    #[test]
    fn past_the_cap_new_label_sets_fold_into_other() {
        let capped: Capped<Route, Counter> = Capped::new(Family::default(), 3);
        for r in ["/a", "/b", "/c", "/d", "/e", "/a"] {
            capped.with(route(r), |c| {
                c.inc();
            });
        }
        let family = capped.family();
        // Three sets were admitted; the fourth and fifth new ones were counted as `other`; a known one still counts
        // under its own name although the family is full.
        assert_eq!(family.get(&route("/a")).map(|c| c.get()), Some(2));
        assert_eq!(family.get(&route("/c")).map(|c| c.get()), Some(1));
        assert_eq!(family.get(&Route::other()).map(|c| c.get()), Some(2));
        assert!(family.get(&route("/d")).is_none() && family.get(&route("/e")).is_none());
    }

    #[test]
    fn under_the_cap_nothing_folds() {
        let capped: Capped<Route, Counter> = Capped::new(Family::default(), 1000);
        for i in 0..100 {
            capped.with(route(&format!("/r{i}")), |c| {
                c.inc();
            });
        }
        assert!((0..100).all(|i| capped.family().get(&route(&format!("/r{i}"))).is_some()));
        assert!(capped.family().get(&Route::other()).is_none());
    }
}
