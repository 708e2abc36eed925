//! `GET /v1/audit/export`: CSV and NDJSON of every selected event, streamed — the server's memory stays flat
//! whatever the export's size.

use serde_json::Value;
use sqlx::PgPool;

use crate::support::seed::app_with_roles;
use crate::support::server::{TestApp, spawn};

/// Events of `app` with a `detail` of about `bytes` bytes each.
async fn fill_large(pool: &PgPool, app: &str, n: i64, bytes: i32) {
    sqlx::query(
        "INSERT INTO audit_events (outcome, app_name, mailbox, detail)
         SELECT 'sent', $1, 'big@contoso.test', i || ':' || repeat(md5(i::text), $3 / 32)
           FROM generate_series(1, $2) i",
    )
    .bind(app)
    .bind(n)
    .bind(bytes)
    .execute(pool)
    .await
    .expect("fill");
}

/// Peak resident memory of a process so far, in KiB (Linux's VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

async fn export(app: &TestApp, key: &str, query: &str) -> (reqwest::header::HeaderMap, String) {
    let r = app.http.get(app.url(&format!("/v1/audit/export{query}"))).bearer_auth(key).send().await.expect("export");
    assert_eq!(r.status(), 200, "{query}");
    let headers = r.headers().clone();
    (headers, r.text().await.expect("body"))
}

async fn ids_of(pool: &PgPool, app: &str) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM audit_events WHERE app_name = $1 ORDER BY at DESC, id DESC")
        .bind(app)
        .fetch_all(pool)
        .await
        .expect("ids")
}

#[sqlx::test]
async fn audit_exports_stream_in_flat_memory(pool: PgPool) {
    const N: i64 = 1500;
    const BYTES: i32 = 4000;
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    fill_large(&app.pool, "small", N, BYTES).await;
    fill_large(&app.pool, "large", 10 * N, BYTES).await;
    let pid = app.process.pid();

    // Once small, to warm the allocator and the pool; then the peak after a ten times larger export of each format.
    let (_, small_csv) = export(&app, &auditor, "?app=small&format=csv").await;
    let (_, small_ndjson) = export(&app, &auditor, "?app=small&format=ndjson").await;
    let small_peak = peak_rss_kib(pid);
    let (csv_headers, large_csv) = export(&app, &auditor, "?app=large&format=csv").await;
    let (ndjson_headers, large_ndjson) = export(&app, &auditor, "?app=large&format=ndjson").await;
    let large_peak = peak_rss_kib(pid);
    // The large exports are ~60 MB each: gathered in memory before sending, they would raise the peak by that much
    // or more. Streamed, the peak holds a batch of rows whatever the size.
    assert!(large_csv.len() > 60_000_000 && large_ndjson.len() > 60_000_000);
    let growth = large_peak.saturating_sub(small_peak);
    assert!(growth < 16 * 1024, "peak RSS grew by {growth} KiB: from {small_peak} KiB to {large_peak} KiB");
    eprintln!("peak RSS {small_peak} KiB after the small exports, {large_peak} KiB after the 10× larger ones");

    assert_eq!(csv_headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(ndjson_headers["content-type"], "application/x-ndjson");
    for (headers, ext) in [(&csv_headers, "csv"), (&ndjson_headers, "ndjson")] {
        let disposition = headers["content-disposition"].to_str().expect("disposition");
        assert!(disposition.starts_with("attachment; filename=\"audit-events-"), "{disposition}");
        assert!(disposition.ends_with(&format!(".{ext}\"")), "{disposition}");
    }

    for (name, csv, ndjson, n) in
        [("small", &small_csv, &small_ndjson, N), ("large", &large_csv, &large_ndjson, 10 * N)]
    {
        let want = ids_of(&app.pool, name).await;
        assert_eq!(want.len() as i64, n);
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines[0].starts_with("id,at,outcome,app,mailbox"), "{}", lines[0]);
        let csv_ids: Vec<i64> =
            lines[1..].iter().map(|l| l.split(',').next().expect("id").parse().expect("id")).collect();
        assert_eq!(csv_ids, want, "{name}: the CSV has every event once, newest first");
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!((first[2], first[3], first[4]), ("sent", name, "big@contoso.test"));
        assert!(first[12].len() > BYTES as usize - 64, "the detail whole");

        let events: Vec<Value> =
            ndjson.lines().map(|l| serde_json::from_str(l).expect("one JSON event per line")).collect();
        let ndjson_ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().expect("id")).collect();
        assert_eq!(ndjson_ids, want, "{name}: the NDJSON has every event once, newest first");
        assert!(events.iter().all(|e| e["app_name"] == name && e["outcome"] == "sent"));
    }
}

#[sqlx::test]
async fn audit_exports_escape_csv_and_refuse_bad_parameters(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let tricky = "say \"hi\", then\nbreak=1";
    sqlx::query(
        "INSERT INTO audit_events (outcome, app_name, mailbox, detail) VALUES ('denied', 'tricky', '=cmd@x.test', $1)",
    )
    .bind(tricky)
    .execute(&app.pool)
    .await
    .expect("insert");
    let (_, csv) = export(&app, &auditor, "?app=tricky").await;
    let row = csv.split_once("\r\n").expect("header").1;
    assert!(row.ends_with(",\"say \"\"hi\"\", then\nbreak=1\"\r\n"), "{row}");
    assert!(row.contains(",'=cmd@x.test,"), "a formula is defused: {row}");
    let (headers, by_default) = export(&app, &auditor, "?app=tricky&outcome=denied").await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8", "CSV unless asked otherwise");
    assert_eq!(by_default.lines().count(), 3, "header and one quoted row over two lines");
    let r = app
        .http
        .get(app.url("/v1/audit/export?app=tricky"))
        .header("accept", "application/x-ndjson")
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("export");
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let event: Value = serde_json::from_str(r.text().await.expect("body").trim_end()).expect("one event");
    assert_eq!(event["detail"], tricky);

    let (_, none) = export(&app, &auditor, "?app=nobody&format=ndjson").await;
    assert_eq!(none, "", "no event, no line");
    for (query, field) in [("?format=xml", "format"), ("?limit=5", "limit"), ("?outcome=exploded", "outcome")] {
        let r =
            app.http.get(app.url(&format!("/v1/audit/export{query}"))).bearer_auth(&auditor).send().await.expect("get");
        assert_eq!(r.status(), 422, "{query}");
        assert_eq!(r.json::<Value>().await.expect("json")["field"], field, "{query}");
    }
    let sender = app_with_roles(&app.pool, "sender", &["Mail.Send"]).await;
    let r = app.http.get(app.url("/v1/audit/export")).bearer_auth(&sender).send().await.expect("get");
    assert_eq!(r.status(), 403, "exports need Audit.Read");
}
