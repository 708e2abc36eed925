//! OTLP/HTTP export of traces (and of the main counters), configured as every OpenTelemetry SDK is: by the standard environment variables.
//! Export is on when an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise. The SDK itself reads the rest:
//! headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`(`_ARG`) and the batch
//! settings (`OTEL_BSP_*`).
//!
//! Spans are batched and sent from the SDK's own thread with a blocking HTTP client, so neither the request path nor
//! the runtime's workers ever wait for the collector; a collector that is away costs dropped spans, not latency.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

/// Protocols named by `OTEL_EXPORTER_OTLP_PROTOCOL` that this build exports with.
const PROTOCOLS: &str = "http/protobuf";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OtlpError {
    #[error("{name}: `{value}` is not built in; mailgate exports OTLP as {PROTOCOLS} (a collector's port 4318)")]
    Protocol { name: &'static str, value: String },
    #[error("{name}: `{value}`: {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
}

/// What the environment asks for, when it asks for export at all.
#[derive(Debug, PartialEq, Eq)]
pub struct Otlp {
    /// Where spans go, as the exporter resolves it (for the start-up log line); None: no trace export.
    pub traces_endpoint: Option<String>,
    /// Where the main counters go; None: no metrics export (`/metrics` serves them either way).
    pub metrics_endpoint: Option<String>,
}

impl Otlp {
    /// `var` looks a variable up (the process environment; a map in tests). None: export is off.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OtlpError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        match get("OTEL_SDK_DISABLED").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("false") => {}
            Some("true") => return Ok(None),
            Some(other) => return Err(invalid("OTEL_SDK_DISABLED", other, "expected true or false")),
        }
        let traces_endpoint = signal(&get, "TRACES", "traces")?;
        let metrics_endpoint = signal(&get, "METRICS", "metrics")?;
        if traces_endpoint.is_none() && metrics_endpoint.is_none() {
            return Ok(None);
        }
        // Each signal's own protocol wins over the general one.
        let signals = [
            (traces_endpoint.is_some(), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            (metrics_endpoint.is_some(), "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
        ];
        for (_, own) in signals.into_iter().filter(|(on, _)| *on) {
            let Some((name, value)) =
                [own, "OTEL_EXPORTER_OTLP_PROTOCOL"].into_iter().find_map(|n| get(n).map(|v| (n, v)))
            else {
                continue;
            };
            match value.as_str() {
                "http/protobuf" => {}
                "grpc" | "http/json" => return Err(OtlpError::Protocol { name, value }),
                _ => return Err(invalid(name, &value, "expected http/protobuf, grpc or http/json")),
            }
        }
        Ok(Some(Otlp { traces_endpoint, metrics_endpoint }))
    }

    /// Builds the exporters and the providers; their threads start here.
    pub fn start(self) -> anyhow::Result<Providers> {
        let tracer_provider = match &self.traces_endpoint {
            None => None,
            Some(_) => {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .build()
                    .map_err(|e| anyhow::anyhow!("setting up the OTLP trace exporter (OTEL_EXPORTER_OTLP_*): {e}"))?;
                Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource()).build())
            }
        };
        let meter_provider = match &self.metrics_endpoint {
            None => None,
            Some(_) => {
                let exporter = opentelemetry_otlp::MetricExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .build()
                    .map_err(|e| anyhow::anyhow!("setting up the OTLP metric exporter (OTEL_EXPORTER_OTLP_*): {e}"))?;
                // Read every OTEL_METRIC_EXPORT_INTERVAL (60 s by default) on the reader's own thread.
                Some(SdkMeterProvider::builder().with_periodic_exporter(exporter).with_resource(resource()).build())
            }
        };
        Ok(Providers { tracer_provider, meter_provider, otlp: self })
    }
}

/// A signal's endpoint: its own variable as given, else the general base with the signal's path; None when neither
/// is set or `OTEL_{SIGNAL}_EXPORTER=none`.
fn signal(get: &impl Fn(&str) -> Option<String>, upper: &'static str, path: &str) -> Result<Option<String>, OtlpError> {
    let exporter: &'static str = match upper {
        "TRACES" => "OTEL_TRACES_EXPORTER",
        _ => "OTEL_METRICS_EXPORTER",
    };
    match get(exporter).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => return Err(invalid(exporter, other, "expected otlp or none")),
    }
    let own: &'static str = match upper {
        "TRACES" => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        _ => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    };
    Ok(match (get(own), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(url), _) => Some(check_url(own, url)?),
        // The general endpoint is a base: each signal appends its path to it.
        (None, Some(base)) => {
            let base = check_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
            Some(format!("{}/v1/{path}", base.trim_end_matches('/')))
        }
        (None, None) => None,
    })
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> OtlpError {
    OtlpError::Invalid { name, value: value.to_owned(), expected }
}

fn check_url(name: &'static str, value: String) -> Result<String, OtlpError> {
    match reqwest::Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(value),
        _ => Err(OtlpError::Invalid { name, value, expected: "expected an http:// or https:// URL" }),
    }
}

/// The SDK's resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the SDK's own attributes), named `mailgate`
/// unless either variable names the service.
fn resource() -> Resource {
    let named = std::env::var_os("OTEL_SERVICE_NAME").is_some_and(|v| !v.is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    let builder = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named { builder.build() } else { builder.with_service_name("mailgate").build() }
}

/// The running exporters.
pub struct Providers {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    pub otlp: Otlp,
}

impl Providers {
    pub fn tracer(&self) -> Option<Tracer> {
        self.tracer_provider.as_ref().map(|p| p.tracer("mailgate"))
    }

    pub fn meter(&self) -> Option<Meter> {
        self.meter_provider.as_ref().map(|p| p.meter("mailgate"))
    }

    pub fn shutdown(self) {
        if let Some(p) = self.tracer_provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last spans to the OTLP endpoint");
        }
        if let Some(p) = self.meter_provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last metrics to the OTLP endpoint");
        }
    }
}
