//! Spawns the real `mailgate serve` binary against its own database and a Graph simulator on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use graph_sim::{Sim, SimConfig, SimHandle};
use mailgate::auth::ApiKey;
use mailgate::db;
use mailgate::db::policies::NewPolicy;
use mailgate::policy::{AccessRight, AppSelector, PolicyScope};
use reqwest::Url;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::logins::service_url;
use crate::process::Mailgate;

pub const ALLOWED: &str = "notifications@contoso.test";
pub const OUTSIDE: &str = "ceo@contoso.test";
pub const SCOPE_GROUP: &str = "dl-graph-scope@contoso.test";

/// The mailboxes of the simulated tenant: the names these tests send as. Graph answers 404 `ErrorInvalidUser` for
/// any other, so a test that sends as a mailbox of its own adds it to its simulator (`add_mailboxes`).
pub const MAILBOXES: &[&str] = &[
    ALLOWED,
    OUTSIDE,
    "a@contoso.test",
    "b@contoso.test",
    "attempts@contoso.test",
    "batch-a@contoso.test",
    "batch-b@contoso.test",
    "batch-c@contoso.test",
    "behind-claim@contoso.test",
    "big@contoso.test",
    "billing@contoso.test",
    "box3@contoso.test",
    "bulk-busy@contoso.test",
    "bulk-quiet@contoso.test",
    "exec@contoso.test",
    "free@contoso.test",
    "full@contoso.test",
    "hr@contoso.test",
    "jane@contoso.test",
    "john@contoso.test",
    "late@contoso.test",
    "locked@contoso.test",
    "long@contoso.test",
    "lost@contoso.test",
    "moved-from@contoso.test",
    "moved-to@contoso.test",
    "open-tx@contoso.test",
    "paced@contoso.test",
    "paused@contoso.test",
    "payroll@contoso.test",
    "room@contoso.test",
    "shared@contoso.test",
    "stale@contoso.test",
    "ttl@contoso.test",
    "ttl-raised@contoso.test",
    "zzz@contoso.test",
];

/// A Graph simulator on loopback whose tenant holds `MAILBOXES`.
pub async fn sim(config: SimConfig) -> SimHandle {
    let sim = Sim::spawn(config).await.expect("sim");
    sim.sim.set_mailboxes(MAILBOXES);
    sim
}

/// The URL of the per-test database that `#[sqlx::test]` made, on the server DATABASE_URL names.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()").fetch_one(pool).await.expect("db name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for tests");
    let mut url = Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub struct Demo {
    pub app_id: Uuid,
    pub key: String,
    pub policy_id: Uuid,
}

/// The seed article's scenario: `logic-app` restricted to a group that holds the notifications mailbox.
pub async fn seed_demo(pool: &PgPool) -> Demo {
    let app = db::apps::create(pool, &db::apps::NewApp { name: "logic-app", ..Default::default() }).await.expect("app");
    let key = ApiKey::generate();
    db::keys::insert(pool, app.id, &key, None, None).await.expect("key");
    let group = db::groups::create(pool, SCOPE_GROUP, "", None).await.expect("group");
    let mut tx = pool.begin().await.expect("tx");
    db::groups::add_member(&mut tx, SCOPE_GROUP, ALLOWED).await.expect("member");
    let apps = AppSelector::Apps(vec![app.id]);
    let new = NewPolicy {
        apps: &apps,
        scope: &PolicyScope::Group(group.id),
        access_right: AccessRight::RestrictAccess,
        description: "demo",
    };
    let policy_id = db::policies::create(&mut tx, new).await.expect("policy");
    tx.commit().await.expect("commit");
    Demo { app_id: app.id, key: key.reveal().to_owned(), policy_id }
}

/// Another app with its own key and no policy of its own, marked unrestricted (an admin's choice): like an Exchange
/// app holding the tenant-wide grant with no policy, it may send as every mailbox no policy denies it.
pub async fn other_app(pool: &PgPool, name: &str) -> String {
    let key = app_with_roles(pool, name, &["Mail.Send"]).await;
    sqlx::query("UPDATE apps SET unrestricted = true WHERE name = $1").bind(name).execute(pool).await.expect("app");
    key
}

/// An app holding exactly these roles, and a key for it.
pub async fn app_with_roles(pool: &PgPool, name: &str, roles: &[&str]) -> String {
    let roles = Some(roles.iter().map(|r| (*r).to_owned()).collect());
    let app = db::apps::create(pool, &db::apps::NewApp { name, roles, ..Default::default() }).await.expect("app");
    let key = ApiKey::generate();
    db::keys::insert(pool, app.id, &key, None, None).await.expect("key");
    key.reveal().to_owned()
}

pub struct TestApp {
    pub base: String,
    /// The database as the service login role, which `mailgate serve` uses.
    pub db_url: String,
    env: Vec<(String, String)>,
    pub sim: SimHandle,
    pub pool: PgPool,
    pub demo: Demo,
    pub http: reqwest::Client,
    /// The `mailgate serve` process `base` points at.
    pub process: Mailgate,
}

pub struct Spawn {
    env: Vec<(String, String)>,
}

impl Spawn {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Seeds the demo into the per-test database `pool` belongs to and starts mailgate on it.
    pub async fn start(self, pool: PgPool) -> TestApp {
        let db_url = database_url(&pool).await;
        self.start_on(pool, db_url).await
    }

