//! Through PgBouncer in transaction mode (as Azure Flexible Server's built-in pooler on port 6432): statements never
//! run another client's statement, `serve` sends end to end with LISTEN on its own direct connection, and without
//! one it stops naming the setting. Debian's pgbouncer, installed by scripts/ensure-pgbouncer.sh where missing, runs
//! with a private configuration on a free port, pointed at the test's own database.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use graph_sim::SimConfig;
use mailgate::db;
use reqwest::Url;
use sqlx::PgPool;

use crate::support::client::post_once;
use crate::support::db::database_url;
use crate::support::logins::service_url;
use crate::support::process::Mailgate;
use crate::support::seed::{ALLOWED, OUTSIDE, SCOPE_GROUP, message, seed_demo};
use crate::support::wait::holds_within;
use crate::support::wait::wait_until;

/// A PgBouncer in transaction mode in front of one database; stopped when dropped.
struct Bouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Bouncer {
    /// Pools `db_url`'s database for its server's logins, with only two server connections, so that client
    /// connections take turns on them.
    fn start(db_url: &str, logins: &[(&str, &str)]) -> Bouncer {
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-pgbouncer.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/ensure-pgbouncer.sh");
        assert!(out.status.success(), "scripts/ensure-pgbouncer.sh failed");
        let bin = String::from_utf8(out.stdout).expect("a path").trim().to_owned();

        let url = Url::parse(db_url).expect("a database URL");
        let database = url.path().trim_start_matches('/').to_owned();
        let (host, server_port) = (url.host_str().expect("a host").to_owned(), url.port().unwrap_or(5432));
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = tempfile::tempdir().expect("tempdir");
        let users: String = logins.iter().map(|(user, password)| format!("\"{user}\" \"{password}\"\n")).collect();
        std::fs::write(dir.path().join("users.txt"), users).expect("users");
        let config = format!(
            "[databases]\n{database} = host={host} port={server_port} dbname={database}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {dir}/users.txt\npool_mode = transaction\ndefault_pool_size = 2\n\
             max_client_conn = 200\nlogfile = {dir}/pgbouncer.log\n",
            dir = dir.path().display()
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), config).expect("config");
        let mut cmd = Command::new(bin);
        // PgBouncer will not run as root: as root, it drops to the postgres user, who must read its files.
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd.arg(dir.path().join("pgbouncer.ini")).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let bouncer = Bouncer { child: child.expect("start pgbouncer"), port, dir };
        let listens = holds_within(Duration::from_secs(30), || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(listens, "pgbouncer did not listen; its log:\n{}", bouncer.log());
        bouncer
    }

