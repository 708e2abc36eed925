//! Liveness, readiness, and answers for unknown paths.

use mailgate::auth::ApiKey;
use reqwest::Url;
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};

use futures::FutureExt;

use crate::support::seed::{ALLOWED, app_with_roles, message};
use crate::support::server::spawn;
use crate::support::wait::eventually;
use crate::support::wait::try_poll;

#[sqlx::test]
async fn healthz_and_readyz_report_the_database_and_the_graph_token(pool: PgPool) {
    let app = spawn().start(pool).await;
    let r = app.http.get(app.url("/healthz")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    // The token is asked for in the background from start: polled until it has come.
    let readyz = || async {
        let r = app.http.get(app.url("/readyz")).send().await.expect("get");
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.expect("json")
    };
    let has_token = try_poll(std::time::Duration::from_secs(10), || async {
        Some(readyz().await).filter(|body| body["graph_token"] == "ok")
    });
    let body = match has_token.await {
        Some(body) => body,
        None => readyz().await,
    };
    assert_eq!((body["database"].as_str(), body["graph_token"].as_str()), (Some("ok"), Some("ok")), "{body}");
    let r = app.http.get(app.url("/nope")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

#[sqlx::test]
async fn a_graph_token_outage_is_degraded_but_ready(pool: PgPool) {
    // The wrong identity header: the token endpoint refuses mailgate. Accepted mail waits in the outbox, so mailgate
    // can still accept: ready, with the token reported degraded.
    let app = spawn().env("IDENTITY_HEADER", "wrong-secret").start(pool).await;
    let r = app.http.get(app.url("/readyz")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!((body["status"].as_str(), body["database"].as_str()), (Some("ready"), Some("ok")), "{body}");
    // Anonymous callers get the word, not the credential's error text.
    assert_eq!(body["graph_token"], "degraded", "{body}");

    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let r = app.http.get(app.url("/readyz")).bearer_auth(&admin).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let token = body["graph_token"].as_str().expect("text");
    assert!(token.starts_with("degraded: ") && token.len() > "degraded: ".len(), "{body}");
    assert!(!body.to_string().contains("wrong-secret"));

    // A sender is no admin: the anonymous answer.
    let r = app.http.get(app.url("/readyz")).bearer_auth(&app.demo.key).send().await.expect("get");
    assert_eq!(r.json::<Value>().await.expect("json")["graph_token"], "degraded");
    // An unknown key: the anonymous answer too, and counted as a failed authentication like on any route.
    let unknown = ApiKey::generate();
    let r = app.http.get(app.url("/readyz")).bearer_auth(unknown.reveal()).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["graph_token"], "degraded");

    // And it does accept: the message waits in the outbox, where the queue gauges count it.
    let r = app.post_message(&message(ALLOWED)).await;
    assert_eq!(r.status(), 202);
    let page = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("body");
    assert!(page.lines().any(|l| l == "mailgate_graph_token_degraded 1"), "{page}");
    assert!(page.lines().any(|l| l == "mailgate_auth_failures_total{reason=\"unknown_key\"} 1"), "{page}");
    let gauge = |series: &str| -> f64 {
        let line = page.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("{series}: {page}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line}"))
    };
    let waiting =
        gauge("mailgate_outbox_messages{status=\"queued\"}") + gauge("mailgate_outbox_messages{status=\"sending\"}");
    assert_eq!(waiting, 1.0, "{page}");
}

#[sqlx::test]
async fn a_database_that_refuses_connections_is_not_ready_and_only_admins_see_why(pool: PgPool) {
    // Registered before mailgate starts: a change notice arriving after the first lookup would empty the cache of
    // callers, and with the database gone the admin could not be recognised again.
    let admin = app_with_roles(&pool, "platform-admin", &["Admin"]).await;
    let app = spawn().start(pool).await;
    // The admin's key is looked up once while the database answers; mailgate then serves it from memory.
    let r = app.http.get(app.url("/readyz")).bearer_auth(&admin).send().await.expect("get");
    assert_eq!(r.status(), 200);

    // The database stops taking connections and mailgate's pool connections are cut. The notice listener's
    // connection is spared, so cached callers stay valid and an admin can still be recognised.
    let db: String = sqlx::query_scalar("SELECT current_database()").fetch_one(&app.pool).await.expect("name");
    // A database's connections are refused from outside it: from the server's `postgres` database.
    let mut admin_db = Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).expect("a URL");
    admin_db.set_path("/postgres");
    let mut conn = PgConnection::connect(admin_db.as_str()).await.expect("connect to postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false")))
        .execute(&mut conn)
        .await
        .expect("alter");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = $1 AND query NOT ILIKE 'LISTEN%'",
    )
    .bind(&db)
    .execute(&mut conn)
    .await
    .expect("terminate");

    // The database's answer is reused for up to two seconds: polled until the next check.
    let r = eventually(503, || app.http.get(app.url("/readyz")).send().map(|r| r.expect("get"))).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!((body["status"].as_str(), body["database"].as_str()), (Some("not_ready"), Some("error")), "{body}");
    assert!(!body.to_string().contains(&db), "{body}");

    let r = app.http.get(app.url("/readyz")).bearer_auth(&admin).send().await.expect("get");
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    let database = body["database"].as_str().expect("text");
    assert!(database.starts_with("error: ") && database.len() > "error: ".len(), "{body}");

    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")))
        .execute(&mut conn)
        .await
        .expect("alter back");
}