    /// Seeds the demo through `pool` and starts mailgate on `db_url`, the same database (e.g. on a private server),
    /// connected as the service login role.
    pub async fn start_on(self, pool: PgPool, db_url: String) -> TestApp {
        let demo = seed_demo(&pool).await;
        let db_url = service_url(&pool, &db_url).await;
        let sim = sim(SimConfig::default()).await;
        let process = Mailgate::start(&db_url, &sim, &self.env);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        TestApp { base: process.base.clone(), db_url, env: self.env, sim, pool, demo, http, process }
    }
}

impl TestApp {
    /// Another `mailgate serve` process on the same database and simulator, as a second replica.
    pub fn replica(&self) -> Mailgate {
        Mailgate::start(&self.db_url, &self.sim, &self.env)
    }

    /// Starts a new `mailgate serve` on the same database, simulator and settings in place of the current process,
    /// which must have exited (or been killed) already.
    pub fn restart(&mut self) {
        self.process = Mailgate::start(&self.db_url, &self.sim, &self.env);
        self.base = self.process.base.clone();
    }
}

pub fn spawn() -> Spawn {
    Spawn { env: Vec::new() }
}

pub fn message(from: &str) -> Value {
    json!({
        "from": from,
        "to": ["someone@example.com"],
        "subject": "Nightly report",
        "text": "All systems nominal."
    })
}

impl TestApp {
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_message(&self, body: &Value) -> reqwest::Response {
        self.post_message_as(&self.demo.key, body).await
    }

    pub async fn post_message_as(&self, key: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url("/v1/messages")).bearer_auth(key).json(body).send().await.expect("request")
    }

    pub async fn get_message(&self, id: &str) -> Value {
        let r = self
            .http
            .get(self.url(&format!("/v1/messages/{id}")))
            .bearer_auth(&self.demo.key)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    /// Polls until the message reaches a final status; returns its view.
    pub async fn wait_final(&self, id: &str) -> Value {
        for _ in 0..300 {
            let m = self.get_message(id).await;
            if !matches!(m["status"].as_str(), Some("queued" | "sending")) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("message {id} never reached a final status");
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&self.pool).await.expect("count")
    }

    pub fn outcomes(view: &Value) -> Vec<String> {
        view["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["outcome"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

impl TestApp {
    /// Waits until no message is `queued` or `sending`.
    pub async fn wait_settled(&self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let pending = self.count("SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')").await;
            if pending == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pending} messages still queued or sending after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every message's status, by id.
    pub async fn statuses(&self) -> BTreeMap<String, String> {
        sqlx::query_as::<_, (String, String)>("SELECT id::text, status FROM messages")
            .fetch_all(&self.pool)
            .await
            .expect("statuses")
            .into_iter()
            .collect()
    }
}

/// The statuses the simulator answered, per `client-request-id` (mailgate sends the message id), in arrival order.
pub fn received_by_message(sim: &SimHandle) -> BTreeMap<String, Vec<Option<u16>>> {
    let mut out: BTreeMap<String, Vec<Option<u16>>> = BTreeMap::new();
    for r in sim.sim.received() {
        out.entry(r.client_request_id.clone().unwrap_or_default()).or_default().push(r.status);
    }
    out
}

/// The delivery invariants every fault test ends on, from the simulator's record and the database:
/// the simulator saw no id twice and no id that was not acknowledged; every acknowledged message has a final
/// status in `allowed`, and each `sent` one was received exactly once, answered 202.
/// Returns the statuses of the acknowledged messages.
pub async fn assert_delivered_at_most_once(app: &TestApp, acknowledged: &[String], allowed: &[&str]) -> Vec<String> {
    let statuses = app.statuses().await;
    let received = received_by_message(&app.sim);
    let ours: BTreeSet<&str> = acknowledged.iter().map(String::as_str).collect();
    assert_eq!(ours.len(), acknowledged.len(), "an id was acknowledged twice");
    for (id, answers) in &received {
        assert!(ours.contains(id.as_str()), "the simulator received {id:?}, which was never acknowledged");
        assert_eq!(answers.len(), 1, "message {id} reached Graph {} times: {answers:?}", answers.len());
    }
    let mut out = Vec::with_capacity(acknowledged.len());
    for id in acknowledged {
        let status = statuses.get(id).unwrap_or_else(|| panic!("acknowledged message {id} is not in the database"));
        assert!(allowed.contains(&status.as_str()), "message {id} ended {status}, expected one of {allowed:?}");
        if status == "sent" {
            assert_eq!(received.get(id), Some(&vec![Some(202)]), "sent message {id} was not received once with 202");
        }
        out.push(status.clone());
    }
    out
}

/// Repeats `request` until it answers `want` (or 10 s pass), and returns the last answer. For a change made behind
/// the service's back (the CLI, SQL, another replica), which replicas hear of by a change notice within a second.
pub async fn eventually<F, Fut>(want: u16, mut request: F) -> reqwest::Response
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = request().await;
        if r.status() == want || tokio::time::Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The python of a venv that `script` (under scripts/, a wrapper of scripts/py-env.sh) makes once per machine with
/// pinned packages from PyPI. The tests that need one are never skipped: without Python 3.9+ and PyPI they fail.
pub fn venv_python(root: &std::path::Path, script: &str) -> String {
    let out = std::process::Command::new("bash")
        .arg(root.join(script))
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} could not make its Python environment (Python 3.9+ and PyPI are needed; the test is never \
         skipped):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 path").trim().to_owned()
}
