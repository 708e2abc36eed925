//! MAILGATE_DB_AUTH=entra: the database password is an access token of mailgate's managed identity, fetched from the
//! identity endpoint (the Graph simulator's) and renewed before it expires. The test's own cluster checks the login
//! role's password (scram-sha-256), which the test sets to the token the endpoint hands out, as Entra would check it.

use std::process::Command;
use std::time::Duration;

use graph_sim::{Sim, SimConfig, SimHandle};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};
use uuid::Uuid;

use crate::support::client::post_once;
use crate::support::private_pg::PrivatePostgres;
use crate::support::process::Mailgate;
use crate::support::seed::{ALLOWED, message, seed_demo};
use crate::support::wait::{try_poll, wait_until};

/// The login role mailgate's identity would get from `pgaadauth_create_principal`.
const ROLE: &str = "mailgate_test_entra";
/// The resource the managed identity endpoint is asked for (the default MAILGATE_DB_SCOPE without `/.default`).
const DB_RESOURCE: &str = "https://ossrdbms-aad.database.windows.net";

/// The token the endpoint hands out for the database from now on, made the role's password as well.
async fn rotate(sim: &Sim, superuser: &PgPool) -> String {
    let token = format!("sim-db-{}", Uuid::new_v4().simple());
    sim.pin_token(DB_RESOURCE, Some(token.clone()));
    sqlx::query(AssertSqlSafe(format!("ALTER ROLE {ROLE} PASSWORD '{token}'")))
        .execute(superuser)
        .await
        .expect("set the role's password");
    token
}

async fn login(port: u16, password: &str) -> Result<(), sqlx::Error> {
    let options =
        PgConnectOptions::new().host("127.0.0.1").port(port).username(ROLE).password(password).database("postgres");
    options.connect().await.map(drop)
}

/// Posts until mailgate accepts (its pool may first meet connections the server ended) and waits until Graph got it.
async fn send_and_deliver(http: &reqwest::Client, mailgate: &Mailgate, key: &str, superuser: &PgPool) {
    let accepted = try_poll(Duration::from_secs(30), || async {
        post_once(http, &mailgate.base, key, &message(ALLOWED)).await.id
    });
    let id: Uuid = match accepted.await {
        Some(id) => id.parse().expect("uuid"),
        None => {
            let posted = post_once(http, &mailgate.base, key, &message(ALLOWED)).await;
            panic!("mailgate accepts no message: {posted:?}\n{}", mailgate.logs())
        }
    };
    wait_until("the message is sent", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(superuser)
            .await
            .is_ok_and(|s| s == "sent")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_tokens_are_the_database_password_and_are_renewed_for_new_connections() {
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start).await.expect("start postgres");
    let superuser = PgPoolOptions::new().max_connections(2).connect(&pg.url()).await.expect("connect as postgres");
    mailgate::db::MIGRATOR.run(&superuser).await.expect("migrate");
    let demo = seed_demo(&superuser).await;
    sqlx::query(AssertSqlSafe(format!("CREATE ROLE {ROLE} LOGIN IN ROLE mailgate_service")))
        .execute(&superuser)
        .await
        .expect("create the login role");
    pg.require_password(ROLE);

    // Tokens live 3 s, so mailgate renews the database's every 2 s.
    let sim =
        crate::support::graph_sim::sim(SimConfig { token_ttl: Duration::from_secs(3), ..SimConfig::default() }).await;
    let first = rotate(&sim.sim, &superuser).await;
    let port = reqwest::Url::parse(&pg.url()).expect("url").port().expect("a port");
    assert!(login(port, "not-the-token").await.is_err(), "the server must check {ROLE}'s password");
    login(port, &first).await.expect("the first token is the role's password");

    let db_url = format!("postgres://{ROLE}@127.0.0.1:{port}/postgres");
    let env = [("MAILGATE_DB_AUTH", "entra"), ("MAILGATE_MIGRATE_ON_START", "false")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mailgate = Mailgate::start(&db_url, &sim, &env);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");
    send_and_deliver(&http, &mailgate, &demo.key, &superuser).await;

    // Rotation: the endpoint hands out a new token and the server now wants it. Once the endpoint has been asked
    // twice more, the first answer has reached the pool's connect options.
    let asked = sim.sim.tokens_issued_for(DB_RESOURCE);
    let second = rotate(&sim.sim, &superuser).await;
    wait_until("mailgate renewed its database token", Duration::from_secs(30), || async {
        sim.sim.tokens_issued_for(DB_RESOURCE) >= asked + 2
    })
    .await;
    let stale = login(port, &first).await.expect_err("a stale token must be refused");
    assert_eq!(
        stale.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("28P01"),
        "a stale token fails password authentication: {stale}"
    );
    login(port, &second).await.expect("the new token is the role's password");

    // End every connection mailgate has: all it does from here on goes through connections opened with the new token.
    let before: time::OffsetDateTime =
        sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&superuser).await.expect("server time");
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1) t",
    )
    .bind(ROLE)
    .fetch_one(&superuser)
    .await
    .expect("terminate");
    assert!(ended > 0, "mailgate had no connection open as {ROLE}");
    send_and_deliver(&http, &mailgate, &demo.key, &superuser).await;
    // The change listener's connection was ended too; it listens again through the pool, so with the new token.
    wait_until("mailgate listens again", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND backend_start > $2 \
             AND query LIKE 'LISTEN %mailgate_outbox%'",
        )
        .bind(ROLE)
        .bind(before)
        .fetch_one(&superuser)
        .await
        .is_ok_and(|n| n > 0)
    })
    .await;

    let logs = mailgate.logs();
    assert!(!logs.contains(&first) && !logs.contains(&second), "a database token reached the log:\n{logs}");
}

