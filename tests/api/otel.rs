//! OpenTelemetry: `mailgate serve` exporting over OTLP/HTTP to a receiver on loopback that decodes what it gets as
//! the collector would (`ExportTraceServiceRequest`, protobuf). One message sent with a caller's `traceparent` is
//! followed from the request through the allowlist decision to the Graph attempt, in the caller's trace; the same over
//! OTLP/gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`) to a tonic receiver; and without any `OTEL_*` variable nothing is
//! stored or logged for tracing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/HTTP receiver: every export request it got, decoded.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
    content_types: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let receiver = Receiver::default();
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .route("/v1/metrics", post(metrics))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        (receiver, format!("http://{addr}"))
    }

    /// Every span received, with its resource's attributes.
    fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let got = self.got.lock().expect("lock");
        let mut out = Vec::new();
        for request in got.iter() {
            for rs in &request.resource_spans {
                let resource = rs.resource.as_ref().map(|r| r.attributes.clone()).unwrap_or_default();
                for ss in &rs.scope_spans {
                    out.extend(ss.spans.iter().map(|s| (resource.clone(), s.clone())));
                }
            }
        }
        out
    }
}

/// The same receiver over OTLP/gRPC, as a collector's port 4317.
impl Receiver {
    async fn start_grpc() -> (Self, String) {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver.clone()));
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        tokio::spawn(async move { server.serve_with_incoming(incoming).await.expect("serve gRPC") });
        (receiver, format!("http://{addr}"))
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.got.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().expect("lock").push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

async fn traces(State(r): State<Receiver>, headers: axum::http::HeaderMap, body: Bytes) -> StatusCode {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    r.content_types.lock().expect("lock").push(content_type);
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            r.got.lock().expect("lock").push(request);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

async fn metrics(State(r): State<Receiver>, body: Bytes) -> StatusCode {
    match ExportMetricsServiceRequest::decode(body) {
        Ok(request) => {
            r.metrics.lock().expect("lock").push(request);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

impl Receiver {
    /// The sum of the counter `name`'s latest points whose attribute `key` is `value`, over every export received.
    fn counted(&self, name: &str, key: &str, value: &str) -> i64 {
        let got = self.metrics.lock().expect("lock");
        let mut total = 0;
        for request in got.iter() {
            for rm in &request.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in sm.metrics.iter().filter(|m| m.name == name) {
                        let Some(metric::Data::Sum(sum)) = &m.data else { panic!("{name} is not a sum: {m:?}") };
                        for p in &sum.data_points {
                            let wanted = matches!(attr(&p.attributes, key), Some(any_value::Value::StringValue(v)) if v == value);
                            if wanted && let Some(number_data_point::Value::AsInt(n)) = p.value {
                                total += n;
                            }
                        }
                    }
                }
            }
        }
        total
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v: &AnyValue| v.value.as_ref())
}

fn text<'a>(attrs: &'a [KeyValue], key: &str) -> &'a str {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("attribute {key} is not a string: {other:?} in {attrs:?}"),
    }
}

