//! The send path's benchmark: mailgate accepting and delivering messages, measured through its public interfaces
//! only (HTTP, the Graph simulator's counters and log, SQL reads of the outbox), against two ceilings measured in the
//! same run: pgbench committing the same rows, and the same client sending straight to the simulator.
//!
//! It starts everything itself — a private Postgres cluster (or a fresh database on the server `DATABASE_URL`
//! names), `graph-sim`, `mailgate serve` as the service login — sets up one app that may send as 200 mailboxes, then
//! for each client count runs pgbench, the client against the simulator, and the client against mailgate; then a
//! paced run at half the highest accepted rate; then fills the outbox with a day's messages and repeats the
//! reference level. Prints Markdown tables (for bench/RESULTS.md) and writes the figures as JSON.
//!
//! `cargo bench --bench send` (see bench/README.md for the options). `cargo test` runs it too, briefly and
//! unoptimised, on the server scripts/test.sh names: it only must not rot, and its figures mean nothing.

mod ceilings;
mod delivery;
mod load;
mod message;
mod options;
mod postgres;
mod prefill;
mod report;
mod services;
mod setup;
mod starvation;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::delivery::SimControl;
use crate::load::{Pace, Plan, Target};
use crate::options::Options;
use crate::postgres::Server;
use crate::report::{Direct, FullOutbox, Latency, Level, Machine, Report};
use crate::services::{GraphSim, Mailgate};

