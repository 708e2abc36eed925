//! Logging and tracing. Logs go to stderr, as text or JSON lines, filtered by `RUST_LOG` (default `info`).
//! Traces (and the main counters, `metrics::otlp`) go over OTLP (HTTP/protobuf or gRPC) when the standard `OTEL_*`
//! variables ask for it (`otlp.rs`): then `tracing` spans of this crate become OpenTelemetry spans, a caller's `traceparent` is continued, and JSON log lines carry `trace_id` and
//! `span_id`. With none of those variables set no exporter, layer or thread exists, and the spans that only tracing
//! needs are not even made (`on()`).

mod context;
pub mod http;
mod json_log;
mod otlp;

use std::sync::atomic::{AtomicBool, Ordering};

use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

pub use self::context::{current_traceparent, extract_parent, set_remote_parent};
pub use self::otlp::{Export, Otlp, OtlpError, Transport};
use crate::config::LogFormat;

/// Whether spans are exported. Read on hot paths, so it is a plain flag set once at start-up.
static ON: AtomicBool = AtomicBool::new(false);

/// True when traces are exported: only then are the spans made that nothing but a trace would show.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

static METER: std::sync::OnceLock<opentelemetry::metrics::Meter> = std::sync::OnceLock::new();

/// The meter the main counters are also recorded with, when metrics are exported over OTLP.
pub fn meter() -> Option<&'static opentelemetry::metrics::Meter> {
    METER.get()
}

/// The exporters, to be flushed before the process ends.
#[must_use = "call shutdown() before exiting, or the last spans are lost"]
pub struct Telemetry {
    otlp: Option<otlp::Providers>,
}

impl Telemetry {
    /// Exports what is still batched and stops the exporters' threads. Blocks (up to the export timeout).
    pub fn shutdown(self) {
        if let Some(p) = self.otlp {
            p.shutdown();
        }
    }
}

/// Logging only: the admin commands and `migrate`.
pub fn init(format: LogFormat) {
    let _ = install(format, None);
}

/// Logging, and OTLP export when the environment configures it (`mailgate serve`). A malformed `OTEL_*` value is an
/// error naming it. A protocol this build does not export with (`http/json`) turns export off with a warning instead:
/// a platform's agent may ask for it, and mail must not stop for want of traces. Runs inside the runtime (gRPC export's
/// connection is a task of it).
pub fn init_with_otlp(format: LogFormat) -> anyhow::Result<Telemetry> {
    let (config, unsupported) = match Otlp::from_env(|k| std::env::var(k).ok()) {
        Ok(config) => (config, None),
        Err(e @ OtlpError::Protocol { .. }) => (None, Some(e)),
        Err(e) => return Err(e.into()),
    };
    let providers = config.map(|c| c.start()).transpose()?;
    let tracer = providers.as_ref().and_then(otlp::Providers::tracer);
    let tracing = tracer.is_some();
    let installed = install(format, tracer);
    if installed && tracing {
        ON.store(true, Ordering::Relaxed);
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    }
    if let Some(meter) = providers.as_ref().and_then(otlp::Providers::meter) {
        let _ = METER.set(meter);
    }
    if let Some(e) = unsupported {
        tracing::warn!("{e}; neither traces nor metrics are exported over OTLP");
    }
    if let Some(p) = &providers {
        let (traces, metrics) = (&p.otlp.traces, &p.otlp.metrics);
        tracing::info!(?traces, ?metrics, "exporting over OTLP");
    }
    Ok(Telemetry { otlp: providers })
}

/// Installs the subscriber; false when one was there already (tests, embedding), which then stays.
fn install(format: LogFormat, tracer: Option<opentelemetry_sdk::trace::Tracer>) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,azure_identity=warn,opentelemetry_sdk=warn,opentelemetry_otlp=warn")
    });
    let with_ids = tracer.is_some();
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => {
            let json = tracing_subscriber::fmt::format().json();
            fmt.json().event_format(json_log::WithTraceIds::new(json, with_ids)).with_filter(filter).boxed()
        }
    };
    let mut layers = vec![log];
    if let Some(tracer) = tracer {
        layers.push(trace_layer(tracer));
    }
    tracing_subscriber::registry().with(layers).try_init().is_ok()
}

/// This crate's spans at `info` and above become OpenTelemetry spans, whatever `RUST_LOG` says about logs; other
/// crates' spans (and the exporter's own events) do not.
fn trace_layer<S>(tracer: opentelemetry_sdk::trace::Tracer) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let targets = Targets::new().with_target("mailgate", tracing::Level::INFO);
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_filter(targets)
        .boxed()
}

#[cfg(test)]
mod tests;
