//! A full outbox, filled fast as the owner with `INSERT … SELECT generate_series`: the app's messages already sent
//! today (with no body left, as after delivery) and their `queued` and `sent` audit rows, plus older audit history
//! up to the requested count. Ids are time-ordered like mailgate's (UUIDv7), so the indexes grow as in production.
//! Then VACUUM ANALYZE, as autovacuum would have done on tables that grew this big over a day.

use std::time::Instant;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::message::DOMAIN;

const BATCH: i64 = 100_000;

/// A UUIDv7-shaped id from a time `t` and a number `g`, the same each time it is computed.
fn id(tag: &str) -> String {
    format!(
        "(lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(md5('{tag}' || g), 1, 19))::uuid"
    )
}

fn mailbox(mailboxes: usize) -> String {
    format!("'sender' || lpad((g % {mailboxes})::text, 3, '0') || '@{DOMAIN}'")
}

/// The reason a grant is recorded with, as mailgate words it.
const DETAIL: &str = "'RestrictAccess policy 01a2250e-7f71-714d-a3b9-5fdb9f37d2f5 allows app bench the mailboxes in \
                      bench-senders@bench.contoso.test, and ' || {mailbox} || ' is in it'";

pub async fn fill(owner: &PgPool, app_id: Uuid, messages: u64, audit: u64, mailboxes: usize) -> anyhow::Result<()> {
    let began = Instant::now();
    let now = OffsetDateTime::now_utc();
    let day_start = now.replace_time(time::Time::MIDNIGHT);
    // Spread over today so far, ending a couple of minutes ago.
    let span = ((now - day_start).as_seconds_f64() - 120.0).max(0.0);
    let (messages, audit) = (messages as i64, audit as i64);
    // Each message has its queued and sent rows; the rest of the audit rows are older history.
    let tied = (audit / 2).min(messages);
    let older = audit - 2 * tied;

    let t_today = "$2::timestamptz + make_interval(secs => $3::float8 * g / $4::float8)";
    let insert_messages = format!(
        "INSERT INTO messages (id, app_id, mailbox, subject, recipients, status, payload, attempts, next_attempt_at,
                               request_id, created_at, updated_at)
         SELECT {id}, $1, {mailbox}, 'Nightly export finished: orders, 48,213 rows (run ' || g || ')', 2, 'sent',
                NULL, 1, t, md5('request' || g)::uuid::text, t, t + interval '45 milliseconds'
           FROM generate_series($5::bigint, $6::bigint) AS g, LATERAL (SELECT {t_today} AS t) AS c",
        id = id("m"),
        mailbox = mailbox(mailboxes),
    );
    let insert_tied = format!(
        "INSERT INTO audit_events (at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status,
                                   graph_request_id, latency_ms, request_id, detail)
         SELECT t + e.delay, e.outcome, $1, 'bench', {mailbox}, {id}, e.attempt, e.status,
                CASE WHEN e.status IS NOT NULL THEN md5('graph' || g)::uuid::text END, e.latency,
                md5('request' || g)::uuid::text, CASE WHEN e.attempt IS NULL THEN {detail} END
           FROM generate_series($5::bigint, $6::bigint) AS g, LATERAL (SELECT {t_today} AS t) AS c,
                (VALUES (interval '0', 'queued', NULL::int, NULL::int, NULL::int),
                        (interval '45 milliseconds', 'sent', 1, 202, 38)) AS e(delay, outcome, attempt, status, latency)
          ORDER BY g, e.delay",
        id = id("m"),
        mailbox = mailbox(mailboxes),
        detail = DETAIL.replace("{mailbox}", &mailbox(mailboxes)),
    );
    // The 30 days before today, two rows per older message.
    let insert_older = format!(
        "INSERT INTO audit_events (at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status,
                                   graph_request_id, latency_ms, request_id, detail)
         SELECT t, CASE WHEN g % 2 = 0 THEN 'queued' ELSE 'sent' END, $1, 'bench', {mailbox}, {id},
                CASE WHEN g % 2 = 1 THEN 1 END, CASE WHEN g % 2 = 1 THEN 202 END,
                CASE WHEN g % 2 = 1 THEN md5('old-graph' || g)::uuid::text END, CASE WHEN g % 2 = 1 THEN 41 END,
                md5('old-request' || (g / 2))::uuid::text, CASE WHEN g % 2 = 0 THEN {detail} END
           FROM generate_series($5::bigint, $6::bigint) AS g,
                LATERAL (SELECT $2::timestamptz - interval '30 days' + make_interval(secs => $3::float8 * g / $4::float8) AS t) AS c
          ORDER BY g",
        id = id("old"),
        mailbox = mailbox(mailboxes),
        detail = DETAIL.replace("{mailbox}", &mailbox(mailboxes)),
    );

    let batches =
        |total: i64| (0..(total + BATCH - 1) / BATCH).map(move |b| (b * BATCH + 1, ((b + 1) * BATCH).min(total)));
    for (first, last) in batches(messages) {
        run(owner, &insert_messages, app_id, day_start, span, messages, first, last).await?;
    }
    for (first, last) in batches(tied) {
        run(owner, &insert_tied, app_id, day_start, span, messages, first, last).await?;
    }
    // Older history first in time but not in id: it is appended here, as a bulk import of the past would be.
    let thirty_days = 30.0 * 86_400.0;
    for (first, last) in batches(older) {
        run(owner, &insert_older, app_id, day_start, thirty_days, older, first, last).await?;
    }
    sqlx::query("VACUUM (ANALYZE) messages, audit_events").execute(owner).await?;
    println!(
        "bench: prefilled {messages} sent messages and {} audit rows in {:.0} s",
        2 * tied + older,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    owner: &PgPool,
    sql: &str,
    app_id: Uuid,
    start: OffsetDateTime,
    span_secs: f64,
    count: i64,
    first: i64,
    last: i64,
) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(app_id)
        .bind(start)
        .bind(span_secs)
        .bind(count as f64)
        .bind(first)
        .bind(last)
        .execute(owner)
        .await?;
    Ok(())
}
