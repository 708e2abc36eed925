//! The label sets of mailgate's metric families. Values are fixed words or route templates; each set folds into
//! `other` once its family is full (see capped.rs).

use prometheus_client::encoding::EncodeLabelSet;

use super::Fold;

const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    /// The matched route template (`/v1/messages/{id}`), never the raw path.
    pub route: String,
    pub status: String,
}

impl Fold for HttpLabels {
    fn other() -> Self {
        HttpLabels { method: OTHER, route: OTHER.to_owned(), status: OTHER.to_owned() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

impl Fold for Route {
    fn other() -> Self {
        Route { route: OTHER.to_owned() }
    }
}

/// A word-valued label set, its `other` being that word.
macro_rules! word_label {
    ($name:ident, $field:ident) => {
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        pub struct $name {
            pub $field: &'static str,
        }

        impl Fold for $name {
            fn other() -> Self {
                $name { $field: OTHER }
            }
        }
    };
}

word_label!(Reason, reason);
word_label!(ResultLabel, result);
word_label!(Quota, quota);
word_label!(Outcome, outcome);
word_label!(Status, status);
