//! Refusals are metered per app: within `MAILGATE_APP_REFUSALS_PER_MINUTE` each is answered 403 and recorded; past
//! it each is answered 429 `too_many_refusals` and the minute's are recorded as one audit row.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

#[sqlx::test]
async fn past_the_refusal_budget_refusals_get_429_and_one_audit_row_a_minute(pool: PgPool) {
    let mut app = spawn().env("MAILGATE_APP_REFUSALS_PER_MINUTE", "3").start(pool).await;
    for _ in 0..3 {
        let r = app.post_message(&message(OUTSIDE)).await;
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.expect("json")["code"], "policy_denied");
    }
    for _ in 0..4 {
        let r = app.post_message(&message(OUTSIDE)).await;
        assert_eq!(r.status(), 429);
        let retry: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "too_many_refusals", "{body}");
        assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_APP_REFUSALS_PER_MINUTE"), "{body}");
    }
    // What the allowlist grants is not held up by the app's refusals.
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    // The Graph-shaped endpoint answers in Graph's shape, with the time to come back.
    let graph_body = json!({"message": {
        "subject": "x", "body": {"contentType": "Text", "content": "y"},
        "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}],
    }});
    let r = app
        .http
        .post(app.url(&format!("/v1.0/users/{OUTSIDE}/sendMail")))
        .bearer_auth(&app.demo.key)
        .json(&graph_body)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "ApplicationThrottled", "{body}");
    assert_eq!(body["error"]["innerError"]["mailgateCode"], "too_many_refusals", "{body}");

    // A missing role is a refusal too, and each app has a budget of its own.
    let auditor = app_with_roles(&app.pool, "dashboard", &["Audit.Read"]).await;
    for want in [403, 403, 403, 429] {
        assert_eq!(app.post_message_as(&auditor, &message(ALLOWED)).await.status(), want);
    }

    // Only the refusals within the budget were written one by one.
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status = 'denied'").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'denied'").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'forbidden'").await, 3);
    let page = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(page.contains("mailgate_quota_refusals_total{quota=\"refusals_per_minute\"} 6"), "{page}");

    // On SIGTERM the minute's count is written as one row per app before the process ends.
    app.process.terminate();
    assert!(app.process.wait_exit(Duration::from_secs(60)).await.is_some_and(|s| s.success()), "{}", app.logs());
    let rows: Vec<(String, Option<i32>, Option<String>)> = sqlx::query_as(
        "SELECT app_name, http_status, detail FROM audit_events
          WHERE outcome = 'denied' AND detail LIKE '%further refusals%' ORDER BY app_name",
    )
    .fetch_all(&app.pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("dashboard", Some(429)));
    assert!(rows[0].2.as_deref().is_some_and(|d| d.starts_with("1 further refusals")), "{rows:?}");
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("logic-app", Some(429)));
    assert!(rows[1].2.as_deref().is_some_and(|d| d.starts_with("5 further refusals")), "{rows:?}");
}

#[sqlx::test]
async fn a_minute_over_the_budget_is_recorded_once_it_ends(pool: PgPool) {
    let app = spawn().env("MAILGATE_APP_REFUSALS_PER_MINUTE", "1").start(pool).await;
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 403);
    assert_eq!(app.post_message(&message(OUTSIDE)).await.status(), 429);
    // The row comes once the app's minute is over, without a restart; polled, as it is written in the background.
    let row = "SELECT count(*) FROM audit_events WHERE detail LIKE '1 further refusals of app logic-app%'";
    wait_until("the row for the minute over the budget is written", Duration::from_secs(120), || async {
        app.count(row).await == 1
    })
    .await;
}
