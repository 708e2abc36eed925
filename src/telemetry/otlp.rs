//! OTLP export of traces (and of the main counters), configured as every OpenTelemetry SDK is: by the standard environment variables.
//! Export is on when an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise. `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (or a signal's own `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL`) picks `http/protobuf` (the default) or `grpc`.
//! The SDK itself reads the rest: headers, timeout, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`(`_ARG`) and the batch settings (`OTEL_BSP_*`).
//!
//! Spans are batched and sent from the SDK's own thread, so neither the request path nor the runtime's workers ever
//! wait for the collector; a collector that is away costs dropped spans, not latency. Over HTTP that thread sends with
//! a blocking client. Over gRPC the tonic channel's connection is a task of the runtime the exporter is built in
//! (`start` runs inside `mailgate serve`'s runtime) and the export thread only waits for its answer.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};

/// Protocols named by `OTEL_EXPORTER_OTLP_PROTOCOL` that this build exports with.
const PROTOCOLS: &str = "http/protobuf (a collector's port 4318) or grpc (port 4317)";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OtlpError {
    #[error("{name}: `{value}` is not built in; mailgate exports OTLP as {PROTOCOLS}")]
    Protocol { name: &'static str, value: String },
    #[error("{name}: `{value}`: {expected}")]
    Invalid { name: &'static str, value: String, expected: &'static str },
}

/// How a signal is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`).
    HttpProtobuf,
    /// OTLP/gRPC over plaintext HTTP/2 (`grpc`).
    Grpc,
}

/// Where one signal goes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The endpoint as the exporter resolves it (for the start-up log line).
    pub endpoint: String,
    pub transport: Transport,
}

/// What the environment asks for, when it asks for export at all.
#[derive(Debug, PartialEq, Eq)]
pub struct Otlp {
    /// Where spans go; None: no trace export.
    pub traces: Option<Export>,
    /// Where the main counters go; None: no metrics export (`/metrics` serves them either way).
    pub metrics: Option<Export>,
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
        let traces = signal(&get, "TRACES", "traces")?;
        let metrics = signal(&get, "METRICS", "metrics")?;
        if traces.is_none() && metrics.is_none() {
            return Ok(None);
        }
        Ok(Some(Otlp { traces, metrics }))
    }

    /// Builds the exporters and the providers; their threads start here. Must run inside a Tokio runtime that
    /// outlives the providers when a signal goes over gRPC: the tonic channel's tasks run on it.
    pub fn start(self) -> anyhow::Result<Providers> {
        let tracer_provider = match &self.traces {
            None => None,
            Some(export) => {
                let builder = opentelemetry_otlp::SpanExporter::builder();
                let exporter = match export.transport {
                    Transport::HttpProtobuf => builder.with_http().with_protocol(Protocol::HttpBinary).build(),
                    Transport::Grpc => builder.with_tonic().with_protocol(Protocol::Grpc).build(),
                }
                .map_err(|e| anyhow::anyhow!("setting up the OTLP trace exporter (OTEL_EXPORTER_OTLP_*): {e}"))?;
                Some(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource()).build())
            }
        };
        let meter_provider = match &self.metrics {
            None => None,
            Some(export) => {
                let builder = opentelemetry_otlp::MetricExporter::builder();
                let exporter = match export.transport {
                    Transport::HttpProtobuf => builder.with_http().with_protocol(Protocol::HttpBinary).build(),
                    Transport::Grpc => builder.with_tonic().with_protocol(Protocol::Grpc).build(),
                }
                .map_err(|e| anyhow::anyhow!("setting up the OTLP metric exporter (OTEL_EXPORTER_OTLP_*): {e}"))?;
                // Read every OTEL_METRIC_EXPORT_INTERVAL (60 s by default) on the reader's own thread.
                Some(SdkMeterProvider::builder().with_periodic_exporter(exporter).with_resource(resource()).build())
            }
        };
        Ok(Providers { tracer_provider, meter_provider, otlp: self })
    }
}

/// A signal's export, None when no endpoint is set or `OTEL_{SIGNAL}_EXPORTER=none`. The endpoint is the signal's
/// own variable as given, else the general one: over HTTP a base the signal's path is appended to, over gRPC as given
/// (a gRPC call is named by its service, not by a path).
fn signal(get: &impl Fn(&str) -> Option<String>, upper: &'static str, path: &str) -> Result<Option<Export>, OtlpError> {
    let (exporter, own, own_protocol): (&'static str, &'static str, &'static str) = match upper {
        "TRACES" => {
            ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        }
        _ => ("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
    };
    match get(exporter).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => return Err(invalid(exporter, other, "expected otlp or none")),
    }
    let (name, url, is_base) = match (get(own), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        (Some(url), _) => (own, url, false),
        (None, Some(base)) => ("OTEL_EXPORTER_OTLP_ENDPOINT", base, true),
        (None, None) => return Ok(None),
    };
    let (url, https) = check_url(name, url)?;
    // Each signal's own protocol wins over the general one.
    let transport = match [own_protocol, "OTEL_EXPORTER_OTLP_PROTOCOL"].into_iter().find_map(|n| get(n).map(|v| (n, v)))
    {
        None => Transport::HttpProtobuf,
        Some((_, value)) if value == "http/protobuf" => Transport::HttpProtobuf,
        Some((_, value)) if value == "grpc" => Transport::Grpc,
        Some((name, value)) if value == "http/json" => return Err(OtlpError::Protocol { name, value }),
        Some((name, value)) => return Err(invalid(name, &value, "expected http/protobuf, grpc or http/json")),
    };
    let endpoint = match transport {
        // The gRPC client has no TLS built in; a collector reached over TLS takes http/protobuf.
        Transport::Grpc if https => {
            return Err(invalid(
                name,
                &url,
                "gRPC export is plaintext only: expected an http:// URL (or http/protobuf)",
            ));
        }
        Transport::HttpProtobuf if is_base => format!("{}/v1/{path}", url.trim_end_matches('/')),
        Transport::Grpc | Transport::HttpProtobuf => url,
    };
    Ok(Some(Export { endpoint, transport }))
}

fn invalid(name: &'static str, value: &str, expected: &'static str) -> OtlpError {
    OtlpError::Invalid { name, value: value.to_owned(), expected }
}

/// The URL, and whether it is https.
fn check_url(name: &'static str, value: String) -> Result<(String, bool), OtlpError> {
    // The endpoint is logged at start and named in errors, so a URL carrying credentials is refused, unshown.
    if value.contains('@') {
        return Err(OtlpError::Invalid {
            name,
            value: "(not shown: it holds an @)".to_owned(),
            expected: "credentials in the URL are refused, since the endpoint is logged; send them as \
                       OTEL_EXPORTER_OTLP_HEADERS (e.g. Authorization=Bearer …)",
        });
    }
    match reqwest::Url::parse(&value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            let https = url.scheme() == "https";
            Ok((value, https))
        }
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
