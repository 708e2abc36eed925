//! The audit log API: filters, cursor pagination, CSV, statistics, and refusals of bad parameters.

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{ALLOWED, OUTSIDE, TestApp, app_with_roles, message, spawn};

async fn get(app: &TestApp, key: &str, query: &str) -> reqwest::Response {
    app.http.get(app.url(&format!("/v1/audit{query}"))).bearer_auth(key).send().await.expect("get")
}

#[sqlx::test]
async fn filters_pages_csv_and_stats(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    for _ in 0..3 {
        let id = app.post_message(&message(ALLOWED)).await.json::<Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        app.wait_final(&id).await;
    }
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);

    let page: Value = get(&app, &auditor, "?app=logic-app&outcome=sent").await.json().await.expect("json");
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["outcome"] == "sent" && e["mailbox"] == ALLOWED && e["http_status"] == 202));
    assert!(page["next_cursor"].is_null());

    // Pages of two, newest first, joined by the cursor, cover everything once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page: Value = get(&app, &auditor, &query).await.json().await.expect("json");
        seen.extend(page["events"].as_array().expect("events").iter().map(|e| e["id"].as_i64().expect("id")));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    let total = app.count("SELECT count(*) FROM audit_events").await;
    assert_eq!(seen.len() as i64, total);
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first: {seen:?}");

    let r = get(&app, &auditor, &format!("?mailbox={OUTSIDE}&format=csv")).await;
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,at,outcome,app,mailbox"), "{csv}");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].contains(",denied,logic-app,ceo@contoso.test,"), "{csv}");

    let stats: Value = app
        .http
        .get(app.url("/v1/audit/stats?app=logic-app"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["by_outcome"]["sent"], 3);
    assert_eq!(stats["by_outcome"]["queued"], 3);
    assert_eq!(stats["by_outcome"]["denied"], 1);
    assert_eq!(stats["graph_latency_ms"]["count"], 3);
    assert!(stats["graph_latency_ms"]["p95"].as_f64().is_some());
    assert!(
        stats["by_mailbox"].as_array().expect("rows").iter().any(|r| r["key"] == OUTSIDE && r["outcome"] == "denied")
    );
}

#[sqlx::test]
async fn bad_parameters_name_themselves(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    for (query, field) in [
        ("?outcome=exploded", "outcome"),
        ("?since=yesterday", "since"),
        ("?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "until"),
        ("?limit=0", "limit"),
        ("?limit=5000", "limit"),
        ("?cursor=abc", "cursor"),
        ("?format=xml", "format"),
        ("?mailbox=not%20a%20mailbox", "mailbox"),
        ("?colour=blue", "colour"),
    ] {
        let r = get(&app, &auditor, query).await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(r.json::<Value>().await.expect("json")["field"], field, "{query}");
    }
}

#[sqlx::test]
async fn outcomes_over_time_come_in_buckets(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    // History at known times, and one denial now through the service.
    sqlx::query(
        "INSERT INTO audit_events (at, outcome, app_name, mailbox) VALUES
            ('2026-11-01T10:05:00Z', 'sent', 'a', 'm@x.test'), ('2026-11-01T10:59:59Z', 'sent', 'a', 'm@x.test'),
            ('2026-11-01T11:00:00Z', 'denied', 'b', 'm@x.test'), ('2026-11-01T12:00:00Z', 'sent', 'a', 'm@x.test')",
    )
    .execute(&app.pool)
    .await
    .expect("history");
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    let series = |query: &str| {
        let url = app.url(&format!("/v1/audit/timeseries{query}"));
        let key = auditor.clone();
        let http = app.http.clone();
        async move { http.get(url).bearer_auth(key).send().await.expect("get") }
    };

    let hours = "?since=2026-11-01T09:30:00Z&until=2026-11-01T12:00:00Z";
    let s: Value = series(&format!("{hours}&bucket_secs=3600")).await.json().await.expect("json");
    assert_eq!(s["bucket_secs"], 3600);
    let starts: Vec<&str> =
        s["buckets"].as_array().expect("buckets").iter().map(|b| b["start"].as_str().expect("start")).collect();
    // The first bucket holds `since`; the event at `until` is outside.
    assert_eq!(starts, ["2026-11-01T09:00:00Z", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z"]);
    assert_eq!(s["buckets"][0], serde_json::json!({"start": "2026-11-01T09:00:00Z", "total": 0, "counts": {}}));
    assert_eq!(s["buckets"][1]["counts"], serde_json::json!({"sent": 2}));
    assert_eq!(s["buckets"][2]["counts"], serde_json::json!({"denied": 1}));

    // Filtered like /v1/audit; the width chosen for 2.5 hours is 5 minutes (30 buckets).
    let s: Value = series(&format!("{hours}&app=b")).await.json().await.expect("json");
    assert_eq!(s["bucket_secs"], 300);
    assert_eq!(s["buckets"].as_array().expect("buckets").len(), 30);
    let total: i64 = s["buckets"].as_array().expect("b").iter().map(|b| b["total"].as_i64().expect("total")).sum();
    assert_eq!(total, 1);

    // By default the last 24 hours: only the denial made now.
    let s: Value = series("").await.json().await.expect("json");
    assert_eq!(s["bucket_secs"], 900);
    let counted: Vec<&Value> = s["buckets"].as_array().expect("b").iter().filter(|b| b["total"] != 0).collect();
    assert_eq!(counted.len(), 1, "{s}");
    assert_eq!(counted[0]["counts"], serde_json::json!({"denied": 1}));

    for (query, field) in [
        ("?bucket_secs=59", "bucket_secs"),
        ("?bucket_secs=hourly", "bucket_secs"),
        ("?since=2000-01-01T00:00:00Z&bucket_secs=60", "bucket_secs"),
        ("?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "until"),
        ("?outcome=exploded", "outcome"),
        ("?cursor=abc", "cursor"),
    ] {
        let r = series(query).await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(r.json::<Value>().await.expect("json")["field"], field, "{query}");
    }
    // Senders do not read the audit log.
    let r = app.http.get(app.url("/v1/audit/timeseries")).bearer_auth(&app.demo.key).send().await.expect("get");
    assert_eq!(r.status(), 403);
}