    /// `direct` (a URL of the pooled database) through the pooler instead.
    fn url(&self, direct: &str) -> String {
        let mut url = Url::parse(direct).expect("a database URL");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- pgbouncer log ---\n{}", self.log());
        }
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The owner's and the service login's URLs of the test database, and a pooler in front of it for both.
async fn pooled(pool: &PgPool) -> (String, String, Bouncer) {
    let owner = database_url(pool).await;
    let service = service_url(pool, &owner).await;
    let login = |u: &str| {
        let u = Url::parse(u).expect("url");
        (u.username().to_owned(), u.password().unwrap_or("").to_owned())
    };
    let (o, s) = (login(&owner), login(&service));
    let bouncer = Bouncer::start(&owner, &[(&o.0, &o.1), (&s.0, &s.1)]);
    (owner, service, bouncer)
}

#[sqlx::test]
async fn through_the_pooler_a_statement_never_runs_another_clients(pool: PgPool) {
    let (owner, _, bouncer) = pooled(&pool).await;
    let auth = db::Auth::Password;
    let (direct, pooled) = db::connect_detecting(&owner, 4, &auth).await.expect("direct");
    assert!(!pooled, "a direct connection taken for a pooler");
    direct.close().await;
    let (db, pooled) = db::connect_detecting(&bouncer.url(&owner), 12, &auth).await.expect("through the pooler");
    assert!(pooled, "the pooler not detected");

    // Twelve clients on two server connections, each with statements of its own text, some failing: every answer
    // must be its own statement's (with sqlx's two-step prepare, a Bind ran another client's unnamed statement, or
    // met a named one that was missing or already there).
    let mut tasks = Vec::new();
    for t in 0..12i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..60i64 {
                if i % 20 == 7 {
                    let err = sqlx::query_scalar::<_, i64>("SELECT 1 / ($1::bigint - $1::bigint)")
                        .bind(i)
                        .fetch_one(&db)
                        .await
                        .expect_err("division by zero");
                    assert!(err.to_string().contains("division by zero"), "{err}");
                }
                let sql = format!("SELECT $1::bigint * 1000 + $2::bigint + {}", t * 1_000_000);
                let got: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(i).bind(t).fetch_one(&db).await.expect("query");
                assert_eq!(got, i * 1000 + t + t * 1_000_000, "client {t}, statement {i}");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    // And transactions hold, as the accept path and the sealer use them.
    let mut tx = db.begin().await.expect("begin");
    let n: i64 = sqlx::query_scalar("SELECT $1::bigint").bind(5i64).fetch_one(&mut *tx).await.expect("in tx");
    tx.commit().await.expect("commit");
    assert_eq!(n, 5);
}

#[sqlx::test]
async fn serve_through_the_pooler_sends_end_to_end_and_listens_directly(pool: PgPool) {
    let (_, service, bouncer) = pooled(&pool).await;
    let demo = seed_demo(&pool).await;
    let sim = crate::support::graph_sim::sim(SimConfig::default()).await;
    let env = [
        ("MAILGATE_LISTEN_DATABASE_URL".to_owned(), service.clone()),
        // Workers wake on notifications; a poll this rare would not deliver within the waits below.
        ("MAILGATE_POLL_INTERVAL_MS".to_owned(), "60000".to_owned()),
    ];
    let mailgate = Mailgate::start(&bouncer.url(&service), &sim, &env);
    let http = reqwest::Client::new();
    assert_eq!(post_once(&http, &mailgate.base, &demo.key, &message(OUTSIDE)).await.status, Some(403));

    // A policy change reaches the process only as a notification: OUTSIDE joins the scope group.
    let mut tx = pool.begin().await.expect("tx");
    db::groups::add_member(&mut tx, SCOPE_GROUP, OUTSIDE).await.expect("member");
    tx.commit().await.expect("commit");
    let mut ids = Vec::new();
    wait_until("the policy change is heard", Duration::from_secs(30), || {
        let (http, base, key) = (http.clone(), mailgate.base.clone(), demo.key.clone());
        async move { post_once(&http, &base, &key, &message(OUTSIDE)).await.status == Some(202) }
    })
    .await;
    for from in [ALLOWED, ALLOWED, OUTSIDE] {
        let posted = post_once(&http, &mailgate.base, &demo.key, &message(from)).await;
        ids.push(posted.id.clone().unwrap_or_else(|| panic!("not accepted: {posted:?}\n{}", mailgate.logs())));
    }
    wait_until("every message is sent", Duration::from_secs(40), || {
        let (pool, ids) = (pool.clone(), ids.clone());
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages WHERE id::text = ANY ($1) AND status = 'sent'")
                .bind(&ids)
                .fetch_one(&pool)
                .await
                .is_ok_and(|n| n == 3)
        }
    })
    .await;
    let logs = mailgate.logs();
    assert!(logs.contains("goes through a connection pooler"), "{logs}");
    assert!(!logs.contains("prepared statement"), "{logs}");
}

/// Runs `mailgate serve` with `env`, which must fail; returns its stderr.
fn serve_fails(env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    cmd.arg("serve")
        .env_clear()
        .env("MAILGATE_LISTEN", "127.0.0.1:0")
        .env("MAILGATE_GRAPH_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run mailgate");
    assert!(!out.status.success(), "serve started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[sqlx::test]
async fn through_the_pooler_without_a_direct_listen_url_serve_stops_saying_what_to_set(pool: PgPool) {
    let (owner, service, bouncer) = pooled(&pool).await;
    let through = bouncer.url(&service);
    let err = serve_fails(&[("DATABASE_URL", &through)]);
    assert!(err.contains("MAILGATE_LISTEN_DATABASE_URL") && err.contains("pooler"), "{err}");
    let err = serve_fails(&[("DATABASE_URL", &through), ("MAILGATE_LISTEN_DATABASE_URL", &through)]);
    assert!(err.contains("MAILGATE_LISTEN_DATABASE_URL reaches Postgres through a connection pooler"), "{err}");
    // Migrations hold a session lock for their whole run: never through the pooler.
    let (ok, err) = {
        let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .arg("migrate")
            .env_clear()
            .env("DATABASE_URL", &through)
            .env("MAILGATE_MIGRATION_DATABASE_URL", bouncer.url(&owner))
            .env("RUST_LOG", "warn")
            .output()
            .expect("run mailgate migrate");
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert!(!ok && err.contains("MAILGATE_MIGRATION_DATABASE_URL") && err.contains("pooler"), "{err}");
}
