//! Postgres restarting under a load, cleanly or after its postmaster was killed: the API answers 503 while it is
//! down, mailgate recovers by itself, and no acknowledged message is lost or sent twice. Runs on a private cluster,
//! so other tests' server is never touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use graph_sim::{Fault, ScriptedFault};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;

use crate::support::client::{Posted, post_once};
use crate::support::invariants::{assert_crash_lost_and_doubled_nothing, assert_delivered_at_most_once};
use crate::support::load::Posters;
use crate::support::private_pg::PrivatePostgres;
use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

/// mailgate waits up to its pool's acquire timeout (5 s) for a connection before answering 503; the outage must be
/// longer than that for a request to meet it.
const OUTAGE: Duration = Duration::from_secs(7);
const POSTERS: usize = 4;

/// One answer with the time its request was sent.
struct Sent {
    at: Instant,
    posted: Posted,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_gives_503s_then_recovers_without_losing_mail() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start).await.expect("start postgres");
    let pool =
        PgPoolOptions::new().max_connections(4).connect(&pg.url()).await.expect("connect to the private cluster");
    mailgate::db::MIGRATOR.run(&pool).await.expect("migrate");
    let app = spawn()
        .env("MAILGATE_MIGRATE_ON_START", "false")
        .env("MAILGATE_LEASE_SECS", "30")
        .env("MAILGATE_GRAPH_TIMEOUT_SECS", "5")
        .env("MAILGATE_MAILBOX_MESSAGES_PER_MINUTE", "100000")
        .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
        .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
        .start_on(pool, pg.url())
        .await;
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Delay { ms: 20 }, u32::MAX)]);

    // Posters that never stop until told to; a request that hangs past 15 s counts as a failure.
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");
    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for _ in 0..POSTERS {
        let (http, base, key, log, stop) =
            (http.clone(), app.base.clone(), app.demo.key.clone(), log.clone(), stop.clone());
        posters.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let posted = post_once(&http, &base, &key, &message(ALLOWED)).await;
                log.lock().await.push(Sent { at, posted });
                // A steady rate of posts, not a wait: the load the outage is met with.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let accepted = || async { log.lock().await.iter().filter(|s| s.posted.acknowledged()).count() };
    wait_until("some messages are accepted", Duration::from_secs(20), || async { accepted().await >= 50 }).await;

    let pg = Arc::new(pg);
    let down = pg.clone();
    tokio::task::spawn_blocking(move || down.down()).await.expect("stop postgres");
    let went_down = Instant::now();
    // The outage's length is what is under test: Postgres stays down this long.
    tokio::time::sleep(OUTAGE).await;
    let up = pg.clone();
    tokio::task::spawn_blocking(move || up.up()).await.expect("start postgres");
    let came_up = Instant::now();

    // mailgate recovers by itself: posts are accepted again.
    wait_until("a post is accepted after the restart", Duration::from_secs(30), || async {
        log.lock().await.iter().any(|s| s.at > came_up && s.posted.acknowledged())
    })
    .await;
    // Posts keep coming a while after the recovery, so the log shows the service after the outage too.
    wait_until("posts keep being accepted after the restart", Duration::from_secs(30), || async {
        log.lock().await.iter().filter(|s| s.at > came_up && s.posted.acknowledged()).count() >= 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for p in posters {
        p.await.expect("poster");
    }

    let log = log.lock().await;
    for s in log.iter() {
        let p = &s.posted;
        match p.status {
            Some(202) => {}
            Some(503) => {
                assert_eq!(p.content_type.as_deref(), Some("application/problem+json"), "{p:?}");
                assert_eq!(p.error.as_deref(), Some("unavailable"), "{p:?}");
            }
            _ => panic!("a post {:?} into the outage got {p:?}", s.at.checked_duration_since(went_down)),
        }
    }
    let unavailable = log.iter().filter(|s| s.posted.status == Some(503)).count();
    assert!(unavailable >= 1, "no post met the outage with a 503 ({} posts)", log.len());
    let after = log.iter().filter(|s| s.at > came_up && s.posted.acknowledged()).count();
    eprintln!("{} posts: {unavailable} answered 503 during the outage, {after} accepted after it", log.len());

    // Every acknowledged message is delivered once; `unknown` only for a send in flight when Postgres went away.
    let acknowledged: Vec<String> = log.iter().filter_map(|s| s.posted.id.clone()).collect();
    drop(log);
    app.wait_settled(Duration::from_secs(60)).await;
    let statuses = assert_delivered_at_most_once(&app, &acknowledged, &["sent", "unknown"]).await;
    let unknown = statuses.iter().filter(|s| *s == "unknown").count();
    assert!(unknown <= 8, "{unknown} messages ended unknown after one restart");
    // mailgate goes before its database.
    drop(app);
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_the_postmaster_with_fsync_on_loses_no_acknowledged_message() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start_durable).await.expect("start postgres");
    let pool =
        PgPoolOptions::new().max_connections(4).connect(&pg.url()).await.expect("connect to the private cluster");
    mailgate::db::MIGRATOR.run(&pool).await.expect("migrate");
    let app = spawn()
        .env("MAILGATE_MIGRATE_ON_START", "false")
        .env("MAILGATE_LEASE_SECS", "30")
        .env("MAILGATE_GRAPH_TIMEOUT_SECS", "5")
        .env("MAILGATE_MAILBOX_MESSAGES_PER_MINUTE", "100000")
        .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
        .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
        .start_on(pool, pg.url())
        .await;
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(Fault::Delay { ms: 20 }, u32::MAX)]);

    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");
    let posters = Posters::start(&http, &app.base, &app.demo.key, POSTERS, |_| message(ALLOWED));
    wait_until("some messages are accepted", Duration::from_secs(30), || async { posters.accepted().await >= 50 })
        .await;

    // The postmaster dies mid-load, every commit it acknowledged only as safe as its write-ahead log.
    let pg = Arc::new(pg);
    let crashing = pg.clone();
    tokio::task::spawn_blocking(move || crashing.crash()).await.expect("kill -9 the postmaster");
    let acknowledged_before = posters.accepted().await;
    let up = pg.clone();
    tokio::task::spawn_blocking(move || up.up()).await.expect("start postgres");
    assert!(
        pg.log().contains("automatic recovery in progress"),
        "the restart did not recover from a crash; the server's log:\n{}",
        pg.log()
    );

    // mailgate finds the recovered server by itself: posts are accepted again.
    wait_until("posts are accepted after the crash", Duration::from_secs(60), || async {
        posters.accepted().await > acknowledged_before + 20
    })
    .await;
    let acknowledged: Vec<String> = posters.stop().await.into_iter().filter_map(|p| p.id).collect();
    app.wait_settled(Duration::from_secs(90)).await;
    let unknown = assert_crash_lost_and_doubled_nothing(&app, &acknowledged).await;
    // Only a send whose outcome could not be written before the crash may be unknown; the workers bound those.
    assert!(unknown.len() <= 8, "{} messages ended unknown after one crash", unknown.len());
    eprintln!("postmaster killed: {} acknowledged, {} unknown", acknowledged.len(), unknown.len());
    drop(app);
    drop(pg);
}
