//! The failure limiter tells 10,000 sources apart per minute; sources past that share one count, which must never
//! refuse a caller's valid credential: whoever filled the table would otherwise lock every new caller out.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;

/// A distinct spoofed address per `i`, in 10.0.0.0/8.
fn spoofed(i: u32) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

#[sqlx::test]
async fn a_valid_key_is_never_refused_for_the_failures_of_spoofed_sources(pool: PgPool) {
    let app = spawn().env("MAILGATE_CLIENT_ADDRESS_HEADER", "X-Forwarded-For").start(pool).await;
    // 10,001 sources fail once each (the table is full and the shared count begins), then 30 more failures from
    // further new sources use the shared count up.
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..10_031u32 {
        let permit = gate.clone().acquire_owned().await.expect("semaphore");
        let (http, url) = (app.http.clone(), app.url("/v1/messages"));
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth("not-a-key")
                .header("X-Forwarded-For", spoofed(i))
                .json(&message(ALLOWED))
                .send()
                .await
                .expect("send");
            drop(permit);
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert!(statuses.iter().all(|s| *s == 401), "every bad credential is checked and refused 401");

    // A new caller, from an address never seen, with a valid key: accepted.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("X-Forwarded-For", "192.0.2.1")
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    // And from one of the spoofed addresses past the table, too.
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("X-Forwarded-For", spoofed(10_020))
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    // A source told apart still answers for its own failures.
    for _ in 0..29 {
        let r = app
            .http
            .post(app.url("/v1/messages"))
            .bearer_auth("not-a-key")
            .header("X-Forwarded-For", spoofed(7))
            .json(&message(ALLOWED))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 401);
    }
    let r = app
        .http
        .post(app.url("/v1/messages"))
        .bearer_auth(&app.demo.key)
        .header("X-Forwarded-For", spoofed(7))
        .json(&message(ALLOWED))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 429);
}