fn main() -> ExitCode {
    if let Some(code) = services::run_graph_sim_if_asked() {
        return code;
    }
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if options.skip {
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> anyhow::Result<()> {
    ceilings::check_script()?;
    let began = Instant::now();
    let server = Server::start(options.database_url.as_deref()).await?;
    let names =
        [format!("mailgate_bench_{}", std::process::id()), format!("mailgate_bench_{}_ceiling", std::process::id())];
    let outcome = tokio::select! {
        report = bench(&server, &options, &names) => report,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    // Processes are gone by now (killed when their handles dropped); the databases and the cluster go last.
    server.stop(&[&names[0], &names[1]]).await;
    let report = outcome?;
    report.write(&options.out)?;
    println!("\n{}", report.table());
    println!("bench: {} in {:.0} s; JSON in {}", report.command, began.elapsed().as_secs_f64(), options.out.display());
    Ok(())
}

/// Everything a phase needs.
struct Bench<'a> {
    options: &'a Options,
    server: &'a Server,
    owner: PgPool,
    sim: SimControl,
    mailgate: Mailgate,
    target: Target,
    mailboxes: Arc<Vec<String>>,
}

async fn bench(server: &Server, options: &Options, names: &[String; 2]) -> anyhow::Result<Report> {
    let logs = options.out.with_extension("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let db = server.database(&names[0]).await?;
    let ceiling_db = server.database(&names[1]).await?;
    services::migrate(&db.owner_url)?;
    services::migrate(&ceiling_db.owner_url)?;
    let owner = PgPoolOptions::new().max_connections(2).connect(&db.owner_url).await?;

    let tenant: Vec<String> = (0..options.mailboxes).map(message::mailbox).collect();
    let sim = GraphSim::start(&logs.join("graph-sim.log"), &tenant)?;
    let mailgate = Mailgate::start(&db.service_url, &sim, &logs.join("mailgate.log"))?;
    println!("bench: mailgate at {}, graph-sim at {}, logs in {}", mailgate.base(), sim.base(), logs.display());
    let sender = setup::sender(&db.service_url, mailgate.base(), options.mailboxes).await?;
    // pgbench's rows refer to the same app, in a database of their own.
    let ceiling_owner = PgPoolOptions::new().max_connections(1).connect(&ceiling_db.owner_url).await?;
    sqlx::query("INSERT INTO apps (id, name) VALUES ($1, $2)")
        .bind(sender.app_id)
        .bind(setup::APP)
        .execute(&ceiling_owner)
        .await?;
    ceiling_owner.close().await;
    let token = sim.token(&reqwest::Client::new()).await?;

    let b = Bench {
        options,
        server,
        owner,
        sim: SimControl::new(sim.base()),
        target: Target::Mailgate { base: mailgate.base().to_owned(), key: sender.key.clone() },
        mailgate,
        mailboxes: Arc::new(sender.mailboxes),
    };
    let mut levels = Vec::new();
    for &clients in &options.levels {
        let plan = b.plan(clients, Pace::Closed);
        server.checkpoint().await;
        let pgbench = ceilings::pgbench(
            &ceiling_db.service_url,
            sender.app_id,
            clients,
            options.measure.as_secs_f64().ceil() as u64,
        )
        .await?;
        server.checkpoint().await;
        let direct = ceilings::graph_direct(sim.base(), &token, &plan).await?;
        let direct =
            Direct { per_sec: direct.ok_per_sec(), latency: Latency::of(&direct.latency), errors: direct.errors };
        let mailgate = b.mailgate_phase(clients, Pace::Closed).await?;
        let level = Level::new(pgbench, direct, mailgate);
        println!(
            "bench: {clients} clients: pgbench {:.0} tx/s, client→graph-sim {:.0}/s, mailgate {:.0} accepted/s, {:.0} delivered/s",
            level.pgbench.tps,
            level.graph_direct.per_sec,
            level.mailgate.accepted_per_sec,
            level.mailgate.delivered_per_sec
        );
        levels.push(level);
    }

    let max_rate = levels.iter().map(|l| l.mailgate.accepted_per_sec).fold(0.0, f64::max);
    let busiest = options.levels.iter().copied().max().unwrap_or(1);
    let paced = if max_rate > 0.0 { Some(b.mailgate_phase(busiest, Pace::Rate(max_rate / 2.0)).await?) } else { None };

    let empty = levels.iter().find(|l| l.clients == options.reference_level).map(|l| l.mailgate.accepted_per_sec);
    prefill::fill(&b.owner, sender.app_id, options.prefill_messages, options.prefill_audit, options.mailboxes).await?;
    let full = b.mailgate_phase(options.reference_level, Pace::Closed).await?;
    let full_outbox = FullOutbox {
        prefill_messages: options.prefill_messages,
        prefill_audit: options.prefill_audit,
        accepted_vs_empty: empty.map_or(f64::NAN, |e| full.accepted_per_sec / e),
        mailgate: full,
    };

    // No caller starves the others: memory with the largest requests at once, then sends while probes and scrapes
    // flood a replica whose Graph token cannot be had (a second mailgate, with the wrong identity secret).
    delivery::drained(&b.owner, options.drain_timeout).await?;
    let memory = starvation::memory(b.mailgate.base(), &sender.key, &b.mailboxes, b.mailgate.pid()).await?;
    println!(
        "bench: {} of the largest requests, {} at once: peak RSS {:.0} MiB (ceiling {:.0} MiB), answers {:?}",
        memory.requests, 10, memory.peak_rss_mib, memory.ceiling_mib, memory.answers
    );
    let tokenless = Mailgate::start_with(
        &db.service_url,
        &sim,
        &logs.join("mailgate-tokenless.log"),
        &[("IDENTITY_HEADER", "not-the-identity-secret")],
    )?;
    let probes = starvation::probes(
        &tokenless,
        &sim,
        &sender.key,
        b.mailboxes.clone(),
        (options.reference_level, options.probe_rate, options.warmup, options.measure),
    )
    .await?;
    drop(tokenless);
    println!(
        "bench: /readyz {:.0}/s and /metrics {:.0}/s answered while {} clients sent {:.0}/s: {} sends answered 503",
        probes.readyz.answered_per_sec,
        probes.metrics.answered_per_sec,
        probes.senders,
        probes.accepted_per_sec,
        probes.sends_503
    );

    let command = if options.smoke { "cargo test --bench send" } else { "cargo bench --bench send" };
    let extra: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let mut report = Report {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        command: if extra.is_empty() { command.into() } else { format!("{command} -- {}", extra.join(" ")) },
        smoke: options.smoke,
        machine: Machine::this(&server.version, server.private()),
        warmup_secs: options.warmup.as_secs_f64(),
        measure_secs: options.measure.as_secs_f64(),
        mailboxes: options.mailboxes,
        levels,
        reference_level: options.reference_level,
        paced,
        full_outbox: Some(full_outbox),
        memory: Some(memory),
        probes: Some(probes),
        targets: Vec::new(),
    };
    report.judge();
    b.owner.close().await;
    Ok(report)
}

impl Bench<'_> {
    fn plan(&self, clients: usize, pace: Pace) -> Plan {
        Plan {
            clients,
            warmup: self.options.warmup,
            measure: self.options.measure,
            pace,
            mailboxes: self.mailboxes.clone(),
        }
    }

    /// One load against mailgate, from an empty queue and a cleared simulator, until the outbox has drained again.
    async fn mailgate_phase(&self, clients: usize, pace: Pace) -> anyhow::Result<report::Mailgate> {
        delivery::drained(&self.owner, self.options.drain_timeout).await?;
        self.sim.reset().await?;
        self.server.checkpoint().await;
        let pid = self.mailgate.pid();
        services::reset_peak(pid);
        let plan = self.plan(clients, pace);
        let start = Instant::now() + Duration::from_millis(100);
        let (run, delivered) =
            tokio::join!(load::run(&self.target, &plan, start), self.sim.accepted_over(&plan, start));
        let (run, (first, last)) = (run?, delivered?);
        let drained = delivery::drained(&self.owner, self.options.drain_timeout).await?;
        let peak = services::memory(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = services::memory(pid);
        let received = self.sim.received().await?;
        let a2g = delivery::accept_to_graph(&run.accepted, &received);
        let mut out = report::Mailgate {
            clients,
            offered_per_sec: match pace {
                Pace::Closed => None,
                Pace::Rate(r) => Some(r),
            },
            accepted_per_sec: run.ok_per_sec(),
            delivered_per_sec: (last - first) as f64 / plan.measure.as_secs_f64(),
            post: Latency::of(&run.latency),
            errors: run.errors,
            accept_to_graph: Latency::of(&a2g.latency),
            received_before_202: a2g.before_202,
            never_received: a2g.missing,
            drained,
            peak_rss_mib: 0.0,
            idle_rss_mib: 0.0,
        };
        out.memory(peak, idle);
        Ok(out)
    }
}
