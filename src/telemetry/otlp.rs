//! OTLP/HTTP export of traces, configured as every OpenTelemetry SDK is: by the standard environment variables.
//! Export is on when an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise. The SDK itself reads the rest:
//! headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`(`_ARG`) and the batch
//! settings (`OTEL_BSP_*`).
//!
//! Spans are batched and sent from the SDK's own thread with a blocking HTTP client, so neither the request path nor
//! the runtime's workers ever wait for the collector; a collector that is away costs dropped spans, not latency.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
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
    /// Where spans go, as the exporter resolves it (for the start-up log line).
    pub traces_endpoint: String,
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
        match get("OTEL_TRACES_EXPORTER").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("otlp") => {}
            Some("none") => return Ok(None),
            Some(other) => return Err(invalid("OTEL_TRACES_EXPORTER", other, "expected otlp or none")),
        }
        let traces_endpoint = match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(signal), _) => check_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", signal)?,
            // The general endpoint is a base: each signal appends its path to it.
            (None, Some(base)) => {
                let base = check_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?;
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            (None, None) => return Ok(None),
        };
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(value) = get(name) {
                match value.as_str() {
                    "http/protobuf" => break,
                    "grpc" | "http/json" => return Err(OtlpError::Protocol { name, value }),
                    _ => return Err(invalid(name, &value, "expected http/protobuf, grpc or http/json")),
                }
            }
        }
        Ok(Some(Otlp { traces_endpoint }))
    }

    /// Builds the exporter and the provider; its batch thread starts here.
    pub fn start(self) -> anyhow::Result<Providers> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
            .map_err(|e| anyhow::anyhow!("setting up the OTLP trace exporter (OTEL_EXPORTER_OTLP_*): {e}"))?;
        let tracer_provider =
            SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource()).build();
        Ok(Providers { tracer_provider, endpoint: self.traces_endpoint })
    }
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
    tracer_provider: SdkTracerProvider,
    pub endpoint: String,
}

impl Providers {
    pub fn tracer(&self) -> Tracer {
        self.tracer_provider.tracer("mailgate")
    }

    pub fn shutdown(self) {
        if let Err(e) = self.tracer_provider.shutdown() {
            tracing::warn!(error = %e, "could not flush the last spans to the OTLP endpoint");
        }
    }
}
