//! The service role moves a message along its delivery but cannot change what the message is: which app sends it,
//! from which mailbox, with which body.

use std::time::Duration;

use mailgate::db::audit::Outcome;
use mailgate::db::delivery::{self, AttemptEvent, AttemptRecord};
use mailgate::db::messages::{self, Status};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::outbox::{claim, limits, new_app, queue, service};

const INSUFFICIENT_PRIVILEGE: &str = "42501";

async fn refused(db: &PgPool, sql: &str, id: Uuid) {
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(id).execute(db).await.expect_err(sql);
    let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some(INSUFFICIENT_PRIVILEGE), "{sql}: {err}");
}

fn outcome(c: &delivery::Claimed, status: Status, keep_body: bool) -> AttemptRecord {
    AttemptRecord {
        id: c.id,
        attempt: c.attempt,
        status,
        retry_secs: None,
        last_error: None,
        keep_body,
        app_id: c.app_id,
        app_name: c.app_name.clone(),
        mailbox: c.mailbox.clone(),
        events: vec![AttemptEvent::new(Outcome::Sent)],
        pause_secs: None,
        drift: None,
        cooldown_secs: None,
    }
}

#[sqlx::test]
async fn the_service_cannot_redirect_or_rewrite_a_queued_message(pool: PgPool) {
    let svc = service(&pool).await;
    let app = new_app(&pool).await;
    let other = Uuid::now_v7();
    sqlx::query("INSERT INTO apps (id, name) VALUES ($1, 'other-app')").bind(other).execute(&pool).await.expect("app");
    let ids = queue(&pool, app, "granted@contoso.test", 3).await;

    for sql in [
        "UPDATE messages SET mailbox = 'ceo@contoso.test' WHERE id = $1",
        "UPDATE messages SET payload = '{\"message\": {\"subject\": \"wire the money\"}}' WHERE id = $1",
        "UPDATE messages SET payload = NULL WHERE id = $1",
        "UPDATE messages SET subject = 'rewritten', recipients = 99 WHERE id = $1",
        "UPDATE messages SET created_at = now() WHERE id = $1",
        "UPDATE messages SET notify_done = true WHERE id = $1",
        "UPDATE messages SET request_id = 'forged' WHERE id = $1",
    ] {
        refused(&svc, sql, ids[0]).await;
    }
    refused(&svc, &format!("UPDATE messages SET app_id = '{other}' WHERE id = $1"), ids[0]).await;
    let (mailbox, app_id, payload): (String, Uuid, Option<String>) =
        sqlx::query_as("SELECT mailbox, app_id, payload::text FROM messages WHERE id = $1")
            .bind(ids[0])
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((mailbox.as_str(), app_id), ("granted@contoso.test", app));
    assert_eq!(payload.as_deref(), Some(r#"{"message": {}}"#));

    // Delivery itself still does all it did, as the service: claim, outcome (clearing or keeping the body), sweep,
    // and the retention purge.
    let claimed = claim(&svc, 3, &limits(10, 1000)).await;
    assert_eq!(claimed.len(), 3);
    let batch = [outcome(&claimed[0], Status::Sent, false), outcome(&claimed[1], Status::Sent, true)];
    let held = delivery::record_attempts(&svc, &batch).await.expect("record");
    assert_eq!(held.len(), 2);
    assert!(
        delivery::extend_lease(&svc, claimed[2].id, claimed[2].attempt, Duration::from_secs(60)).await.expect("lease")
    );
    sqlx::query("UPDATE messages SET lease_until = clock_timestamp() - interval '1 second' WHERE id = $1")
        .bind(claimed[2].id)
        .execute(&svc)
        .await
        .expect("the service may move a lease");
    let swept = delivery::sweep(&svc, false, 6, Duration::from_secs(86_400), false).await.expect("sweep");
    assert_eq!(swept.lost, 1);
    let bodies = |id: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT payload IS NOT NULL FROM messages WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("body")
        }
    };
    assert!(!bodies(claimed[0].id).await && bodies(claimed[1].id).await && !bodies(claimed[2].id).await);
    let purged = messages::purge(&svc, Duration::ZERO, Duration::from_secs(86_400)).await.expect("purge");
    assert_eq!(purged, 1, "the kept body, past a retention of zero");
    assert!(!bodies(claimed[1].id).await);
}