/// `mailgate migrate` with `env` (the identity endpoint is the simulator's): success, and stdout and stderr.
fn migrate(sim: &SimHandle, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .arg("migrate")
        .env_clear()
        .env("IDENTITY_ENDPOINT", sim.identity_endpoint())
        .env("IDENTITY_HEADER", "sim-identity-secret")
        .envs(env.iter().copied())
        .output()
        .expect("run mailgate migrate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_signs_in_as_the_owner_identity_with_its_token() {
    const OWNER: &str = "mailgate_test_entra_owner";
    let pg = tokio::task::spawn_blocking(PrivatePostgres::start).await.expect("start postgres");
    let superuser = PgPoolOptions::new().max_connections(2).connect(&pg.url()).await.expect("connect as postgres");
    let token = format!("sim-db-{}", Uuid::new_v4().simple());
    for sql in [
        format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{token}'"),
        "CREATE ROLE mailgate_service NOLOGIN".to_owned(),
        format!("CREATE DATABASE mailgate_entra OWNER {OWNER}"),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(&superuser).await.expect("set up the owner");
    }
    pg.require_password(OWNER);
    let sim = crate::support::graph_sim::sim(SimConfig::default()).await;
    sim.sim.pin_token(DB_RESOURCE, Some(token.clone()));
    let port = reqwest::Url::parse(&pg.url()).expect("url").port().expect("a port");
    let owner_url = format!("postgres://{OWNER}@127.0.0.1:{port}/mailgate_entra");

    // Under entra a password in the URL is refused before anything connects, naming the setting.
    let with_password = format!("postgres://{OWNER}:{token}@127.0.0.1:{port}/mailgate_entra");
    let (ok, text) = migrate(&sim, &[("DATABASE_URL", &with_password), ("MAILGATE_DB_AUTH", "entra")]);
    assert!(!ok && text.contains("DATABASE_URL (database_url) is invalid: holds a password"), "{text}");
    assert!(!text.contains(&token), "the error repeats the password: {text}");
    // Without entra the password-less URL gets in nowhere: the server checks this role's password.
    let (ok, text) = migrate(&sim, &[("DATABASE_URL", &owner_url)]);
    assert!(!ok, "migrate without a password succeeded: {text}");

    let (ok, text) = migrate(
        &sim,
        &[("MAILGATE_MIGRATION_DATABASE_URL", &owner_url), ("DATABASE_URL", &owner_url), ("MAILGATE_DB_AUTH", "entra")],
    );
    assert!(ok, "mailgate migrate failed: {text}");
    assert!(!text.contains(&token), "the token reached the output: {text}");
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("postgres://postgres@127.0.0.1:{port}/mailgate_entra"))
        .await
        .expect("connect to the migrated database");
    let (applied, owner): (i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM _sqlx_migrations WHERE success), tableowner::text FROM pg_tables \
         WHERE tablename = 'messages'",
    )
    .fetch_one(&db)
    .await
    .expect("the schema is there");
    assert_eq!(applied, mailgate::db::MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).count() as i64);
    assert_eq!(owner, OWNER, "the tables belong to the role the token signed in as");
}
