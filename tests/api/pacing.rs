//! Exchange's 30 messages a minute per mailbox, held across two replicas in any 60-second window, at the real limit.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::load::{all_acknowledged, post_concurrently};
use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;

/// mailgate's default `MAILGATE_MAILBOX_MESSAGES_PER_MINUTE`, Exchange's limit.
const LIMIT: usize = 30;
const SEEDED: i32 = 25;
const MESSAGES: usize = 20;

#[sqlx::test]
async fn two_replicas_start_at_most_30_a_minute_and_send_the_rest_once_the_window_frees(pool: PgPool) {
    let app = spawn().start(pool).await;
    let other = app.replica();
    // Queue the messages while the mailbox is paused, so that pacing starts from one known moment.
    sqlx::query("INSERT INTO mailbox_state (mailbox, paused_until) VALUES ($1, clock_timestamp() + interval '1 hour')")
        .bind(ALLOWED)
        .execute(&app.pool)
        .await
        .expect("pause");
    let bases = [app.base.clone(), other.base.clone()];
    let posted = post_concurrently(&app.http, &bases, &app.demo.key, MESSAGES, 8, |_| message(ALLOWED)).await;
    let ids = all_acknowledged(&posted);
    assert!(app.sim.sim.received().is_empty());

    // Then: 25 sends started 55 seconds ago (in one second), and the pause lifted.
    let seeded_second: i64 = sqlx::query_scalar(
        "UPDATE mailbox_state SET paused_until = NULL, window_counts = ARRAY[$2],
                window_second = floor(extract(epoch FROM clock_timestamp()))::bigint - 55
          WHERE mailbox = $1 RETURNING window_second",
    )
    .bind(ALLOWED)
    .bind(SEEDED)
    .fetch_one(&app.pool)
    .await
    .expect("seed the window");
    app.wait_settled(Duration::from_secs(60)).await;

    for id in &ids {
        assert_eq!(app.get_message(id).await["status"], "sent", "message {id}");
    }
    let at = |s: &str| OffsetDateTime::parse(s, &Rfc3339).expect("rfc3339");
    let received: Vec<OffsetDateTime> = app.sim.sim.received().iter().map(|r| at(&r.received_at)).collect();
    assert_eq!(received.len(), MESSAGES, "each message reached Graph once");

    // The seeded starts happened somewhere in their second: count them at its latest instant, the worst case.
    let seeded_at = OffsetDateTime::from_unix_timestamp(seeded_second + 1).expect("time") - time::Duration::NANOSECOND;
    let mut starts: Vec<OffsetDateTime> = std::iter::repeat_n(seeded_at, SEEDED as usize).collect();
    starts.extend(&received);
    starts.sort();
    for &end in &starts {
        let in_window = starts.iter().filter(|&&s| s <= end && s > end - time::Duration::seconds(60)).count();
        assert!(in_window <= LIMIT, "{in_window} sends started in the 60 s up to {end}: {received:?}");
    }
    // Five went at once; the other fifteen waited for the seeded starts to leave the window, then all went.
    let window_frees = seeded_at + time::Duration::seconds(60);
    let early = received.iter().filter(|&&r| r < window_frees).count();
    assert_eq!(early, LIMIT - SEEDED as usize, "sent before the seeded starts left the window: {received:?}");
    let after = |r: Option<&OffsetDateTime>| r.map_or(f64::NAN, |r| (*r - window_frees).as_seconds_f64());
    eprintln!(
        "pacing: the first late send {:.2} s and the last {:.2} s after the seeded starts were 60 s old",
        after(received.iter().filter(|&&r| r >= window_frees).min()),
        after(received.iter().max())
    );
}
