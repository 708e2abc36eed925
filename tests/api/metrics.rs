//! `GET /metrics` as strict scrapers read it: prometheus_client's OpenMetrics parser (which refuses a family
//! described twice, a missing `# EOF`, a wrong type) and its Prometheus text parser, after one real send.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{ALLOWED, message, spawn, venv_python};

/// What tests/metrics/parse.py read from `page` with the parser `format` names; panics if it refused the page.
fn parse(format: &str, page: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(venv_python(root, "scripts/metrics-env.sh"))
        .arg(root.join("tests/metrics/parse.py"))
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run parse.py");
    child.stdin.take().expect("stdin").write_all(page.as_bytes()).expect("write the page");
    let out = child.wait_with_output().expect("parse.py ends");
    assert!(
        out.status.success(),
        "the {format} parser refused the page:\n{}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parse.py prints JSON")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(parsed: &Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let samples = parsed["samples"].as_array().expect("samples");
    samples.iter().find_map(|s| {
        let matches = s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v);
        if matches { s[2].as_f64() } else { None }
    })
}

fn assert_counted(parsed: &Value, format: &str) {
    let get = |name: &str, labels: &[(&str, &str)]| sample(parsed, name, labels);
    // A labelled family appears once it has a series (no auth failure or quota refusal happened here).
    let families = &parsed["families"];
    for (family, kind) in [
        ("mailgate_http_requests", "counter"),
        ("mailgate_http_request_duration_seconds", "histogram"),
        ("mailgate_decisions", "counter"),
        ("mailgate_graph_attempts", "counter"),
        ("mailgate_graph_request_duration_seconds", "histogram"),
        ("mailgate_graph_token_fetches", "counter"),
        ("mailgate_graph_token_degraded", "gauge"),
        ("mailgate_outbox_messages", "gauge"),
        ("mailgate_outbox_oldest_queued_age_seconds", "gauge"),
        ("mailgate_unknown_outcomes", "counter"),
        ("mailgate_policy_snapshot_stale", "gauge"),
        ("mailgate_drift", "counter"),
        ("mailgate_auth_throttled", "counter"),
    ] {
        assert_eq!(families[family], kind, "{format}: family {family}: {families}");
    }
    assert_eq!(get("mailgate_decisions_total", &[("result", "granted")]), Some(1.0), "{format}");
    assert_eq!(get("mailgate_graph_attempts_total", &[("outcome", "sent")]), Some(1.0), "{format}");
    assert_eq!(get("mailgate_graph_request_duration_seconds_count", &[]), Some(1.0), "{format}");
    let accepted = [("method", "POST"), ("route", "/v1/messages"), ("status", "202")];
    assert_eq!(get("mailgate_http_requests_total", &accepted), Some(1.0), "{format}");
    // Polling the message is counted under its route template, whatever the id.
    let polled = get("mailgate_http_requests_total", &[("route", "/v1/messages/{id}"), ("status", "200")]);
    assert!(polled.is_some_and(|n| n >= 1.0), "{format}: {polled:?}");
    assert!(get("mailgate_graph_token_fetches_total", &[("result", "fetched")]).is_some_and(|n| n >= 1.0), "{format}");
    assert_eq!(get("mailgate_graph_token_degraded", &[]), Some(0.0), "{format}");
    assert_eq!(get("mailgate_outbox_messages", &[("status", "queued")]), Some(0.0), "{format}");
    assert_eq!(get("mailgate_outbox_messages", &[("status", "sending")]), Some(0.0), "{format}");
    assert_eq!(get("mailgate_outbox_oldest_queued_age_seconds", &[]), Some(0.0), "{format}");
    assert_eq!(get("mailgate_unknown_outcomes_total", &[]), Some(0.0), "{format}");
    assert_eq!(get("mailgate_policy_snapshot_stale", &[]), Some(0.0), "{format}");
}

#[sqlx::test]
async fn strict_parsers_read_both_formats_and_the_counters_moved(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(app.wait_final(&id).await["status"], "sent");

    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = app.http.get(app.url("/metrics")).header("accept", accept).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let page = r.text().await.expect("body");
    assert!(page.ends_with("# EOF\n"), "{page}");
    assert!(!page.contains(&id), "a raw path reached a label:\n{page}");
    let parsed = parse("openmetrics", &page);
    assert_counted(&parsed, "openmetrics");

    let r = app.http.get(app.url("/metrics")).send().await.expect("get");
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let page = r.text().await.expect("body");
    assert!(!page.contains("# EOF"), "{page}");
    let parsed = parse("text", &page);
    assert_counted(&parsed, "text");
}
