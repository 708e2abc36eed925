//! How a page of the audit log scales with its size: the filtered pages of `GET /v1/audit` — by app, mailbox,
//! outcome, message, a time range, and the next page after a cursor — read at 10,000 and at 5,000,000 events, each
//! many times with varied values; p50 and p99 for each, and the ratio of the large log's p99 to the small one's. An
//! index per filter, read in the page's order, keeps that ratio near 1; a scan or a sort would grow it hundredfold.
//!
//! It times `mailgate::db::audit::search`, the route's own query, as the service login — so the figures are the
//! database's part of a page, without HTTP. The log is filled as the owner with `INSERT … SELECT generate_series`,
//! spread over the last 12 months (each with its partition, as the service would have made them), then VACUUM
//! ANALYZE, as autovacuum would have done.
//!
//! `cargo bench --bench audit` (about 10 minutes; `-- --large 1000000` for less). `cargo test` runs it too, at 1,000
//! and 20,000 events with few reads: it only must not rot, and its figures mean nothing.

#[allow(dead_code)]
#[path = "../send/postgres.rs"]
mod postgres;

use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use mailgate::db::audit::{Cursor, Filter, search};
use rand::Rng;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use uuid::Uuid;

const APPS: i64 = 20;
const MAILBOXES: i64 = 2000;
const SPAN_DAYS: f64 = 365.0;
const PAGE: i64 = 100;

struct Options {
    small: i64,
    large: i64,
    reads: usize,
    smoke: bool,
}

fn options() -> anyhow::Result<Option<Options>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(None);
    }
    // `cargo bench` passes --bench; `cargo test` does not, and then this is the smoke run.
    let smoke = !args.iter().any(|a| a == "--bench");
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let number = |flag: &str, default: i64| -> anyhow::Result<i64> {
        value(flag).map_or(Ok(default), |v| v.parse().with_context(|| format!("{flag}: not a number: {v:?}")))
    };
    Ok(Some(Options {
        small: number("--small", if smoke { 1_000 } else { 10_000 })?,
        large: number("--large", if smoke { 20_000 } else { 5_000_000 })?,
        reads: number("--reads", if smoke { 10 } else { 400 })? as usize,
        smoke,
    }))
}