fn int(attrs: &[KeyValue], key: &str) -> i64 {
    match attr(attrs, key) {
        Some(any_value::Value::IntValue(i)) => *i,
        other => panic!("attribute {key} is not an integer: {other:?} in {attrs:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON log lines whose message is `message`.
fn log_lines(logs: &str, message: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

#[sqlx::test]
async fn a_message_is_traced_from_the_callers_request_to_the_graph_attempt(pool: PgPool) {
    let (receiver, endpoint) = Receiver::start().await;
    let app = spawn()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "mailgate-e2e")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,team=mail")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("MAILGATE_LOG_FORMAT", "json")
        .start(pool)
        .await;
    // Probes and scrapes, before the message: were they traced, their spans would be exported before its.
    for path in ["/healthz", "/metrics"] {
        assert_eq!(app.http.get(app.url(path)).send().await.expect("probe").status(), 200);
    }
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("tracestate", "caller=1")
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    let sim_request_id = app.sim.sim.received()[0].request_id.clone();

    let names = ["POST /v1/messages", "allowlist decision", "deliver", "POST sendMail"];
    wait_until(
        "the receiver has the request's, the decision's and the attempt's spans",
        Duration::from_secs(30),
        || {
            let spans = receiver.spans();
            let ok = names.iter().all(|n| spans.iter().any(|(_, s)| s.name == *n && hex(&s.trace_id) == TRACE_ID))
                && spans.iter().any(|(_, s)| s.name == "GET /v1/messages/{id}");
            async move { ok }
        },
    )
    .await;
    assert!(
        receiver.content_types.lock().expect("lock").iter().all(|c| c == "application/x-protobuf"),
        "OTLP/HTTP with protobuf bodies"
    );
    let spans = receiver.spans();
    let in_trace: HashMap<&str, &(Vec<KeyValue>, Span)> =
        spans.iter().filter(|(_, s)| hex(&s.trace_id) == TRACE_ID).map(|e| (e.1.name.as_str(), e)).collect();
    let span = |name: &str| &in_trace.get(name).unwrap_or_else(|| panic!("no span {name}")).1;
    let (resource, request) = in_trace["POST /v1/messages"];
    let (decision, deliver, graph) = (span("allowlist decision"), span("deliver"), span("POST sendMail"));

    // Resource: the service's name and the operator's attributes.
    assert_eq!(text(resource, "service.name"), "mailgate-e2e");
    assert_eq!(text(resource, "team"), "mail");
    assert_eq!(text(resource, "deployment.environment.name"), "test");

    // The request continues the caller's span.
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(text(&request.attributes, "http.route"), "/v1/messages");
    assert_eq!(text(&request.attributes, "http.request.method"), "POST");
    assert_eq!(int(&request.attributes, "http.response.status_code"), 202);

    // The decision is the request's child.
    assert_eq!(decision.parent_span_id, request.span_id);
    assert_eq!(text(&decision.attributes, "decision.result"), "granted");
    assert_eq!(text(&decision.attributes, "decision.rule"), "restrict_access_in_scope");
    assert_eq!(text(&decision.attributes, "mailbox"), ALLOWED);

    // The delivery, in another task after a round trip through the outbox, is the request's child too; the Graph
    // call is the delivery's.
    assert_eq!(deliver.parent_span_id, request.span_id);
    assert_eq!(graph.parent_span_id, deliver.span_id);
    assert_eq!(graph.kind, SpanKind::Client as i32);
    assert_eq!(text(&graph.attributes, "mailbox"), ALLOWED);
    assert_eq!(text(&graph.attributes, "http.request.method"), "POST");
    assert_eq!(int(&graph.attributes, "http.response.status_code"), 202);
    assert_eq!(text(&graph.attributes, "graph.request_id"), sim_request_id);
    assert_eq!(int(&graph.attributes, "attempt"), 1);
    assert_eq!(text(&graph.attributes, "outcome"), "sent");
    assert_eq!(done["events"][1]["graph_request_id"], sim_request_id.as_str());

    // Routes are named by template; probes and scrapes are not traced.
    assert!(spans.iter().any(|(_, s)| s.name == "GET /v1/messages/{id}"), "the status polls are traced");
    assert!(
        !spans.iter().any(|(_, s)| s.name.contains("/healthz") || s.name.contains("/metrics")),
        "probes and scrapes are not traced"
    );

    // What the outbox carried between them.
    let stored: Option<String> = sqlx::query_scalar("SELECT traceparent FROM messages WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .expect("traceparent");
    assert_eq!(stored, Some(format!("00-{TRACE_ID}-{}-01", hex(&request.span_id))));

    // JSON log lines name the span they were written in.
    let logs = app.logs();
    let queued = log_lines(&logs, "queued");
    assert_eq!(queued.len(), 1, "{logs}");
    assert_eq!(queued[0]["trace_id"], TRACE_ID, "{}", queued[0]);
    assert_eq!(queued[0]["span_id"], hex(&request.span_id), "{}", queued[0]);
    let attempt = log_lines(&logs, "graph attempt");
    assert_eq!(attempt.len(), 1, "{logs}");
    assert_eq!(attempt[0]["trace_id"], TRACE_ID, "{}", attempt[0]);
    assert_eq!(attempt[0]["span_id"], hex(&deliver.span_id), "{}", attempt[0]);
    // A line outside any span has no ids.
    let listening = log_lines(&logs, "listening");
    assert_eq!(listening.len(), 1, "{logs}");
    assert!(listening[0].get("trace_id").is_none(), "{}", listening[0]);
}

#[sqlx::test]
async fn without_otel_settings_nothing_is_traced_stored_or_logged(pool: PgPool) {
    let app = spawn().env("MAILGATE_LOG_FORMAT", "json").start(pool).await;
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    let stored: Option<String> = sqlx::query_scalar("SELECT traceparent FROM messages WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .expect("traceparent");
    assert_eq!(stored, None, "no trace context is stored while tracing is off");
    let logs = app.logs();
    assert!(!logs.contains("trace_id") && !logs.contains("OTLP"), "{logs}");
    assert_eq!(log_lines(&logs, "queued").len(), 1, "{logs}");
}

#[sqlx::test]
async fn spans_and_counters_still_batched_at_sigterm_are_exported_before_the_process_exits(pool: PgPool) {
    let (receiver, endpoint) = Receiver::start().await;
    // A batch delay far longer than the test: only the flush at shutdown can deliver these spans.
    let app = spawn()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
        .start(pool)
        .await;
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");
    assert!(receiver.spans().is_empty(), "nothing is exported before the batch delay or the shutdown");
    assert!(receiver.metrics.lock().expect("lock").is_empty(), "nor before the export interval");

    let mut app = app;
    app.process.terminate();
    let status = app.process.wait_exit(Duration::from_secs(30)).await.expect("mailgate exits after SIGTERM");
    assert!(status.success(), "{status}");
    let spans = receiver.spans();
    for name in ["POST /v1/messages", "allowlist decision", "deliver", "POST sendMail"] {
        assert!(
            spans.iter().any(|(_, s)| s.name == name && hex(&s.trace_id) == TRACE_ID),
            "span {name} was not flushed at shutdown"
        );
    }
    // Without OTEL_SERVICE_NAME the service is still named.
    assert_eq!(text(&spans[0].0, "service.name"), "mailgate");
    // The main counters went over OTLP too, flushed at shutdown like the spans.
    assert_eq!(receiver.counted("mailgate.graph.attempts", "outcome", "sent"), 1);
    assert_eq!(receiver.counted("mailgate.decisions", "result", "granted"), 1);
    assert!(receiver.counted("mailgate.http.requests", "route", "/v1/messages") >= 1);
}

#[sqlx::test]
async fn over_grpc_a_message_is_traced_from_the_callers_request_to_the_graph_attempt(pool: PgPool) {
    let (receiver, endpoint) = Receiver::start_grpc().await;
    // As Azure Container Apps' agent sets it: the general protocol and the agent's gRPC endpoint, used as given.
    let app = spawn()
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        .start(pool)
        .await;
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");

    wait_until(
        "the gRPC receiver has the request's, the delivery's and the Graph attempt's spans, and the counters",
        Duration::from_secs(30),
        || {
            let spans = receiver.spans();
            let ok = ["POST /v1/messages", "deliver", "POST sendMail"]
                .iter()
                .all(|n| spans.iter().any(|(_, s)| s.name == *n && hex(&s.trace_id) == TRACE_ID))
                && receiver.counted("mailgate.graph.attempts", "outcome", "sent") >= 1;
            async move { ok }
        },
    )
    .await;
    let spans = receiver.spans();
    let span = |name: &str| {
        let found = spans.iter().find(|(_, s)| s.name == name && hex(&s.trace_id) == TRACE_ID);
        &found.unwrap_or_else(|| panic!("no span {name}")).1
    };
    let (request, graph) = (span("POST /v1/messages"), span("POST sendMail"));
    assert_eq!(hex(&request.parent_span_id), CALLER_SPAN, "the request continues the caller's span");
    assert_eq!(graph.parent_span_id, span("deliver").span_id);
    assert_eq!(span("deliver").parent_span_id, request.span_id);
    assert_eq!(int(&graph.attributes, "http.response.status_code"), 202);
    assert_eq!(text(&spans[0].0, "service.name"), "mailgate");
    let logs = app.logs();
    assert!(
        logs.contains("exporting over OTLP") && logs.contains("Grpc"),
        "the start-up line names the transport: {logs}"
    );
}
