//! Postgres restarting under a load: the API answers 503 while it is down, mailgate recovers by itself, and no
//! acknowledged message is lost or sent twice. Runs on a private cluster, so other tests' server is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mailgate::sim::{Fault, ScriptedFault};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Mutex;

use crate::helpers::{ALLOWED, assert_delivered_at_most_once, message, spawn};
use crate::process::{Posted, post_once, wait_until};

/// mailgate waits up to its pool's acquire timeout (5 s) for a connection before answering 503; the outage must be
/// longer than that for a request to meet it.
const OUTAGE: Duration = Duration::from_secs(7);
const POSTERS: usize = 4;

/// A Postgres cluster of this test's own in a temporary directory, stopped when dropped.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// initdb and postgres refuse to run as root: then every command runs as the `postgres` OS user.
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = server_bindir().unwrap_or_else(|| {
            panic!(
                "this test needs the PostgreSQL server programs (initdb, pg_ctl) to run a private cluster, and none \
                 were found via `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH; install the PostgreSQL \
                 server package"
            )
        });
        let as_postgres = run_output(Command::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::tempdir().expect("tempdir");
        if as_postgres {
            let chown = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("run chown");
            assert!(chown.success(), "chown postgres {} failed: is there a `postgres` OS user?", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let pg = PrivatePostgres { dir, bin, port, as_postgres };
        let data = pg.data();
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl ARGS`; the server it starts must not inherit our pipes, or it would hold them open.
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c.status().expect("run pg_ctl").success()
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let log_arg = log.to_str().expect("utf-8 path");
        assert!(
            self.pg_ctl(&["-o", &options, "-l", log_arg, "-w", "-t", "60", "start"]),
            "pg_ctl start failed; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A fast shutdown: sessions are ended (SQLSTATE 57P01), new connections refused until `up`.
    fn down(&self) {
        assert!(self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]), "pg_ctl stop failed");
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

fn run_output(c: &mut Command) -> String {
    c.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Where initdb and pg_ctl are: `pg_config --bindir`, Debian's versioned directories (newest first), then PATH.
fn server_bindir() -> Option<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let from_pg_config = PathBuf::from(run_output(Command::new("pg_config").arg("--bindir")).trim());
    if has_server(&from_pg_config) {
        return Some(from_pg_config);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    if let Some((_, d)) = debian.into_iter().rev().find(|(_, d)| has_server(d)) {
        return Some(d);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_server(d))
}

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
    tokio::time::sleep(OUTAGE).await;
    let up = pg.clone();
    tokio::task::spawn_blocking(move || up.up()).await.expect("start postgres");
    let came_up = Instant::now();

    // mailgate recovers by itself: posts are accepted again.
    wait_until("a post is accepted after the restart", Duration::from_secs(30), || async {
        log.lock().await.iter().any(|s| s.at > came_up && s.posted.acknowledged())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
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
