//! How mailgate reports on itself: the log's format and how many label sets a metric family keeps.

use super::setting::{DefaultIs, Parse, settings};
use super::sources::{Raw, invalid};
use super::{ConfigError, LogFormat};

settings! {
    /// label sets one metric family keeps (10 to 100000); new ones beyond it are counted under the label value
    /// `other`, so no caller or bug can grow `/metrics` without bound
    METRICS_MAX_SERIES: usize = "metrics_max_series", "MAILGATE_METRICS_MAX_SERIES", DefaultIs::Value("1000");
    /// or `json`; filter with `RUST_LOG`. JSON lines carry `trace_id` and `span_id` while traces are exported
    LOG_FORMAT: LogFormat = "log_format", "MAILGATE_LOG_FORMAT", DefaultIs::Value("text");
}

impl Parse for LogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("`{other}`: expected text or json")),
        }
    }
}

pub(super) fn metrics_max_series(raw: &Raw) -> Result<usize, ConfigError> {
    match raw.value(&METRICS_MAX_SERIES)? {
        n @ 10..=100_000 => Ok(n),
        _ => Err(invalid(&METRICS_MAX_SERIES.spec, "must be between 10 and 100000")),
    }
}
