//! How mailgate reports on itself: the log's format and how many label sets a metric family keeps.

use super::ConfigError;
use super::setting::{DefaultIs, Parse, settings};
use super::sources::{Raw, invalid};

settings! {
    /// label sets one metric family keeps (10 to 100000); new ones beyond it are counted under the label value
    /// `other`, so no caller or bug can grow `/metrics` without bound
    METRICS_MAX_SERIES: usize = "metrics_max_series", "MAILGATE_METRICS_MAX_SERIES", DefaultIs::Value("1000");
    /// or `json`; filter with `RUST_LOG`. JSON lines carry `trace_id` and `span_id` while traces are exported
    LOG_FORMAT: LogFormat = "log_format", "MAILGATE_LOG_FORMAT", DefaultIs::Value("text");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// Label sets one metric family keeps; new ones beyond it are counted under `other`.
    pub metrics_max_series: usize,
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

pub(super) fn telemetry(raw: &Raw) -> Result<TelemetrySettings, ConfigError> {
    let metrics_max_series = match raw.value(&METRICS_MAX_SERIES)? {
        n @ 10..=100_000 => n,
        _ => return Err(invalid(&METRICS_MAX_SERIES.spec, "must be between 10 and 100000")),
    };
    Ok(TelemetrySettings { log_format: raw.value(&LOG_FORMAT)?, metrics_max_series })
}
