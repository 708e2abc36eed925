use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::metrics::Format;

fn app(http: HttpSettings, metrics: Arc<Metrics>) -> Router {
    let routes = Router::new()
        .route("/panic", get(panics))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/items/{n}", get(|axum::extract::Path(n): axum::extract::Path<u32>| async move { n.to_string() }))
        .route("/id", get(|req: Request| async move { format!("{:?}", req.headers().get(REQUEST_ID)) }));
    layers(routes, &http, metrics)
}

async fn panics() -> &'static str {
    panic!("a handler bug")
}

fn get_req(path: &str) -> Request {
    Request::builder().uri(path).body(Body::empty()).expect("request")
}

async fn problem(response: Response) -> Value {
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    serde_json::from_slice(&body).expect("json")
}

#[tokio::test]
async fn a_panicking_handler_answers_500_problem_json() {
    let metrics = Arc::new(Metrics::default());
    let response = app(HttpSettings::default(), metrics.clone()).oneshot(get_req("/panic")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().contains_key(&REQUEST_ID), "the answer still carries its request id");
    let problem = problem(response).await;
    assert_eq!(problem["code"], "internal");
    assert!(!problem["detail"].as_str().expect("detail").contains("a handler bug"), "the panic leaked: {problem}");
    assert!(metrics.encode(Format::Prometheus).contains("mailgate_http_panics_total 1"));
}

#[tokio::test]
async fn a_request_over_the_timeout_answers_503_request_timeout() {
    let http = HttpSettings { request_timeout: Duration::from_millis(100), ..HttpSettings::default() };
    let started = std::time::Instant::now();
    let response = app(http, Arc::new(Metrics::default())).oneshot(get_req("/slow")).await.expect("answered");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(problem(response).await["code"], "request_timeout");
}

#[tokio::test]
async fn beyond_the_concurrency_limit_requests_are_shed_but_probes_answer() {
    let metrics = Arc::new(Metrics::default());
    let app = app(HttpSettings { max_concurrent_requests: 1, ..HttpSettings::default() }, metrics.clone());
    let holder = tokio::spawn(app.clone().oneshot(get_req("/slow")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = app.clone().oneshot(get_req("/id")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(problem(response).await["code"], "overloaded");
    assert_eq!(app.clone().oneshot(get_req("/healthz")).await.expect("answered").status(), StatusCode::OK);
    holder.abort();
    assert!(metrics.encode(Format::Prometheus).contains("mailgate_http_shed_total{reason=\"overloaded\"} 1"));
}

#[tokio::test]
async fn only_short_plain_request_ids_are_kept() {
    let app = app(HttpSettings::default(), Arc::new(Metrics::default()));
    let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
    for (given, kept) in
        [("trace-1.2_3:x", true), (long.as_str(), false), ("has space", false), ("quote\"d", false), ("é", false)]
    {
        let mut request = get_req("/id");
        request.headers_mut().insert(REQUEST_ID, HeaderValue::from_bytes(given.as_bytes()).expect("header"));
        let response = app.clone().oneshot(request).await.expect("answered");
        let echoed = response.headers()[&REQUEST_ID].to_str().expect("ascii").to_owned();
        assert_eq!(echoed == given, kept, "{given:?} → {echoed:?}");
        if !kept {
            assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "replaced by a fresh id: {echoed}");
        }
    }
}

#[tokio::test]
async fn framework_rejections_answer_problem_json() {
    let app = app(HttpSettings::default(), Arc::new(Metrics::default()));
    let response = app.clone().oneshot(get_req("/items/not-a-number")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem = problem(response).await;
    assert_eq!(problem["code"], "bad_request");
    assert!(problem["detail"].as_str().expect("detail").contains("not-a-number"), "{problem}");
    // Successful answers, whatever their type, are left alone.
    let response = app.oneshot(get_req("/items/7")).await.expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/plain"));
}
