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
