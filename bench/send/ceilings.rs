//! The two ceilings each level is measured against, in the same run: pgbench committing the transaction that
//! accepting a message must perform (bench/send/accept.sql), and the same load generator sending straight to the
//! Graph simulator, which bounds what the client and the simulator can do on this machine without mailgate.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use uuid::Uuid;

use crate::load::{self, Plan, Target};
use crate::postgres;

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/send/accept.sql");

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Pgbench {
    pub tps: f64,
    pub latency_avg_ms: f64,
}

/// `pgbench -n -M prepared` with `clients` clients for `secs` seconds on `database_url` (a database of mailgate's
/// schema that holds an app `app_id`, which the outbox rows refer to).
pub async fn pgbench(database_url: &str, app_id: Uuid, clients: usize, secs: u64) -> anyhow::Result<Pgbench> {
    let program = postgres::client_program("pgbench")
        .context("pgbench not found: install the PostgreSQL client package (postgresql-client)")?;
    let threads = clients.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let out = tokio::process::Command::new(&program)
        .args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", &threads.to_string()])
        .args(["-T", &secs.max(1).to_string(), "-f", SCRIPT, "-D", &format!("app_id={app_id}")])
        .arg(database_url)
        .output()
        .await
        .with_context(|| format!("running {}", program.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench failed ({}): {text}{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let after = |prefix: &str| -> anyhow::Result<f64> {
        let line = text.lines().find(|l| l.starts_with(prefix)).with_context(|| format!("no {prefix:?} in: {text}"))?;
        let number = line[prefix.len()..].split_whitespace().next().unwrap_or_default();
        number.parse().with_context(|| format!("pgbench printed {line:?}"))
    };
    let aborted = text.lines().find(|l| l.starts_with("number of failed transactions"));
    if let Some(line) = aborted.filter(|l| !l.contains(": 0 ")) {
        bail!("pgbench: {line}; is bench/send/accept.sql still right for the schema? {text}");
    }
    Ok(Pgbench { tps: after("tps = ")?, latency_avg_ms: after("latency average = ")? })
}

/// The load generator against the simulator's sendMail directly.
pub async fn graph_direct(sim_base: &str, token: &str, plan: &Plan) -> anyhow::Result<load::Run> {
    let target = Target::Graph { base: sim_base.to_owned(), token: token.to_owned() };
    load::run(&target, plan, Instant::now()).await
}

/// Whether the script exists where the benchmark expects it (a clear error before the run starts).
pub fn check_script() -> anyhow::Result<()> {
    if !Path::new(SCRIPT).is_file() {
        bail!("the pgbench script {SCRIPT} is missing");
    }
    Ok(())
}
