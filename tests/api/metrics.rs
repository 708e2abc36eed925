//! `GET /metrics` as strict scrapers read it: prometheus_client's OpenMetrics parser (which refuses a family
//! described twice, a missing `# EOF`, a wrong type) and its Prometheus text parser, after one real send.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sqlx::PgPool;

use crate::support::python::venv_python;
use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;

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
    // Every family is there, labelled ones with their known label values at zero (no auth failure, shed request or
    // quota refusal happened here).
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
        ("mailgate_auth_failures", "counter"),
        ("mailgate_http_shed", "counter"),
        ("mailgate_quota_refusals", "counter"),
        ("mailgate_http_inflight_body_bytes", "gauge"),
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
    let id = app.send(&message(ALLOWED)).await;
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

/// Every series an expression asks for: each `mailgate_…` name, with the label values its matchers name
/// (`outcome="sent"`, and each alternative of `reason=~"a|b"`).
fn wanted_series(expr: &str, out: &mut Vec<(String, Vec<(String, String)>)>) {
    let mut rest = expr;
    while let Some(at) = rest.find("mailgate_") {
        rest = &rest[at..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = rest[..end].to_owned();
        rest = &rest[end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').expect("a closed matcher");
            for matcher in inner[..close].split(',') {
                let matcher: String = matcher.split_whitespace().collect();
                if let Some((label, values)) = matcher.split_once("=~") {
                    for v in values.trim_matches('"').split('|') {
                        labels.push((label.to_owned(), v.to_owned()));
                    }
                } else if let Some((label, value)) = matcher.split_once('=') {
                    labels.push((label.to_owned(), value.trim_matches('"').to_owned()));
                }
            }
            rest = &inner[close..];
        }
        if labels.is_empty() {
            out.push((name, labels));
        } else {
            // One series per label value asked for.
            out.extend(labels.into_iter().map(|l| (name.clone(), vec![l])));
        }
    }
}

/// Whether the Prometheus text `page` has a sample of `name` carrying every label of `labels`.
fn has_series(page: &str, name: &str, labels: &[(String, String)]) -> bool {
    page.lines().filter(|l| !l.starts_with('#')).any(|line| {
        let (series, _) = line.rsplit_once(' ').unwrap_or((line, ""));
        let (sample, label_text) = series.split_once('{').unwrap_or((series, ""));
        sample == name && labels.iter().all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
    })
}

#[sqlx::test]
async fn every_series_the_dashboard_and_the_alerts_query_exists_before_its_first_event(pool: PgPool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut exprs = Vec::new();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/grafana/mailgate.json")).expect("dashboard"))
            .expect("json");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    assert!(exprs.len() >= 15, "the dashboard's queries were not found: {exprs:?}");
    // The alert rules' expressions, as plain text: only the series names and matchers are read from them.
    exprs.push(std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).expect("alerts"));
    let mut wanted = Vec::new();
    for e in &exprs {
        wanted_series(e, &mut wanted);
    }

    let app = spawn().start(pool).await;
    // Request counters appear with the first request, and the first scrape is one: read the second.
    app.http.get(app.url("/metrics")).send().await.expect("first scrape");
    let page = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(name, labels)| !has_series(&page, name, labels))
        .map(|(name, labels)| format!("{name}{labels:?}"))
        .collect();
    assert!(missing.is_empty(), "series the dashboard or the alerts query are missing: {missing:?}\n{page}");
}