fn main() -> std::process::ExitCode {
    let options = match options() {
        Ok(Some(o)) => o,
        Ok(None) => return std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(o: Options) -> anyhow::Result<()> {
    let began = Instant::now();
    let server = postgres::Server::start(std::env::var("DATABASE_URL").ok().as_deref()).await?;
    let name = format!("mailgate_bench_audit_{}", std::process::id());
    let outcome = bench(&server, &name, &o).await;
    server.stop(&[&name]).await;
    let table = outcome?;
    println!("\n{table}");
    println!(
        "bench: cargo bench --bench audit -- --small {} --large {} --reads {} ({}) in {:.0} s",
        o.small,
        o.large,
        o.reads,
        match (o.smoke, cfg!(debug_assertions)) {
            (true, _) => "smoke",
            (false, true) => "full sizes, unoptimised build",
            (false, false) => "full sizes",
        },
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bench(server: &postgres::Server, name: &str, o: &Options) -> anyhow::Result<String> {
    let db = server.database(name).await?;
    let owner = PgPoolOptions::new().max_connections(2).connect(&db.owner_url).await?;
    mailgate::db::MIGRATOR.run(&owner).await.context("migrations")?;
    sqlx::query(
        "SELECT audit_events_create_partition(now() - make_interval(months => m)) FROM generate_series(1, 12) m",
    )
    .execute(&owner)
    .await?;
    let service = PgPoolOptions::new().max_connections(2).connect(&db.service_url).await?;
    let now = OffsetDateTime::now_utc();

    fill(&owner, 0, o.small, now).await?;
    let small = measure(&service, o, now).await?;
    fill(&owner, o.small, o.large, now).await?;
    let large = measure(&service, o, now).await?;
    owner.close().await;
    service.close().await;

    let mut table = format!(
        "Pages of {PAGE} events, {} reads each; milliseconds. PostgreSQL {}.\n\n\
         | page | p50 at {} | p99 at {} | p50 at {} | p99 at {} | p99 ratio |\n|---|---|---|---|---|---|\n",
        o.reads,
        server.version,
        thousands(o.small),
        thousands(o.small),
        thousands(o.large),
        thousands(o.large)
    );
    for ((name, s), (_, l)) in small.iter().zip(&large) {
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        table.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            ms(s, 0.5),
            ms(s, 0.99),
            ms(l, 0.5),
            ms(l, 0.99),
            ms(l, 0.99) / ms(s, 0.99)
        ));
    }
    Ok(table)
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The message id of event number `g`: two events (queued, then sent or another outcome) per message.
fn message_id(g: i64) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0000 | (g / 2) as u128)
}

/// Events `from..to` at random times over the last year (the second fill interleaves with the first), over 20 apps and 2,000 mailboxes; outcomes as a real log has them: mostly queued and sent.
async fn fill(owner: &PgPool, from: i64, to: i64, now: OffsetDateTime) -> anyhow::Result<()> {
    let began = Instant::now();
    const BATCH: i64 = 250_000;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        sqlx::query(
            "INSERT INTO audit_events (at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status,
                                       latency_ms, request_id, detail)
             SELECT $1::timestamptz - make_interval(secs => $2::float8 * random()),
                    CASE WHEN g % 2 = 0 THEN 'queued'
                         WHEN g % 97 = 1 THEN 'denied' WHEN g % 89 = 1 THEN 'unknown' ELSE 'sent' END,
                    NULL, 'app-' || (g % $3), 'sender' || ((g / 2) % $4) || '@bench.contoso.test',
                    ('00000000-0000-7000-8000-' || lpad(to_hex(g / 2), 12, '0'))::uuid,
                    CASE WHEN g % 2 = 1 THEN 1 END, CASE WHEN g % 2 = 1 THEN 202 END,
                    CASE WHEN g % 2 = 1 THEN 40 + g % 50 END, md5('request' || (g / 2))::uuid::text,
                    CASE WHEN g % 2 = 0 THEN 'RestrictAccess policy allows app-' || (g % $3) || ' the mailbox' END
               FROM generate_series($5::bigint, $6::bigint - 1) AS g",
        )
        .bind(now)
        .bind(SPAN_DAYS * 86_400.0)
        .bind(APPS)
        .bind(MAILBOXES)
        .bind(start)
        .bind(end)
        .execute(owner)
        .await
        .context("filling the audit log")?;
        start = end;
    }
    sqlx::query("VACUUM ANALYZE audit_events").execute(owner).await?;
    eprintln!("bench: {} events in the log ({:.0} s to fill)", thousands(to), began.elapsed().as_secs_f64());
    Ok(())
}

type Results = Vec<(&'static str, Histogram<u64>)>;

/// Each kind of page, `reads` times with values drawn anew each time; microseconds.
async fn measure(service: &PgPool, o: &Options, now: OffsetDateTime) -> anyhow::Result<Results> {
    let mut rng = rand::rng();
    let span = time::Duration::seconds_f64(SPAN_DAYS * 86_400.0);
    let kinds: [&'static str; 7] = [
        "newest",
        "by app",
        "by mailbox",
        "by outcome (denied)",
        "by message",
        "one day's range",
        "next page (cursor)",
    ];
    let mut results: Results = Vec::new();
    for kind in kinds {
        let mut h = Histogram::<u64>::new(3)?;
        for _ in 0..o.reads {
            let day = now - span * rng.random_range(0.0..1.0);
            let (filter, cursor) = match kind {
                "newest" => (Filter::default(), None),
                "by app" => {
                    (Filter { app: Some(format!("app-{}", rng.random_range(0..APPS))), ..Filter::default() }, None)
                }
                "by mailbox" => (
                    Filter {
                        mailbox: Some(format!("sender{}@bench.contoso.test", rng.random_range(0..MAILBOXES))),
                        ..Filter::default()
                    },
                    None,
                ),
                "by outcome (denied)" => (Filter { outcome: Some("denied".into()), ..Filter::default() }, None),
                // Among the events of the small log, which the large one holds too.
                "by message" => (
                    Filter { message_id: Some(message_id(rng.random_range(0..o.small.max(1)))), ..Filter::default() },
                    None,
                ),
                "one day's range" => {
                    (Filter { since: Some(day), until: Some(day + time::Duration::DAY), ..Filter::default() }, None)
                }
                _ => (
                    Filter { app: Some(format!("app-{}", rng.random_range(0..APPS))), ..Filter::default() },
                    Some(Cursor { at: day, id: i64::MAX }),
                ),
            };
            let began = Instant::now();
            let rows = search(service, &filter, cursor, PAGE + 1).await?;
            h.record(began.elapsed().as_micros().max(1) as u64)?;
            std::hint::black_box(rows);
        }
        results.push((kind, h));
    }
    Ok(results)
}
