//! A running mailgate for one test: `spawn()` seeds the demo into the test's database and starts `mailgate serve` on
//! it, with a Graph simulator on loopback.

use std::time::Duration;

use graph_sim::{SimConfig, SimHandle};
use sqlx::PgPool;

use super::db::database_url;
use super::graph_sim::sim;
use super::logins::service_url;
use super::process::Mailgate;
use super::seed::{Demo, seed_demo};

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

pub fn spawn() -> Spawn {
    Spawn { env: Vec::new() }
}

impl Spawn {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// SMTP on free loopback ports. With a certificate and key (PEM files): submission with STARTTLS and implicit
    /// TLS; without: submission only, plaintext AUTH allowed (as on a trusted LAN).
    pub fn smtp(self, tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let this = self.env("MAILGATE_SMTP_LISTEN", "127.0.0.1:0");
        match tls {
            Some((cert, key)) => this
                .env("MAILGATE_SMTPS_LISTEN", "127.0.0.1:0")
                .env("MAILGATE_SMTP_TLS_CERT", &cert.display().to_string())
                .env("MAILGATE_SMTP_TLS_KEY", &key.display().to_string()),
            None => this.env("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true"),
        }
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

    pub fn logs(&self) -> String {
        self.process.logs()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
