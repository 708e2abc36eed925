//! Spawns the real `mailgate serve` binary against its own database and a Graph simulator on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailgate::auth::ApiKey;
use mailgate::db;
use mailgate::db::policies::NewPolicy;
use mailgate::policy::{AccessRight, AppSelector, PolicyScope};
use mailgate::sim::{Sim, SimConfig, SimHandle};
use reqwest::Url;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

pub const ALLOWED: &str = "notifications@contoso.test";
pub const OUTSIDE: &str = "ceo@contoso.test";
pub const SCOPE_GROUP: &str = "dl-graph-scope@contoso.test";

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

/// Another app with its own key and no policy.
pub async fn other_app(pool: &PgPool, name: &str) -> String {
    app_with_roles(pool, name, &["Mail.Send"]).await
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
    pub db_url: String,
    env: Vec<(String, String)>,
    pub sim: SimHandle,
    pub pool: PgPool,
    pub demo: Demo,
    pub http: reqwest::Client,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

pub struct Spawn {
    env: Vec<(String, String)>,
}

impl Spawn {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub async fn start(self, pool: PgPool) -> TestApp {
        let demo = seed_demo(&pool).await;
        let sim = Sim::spawn(SimConfig::default()).await.expect("sim");
        let db_url = database_url(&pool).await;
        let (child, base, logs) = start_mailgate(&db_url, &sim, &self.env);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        TestApp { base, db_url, env: self.env, sim, pool, demo, http, child, logs }
    }
}

/// Another `mailgate serve` process on the same database and simulator, as a second replica.
pub struct Replica {
    pub base: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- replica log ---\n{}", self.logs.lock().map(|l| l.join("\n")).unwrap_or_default());
        }
    }
}

impl TestApp {
    pub fn replica(&self) -> Replica {
        let (child, base, logs) = start_mailgate(&self.db_url, &self.sim, &self.env);
        Replica { base, child, logs }
    }
}

pub fn spawn() -> Spawn {
    Spawn { env: Vec::new() }
}

/// Starts `mailgate serve` as its own process (the managed identity reads its environment, as in production).
pub fn start_mailgate(
    db_url: &str,
    sim: &SimHandle,
    extra: &[(String, String)],
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db_url)
        .env("MAILGATE_LISTEN", "127.0.0.1:0")
        .env("MAILGATE_GRAPH_URL", sim.base_url())
        .env("MAILGATE_POLL_INTERVAL_MS", "100")
        .env("MAILGATE_DB_MAX_CONNECTIONS", "6")
        .env("IDENTITY_ENDPOINT", sim.identity_endpoint())
        .env("IDENTITY_HEADER", "sim-identity-secret")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn mailgate");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr");
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("logs").push(line);
        }
    });
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("mailgate listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(base) => (child, base, logs),
        Err(_) => {
            let _ = child.kill();
            panic!("mailgate did not start; its log:\n{}", logs.lock().expect("logs").join("\n"));
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mailgate log ---\n{}", self.logs.lock().map(|l| l.join("\n")).unwrap_or_default());
        }
    }
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
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
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
