//! The audit log API: filters, cursor pagination, CSV, statistics, and refusals of bad parameters.

use serde_json::Value;
use sqlx::PgPool;

use crate::support::audit::{fill, past_partitions};
use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::{TestApp, spawn};

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
        ("?message_id=42", "message_id"),
        ("?format=xml", "format"),
        ("?mailbox=not%20a%20mailbox", "mailbox"),
        ("?colour=blue", "colour"),
    ] {
        let r = get(&app, &auditor, query).await;
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(r.json::<Value>().await.expect("json")["field"], field, "{query}");
    }
    // A cursor is opaque: one this service did not issue (or an old id-only one) is refused, naming it.
    let old_style = base64_url("before:12");
    for cursor in ["abc", old_style.as_str(), &base64_url("at:x:1")] {
        let r = get(&app, &auditor, &format!("?cursor={cursor}")).await;
        assert_eq!(r.status(), 422, "{cursor}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{cursor}");
        let problem: Value = r.json().await.expect("json");
        assert_eq!((problem["field"].as_str(), problem["code"].as_str()), (Some("cursor"), Some("invalid_field")));
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// Pages through `query` with the cursor until the end; returns the ids in the order seen and the Link headers'
/// agreement with `next_cursor`.
async fn page_through(app: &TestApp, key: &str, query: &str, limit: usize) -> Vec<(String, i64)> {
    let mut seen = Vec::new();
    let mut url = format!("{query}&limit={limit}");
    loop {
        let r = get(app, key, &url).await;
        assert_eq!(r.status(), 200, "{url}");
        let link = r.headers().get("link").map(|v| v.to_str().expect("link").to_owned());
        let page: Value = r.json().await.expect("json");
        for e in page["events"].as_array().expect("events") {
            seen.push((e["at"].as_str().expect("at").to_owned(), e["id"].as_i64().expect("id")));
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                let link = link.expect("a Link header on every page but the last");
                assert!(link.contains(&format!("cursor={c}>")) && link.ends_with("rel=\"next\""), "{link}");
                url = format!("{query}&limit={limit}&cursor={c}");
            }
            None => {
                assert!(link.is_none(), "no Link after the last page");
                break;
            }
        }
    }
    seen
}

#[sqlx::test]
async fn keyset_pages_see_every_event_once_while_events_arrive(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let before: Vec<i64> = fill(&app.pool, "paged", 2000, 70).await;

    // Writers keep appending events of the same app (and others) while the pages are read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (pool, stop) = (app.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut added = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                sqlx::query(
                    "INSERT INTO audit_events (outcome, app_name) SELECT 'sent', 'paged' FROM generate_series(1, 5)",
                )
                .execute(&pool)
                .await
                .expect("insert");
                added += 5;
                tokio::task::yield_now().await;
            }
            added
        })
    };
    let unfiltered = page_through(&app, &auditor, "?app=paged", 37).await;
    let sent = page_through(&app, &auditor, "?app=paged&outcome=sent", 50).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let added = writer.await.expect("writer");
    assert!(added > 0, "events arrived while paging");

    let mut want = before.clone();
    want.sort_unstable();
    for (name, seen) in [("app", &unfiltered), ("app and outcome", &sent)] {
        // Newest first, strictly: (at, id) descending, no pair twice.
        let keys: Vec<(time::OffsetDateTime, i64)> = seen
            .iter()
            .map(|(at, id)| {
                (time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("at"), *id)
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] > w[1]), "{name}: not strictly newest first");
        let mut ids: Vec<i64> = seen.iter().map(|(_, id)| *id).filter(|id| before.contains(id)).collect();
        ids.sort_unstable();
        if name == "app" {
            assert_eq!(ids, want, "{name}: every event there before paging, exactly once");
        } else {
            let sent_before: Vec<i64> =
                sqlx::query_scalar("SELECT id FROM audit_events WHERE id = ANY($1) AND outcome = 'sent' ORDER BY id")
                    .bind(&before)
                    .fetch_all(&app.pool)
                    .await
                    .expect("sent");
            assert_eq!(ids, sent_before, "{name}: every sent event there before paging, exactly once");
        }
    }
}

#[sqlx::test]
async fn every_filter_reads_an_index_without_sorting(pool: PgPool) {
    use mailgate::db::audit::{Cursor, Filter, explain_page_query};
    past_partitions(&pool, 4).await;
    fill(&pool, "indexed", 30_000, 100).await;
    fill(&pool, "other", 30_000, 100).await;
    sqlx::query("ANALYZE audit_events").execute(&pool).await.expect("analyze");
    let (at, message_id): (time::OffsetDateTime, uuid::Uuid) = sqlx::query_as(
        "SELECT at, message_id FROM audit_events WHERE app_name = 'indexed' ORDER BY at DESC LIMIT 1 OFFSET 500",
    )
    .fetch_one(&pool)
    .await
    .expect("a row");
    let holding: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tableoid::regclass::text FROM audit_events")
        .fetch_all(&pool)
        .await
        .expect("partitions");
    assert!(holding.len() >= 4, "events in several months: {holding:?}");
    let now = time::OffsetDateTime::now_utc();
    let filters = [
        ("none", Filter::default()),
        ("app", Filter { app: Some("indexed".into()), ..Filter::default() }),
        ("mailbox", Filter { mailbox: Some("box3@contoso.test".into()), ..Filter::default() }),
        ("outcome", Filter { outcome: Some("denied".into()), ..Filter::default() }),
        ("message", Filter { message_id: Some(message_id), ..Filter::default() }),
        ("since", Filter { since: Some(now - time::Duration::days(40)), ..Filter::default() }),
        (
            "since and until",
            Filter {
                since: Some(now - time::Duration::days(50)),
                until: Some(now - time::Duration::days(20)),
                ..Filter::default()
            },
        ),
    ];
    for (name, filter) in &filters {
        for cursor in [None, Some(Cursor { at, id: i64::MAX })] {
            let plan: Vec<String> =
                explain_page_query(filter, cursor, 101).build_query_scalar().fetch_all(&pool).await.expect("explain");
            // Plan nodes, without the arrows; a Merge Append's "Sort Key" line is not a sort.
            let nodes: Vec<&str> = plan.iter().map(|l| l.trim_start().trim_start_matches("->").trim_start()).collect();
            let plan = plan.join("\n");
            eprintln!("{name}, {cursor:?}:\n{plan}");
            assert!(nodes.iter().any(|n| n.starts_with("Index Scan")), "{name}, {cursor:?}: no index scan\n{plan}");
            // A message has a handful of events: the planner may rightly sort those its index finds. Any other
            // page must come in index order, or it would sort all the events its filter selects.
            let sorts = nodes.iter().any(|n| n.starts_with("Sort  (") || n.starts_with("Incremental Sort"));
            if *name == "message" {
                assert!(plan.contains("_message_id_at_id_idx"), "{name}, {cursor:?}: not the message index\n{plan}");
            } else {
                assert!(!sorts, "{name}, {cursor:?}: sorts\n{plan}");
            }
            // An empty partition may be "scanned" (for nothing); one holding events never.
            let scanned = nodes.iter().filter_map(|n| n.strip_prefix("Seq Scan on ")?.split(' ').next());
            for partition in scanned {
                assert!(!holding.iter().any(|h| h == partition), "{name}, {cursor:?}: scans {partition}\n{plan}");
            }
        }
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
        ("?since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:00Z&bucket_secs=60", "bucket_secs"),
        // Longer than the retention (400 days).
        ("?since=2000-01-01T00:00:00Z", "since"),
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
