//! The result: a JSON document and the tables printed for bench/RESULTS.md, with each target met or missed.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::ceilings::Pgbench;
use crate::services::Memory;
use crate::starvation::{MemoryPhase, ProbesPhase};

#[derive(Serialize, Clone, Copy, Default)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The load generator straight against the simulator.
#[derive(Serialize)]
pub struct Direct {
    pub per_sec: f64,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
}

/// mailgate under one load.
#[derive(Serialize)]
pub struct Mailgate {
    pub clients: usize,
    /// Messages per second offered by a paced run; None for closed loops.
    pub offered_per_sec: Option<f64>,
    pub accepted_per_sec: f64,
    /// The simulator's count of sendMail 202s over the same window.
    pub delivered_per_sec: f64,
    pub post: Latency,
    pub errors: BTreeMap<String, u64>,
    pub accept_to_graph: Latency,
    pub received_before_202: u64,
    pub never_received: u64,
    /// The outbox emptied after the load (else the idle figure is not idle).
    pub drained: bool,
    pub peak_rss_mib: f64,
    pub idle_rss_mib: f64,
}

impl Mailgate {
    pub fn memory(&mut self, peak: Memory, idle: Memory) {
        self.peak_rss_mib = peak.peak_kib as f64 / 1024.0;
        self.idle_rss_mib = idle.rss_kib as f64 / 1024.0;
    }
}

#[derive(Serialize)]
pub struct Level {
    pub clients: usize,
    pub pgbench: Pgbench,
    pub graph_direct: Direct,
    pub mailgate: Mailgate,
    /// accepted/s ÷ pgbench tx/s.
    pub accepted_vs_pgbench: f64,
    /// delivered/s ÷ pgbench tx/s.
    pub delivered_vs_pgbench: f64,
    /// accepted/s ÷ the same client's rate straight to the simulator.
    pub accepted_vs_graph_direct: f64,
}

impl Level {
    pub fn new(pgbench: Pgbench, graph_direct: Direct, mailgate: Mailgate) -> Level {
        Level {
            clients: mailgate.clients,
            accepted_vs_pgbench: mailgate.accepted_per_sec / pgbench.tps,
            delivered_vs_pgbench: mailgate.delivered_per_sec / pgbench.tps,
            accepted_vs_graph_direct: mailgate.accepted_per_sec / graph_direct.per_sec,
            pgbench,
            graph_direct,
            mailgate,
        }
    }
}

#[derive(Serialize)]
pub struct FullOutbox {
    pub prefill_messages: u64,
    pub prefill_audit: u64,
    pub mailgate: Mailgate,
    /// accepted/s ÷ the same level's over the empty outbox.
    pub accepted_vs_empty: f64,
}

#[derive(Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
    pub postgres: String,
    /// A private cluster made for the run (else the server DATABASE_URL named).
    pub private_cluster: bool,
}

impl Machine {
    pub fn this(postgres: &str, private_cluster: bool) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim()))
            .unwrap_or("unknown")
            .to_owned();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            memory_gib: kib / 1024.0 / 1024.0,
            postgres: postgres.to_owned(),
            private_cluster,
        }
    }
}

#[derive(Serialize)]
pub struct Target {
    pub what: String,
    pub value: Option<f64>,
    pub goal: String,
    /// None when the run did not measure it.
    pub met: Option<bool>,
}

#[derive(Serialize)]
pub struct Report {
    pub date: String,
    pub command: String,
    pub smoke: bool,
    pub machine: Machine,
    pub warmup_secs: f64,
    pub measure_secs: f64,
    pub mailboxes: usize,
    pub levels: Vec<Level>,
    pub reference_level: usize,
    pub paced: Option<Mailgate>,
    pub full_outbox: Option<FullOutbox>,
    /// Ten of the largest requests at once.
    pub memory: Option<MemoryPhase>,
    /// Sends while `/readyz` and `/metrics` are flooded and the token endpoint fails.
    pub probes: Option<ProbesPhase>,
    pub targets: Vec<Target>,
}

impl Report {
    /// Reads the targets off the figures.
    pub fn judge(&mut self) {
        let reference = self.levels.iter().find(|l| l.clients == self.reference_level);
        let lightest = self.levels.iter().min_by_key(|l| l.clients);
        let peak = self
            .levels
            .iter()
            .map(|l| l.mailgate.peak_rss_mib)
            .chain(self.paced.iter().map(|p| p.peak_rss_mib))
            .chain(self.full_outbox.iter().map(|f| f.mailgate.peak_rss_mib))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        let r = self.reference_level;
        let at_least = |what: String, value: Option<f64>, goal: f64, note: &str| Target {
            what,
            value,
            goal: format!("≥ {goal}{note}"),
            met: value.map(|v| v >= goal),
        };
        let at_most = |what: String, value: Option<f64>, goal: f64, unit: &str| Target {
            what,
            value,
            goal: format!("≤ {goal} {unit}"),
            met: value.map(|v| v <= goal),
        };
        self.targets = vec![
            at_least(
                format!("accepted/s at {r} clients ÷ pgbench tx/s"),
                reference.map(|l| l.accepted_vs_pgbench),
                0.5,
                " (aim 1.0)",
            ),
            at_least(
                format!("delivered/s at {r} clients ÷ pgbench tx/s"),
                reference.map(|l| l.delivered_vs_pgbench),
                0.35,
                "",
            ),
            at_least(
                format!("accepted/s at {r} clients, full outbox ÷ empty"),
                self.full_outbox.as_ref().map(|f| f.accepted_vs_empty),
                0.8,
                "",
            ),
            at_most(
                "POST p99 at half the max accepted rate".into(),
                self.paced.as_ref().map(|p| p.post.p99_ms),
                10.0,
                "ms",
            ),
            at_most(
                format!("accept-to-Graph p50 at {} client(s)", lightest.map_or(0, |l| l.clients)),
                lightest.map(|l| l.mailgate.accept_to_graph.p50_ms),
                5.0,
                "ms",
            ),
            at_most("peak RSS of mailgate".into(), peak, 64.0, "MiB"),
            at_most(
                "peak RSS with ten of the largest requests at once".into(),
                self.memory.as_ref().map(|m| m.peak_rss_mib),
                self.memory.as_ref().map_or(f64::NAN, |m| m.ceiling_mib),
                "MiB (the body budget + 64)",
            ),
            at_most(
                "sends answered 503 while /readyz and /metrics are flooded (token endpoint down)".into(),
                self.probes.as_ref().map(|p| p.sends_503 as f64),
                0.0,
                "",
            ),
        ];
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// The tables, as Markdown.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "`{}` — {}{}, {} cores ({}), {:.0} GiB, PostgreSQL {} ({}), {} s warm-up + {} s measured per phase\n\n",
            self.command,
            self.date,
            if self.smoke { " (SMOKE RUN: debug build, figures mean nothing)" } else { "" },
            m.cores,
            m.cpu,
            m.memory_gib,
            m.postgres,
            if m.private_cluster {
                "private cluster, fsync and synchronous_commit on"
            } else {
                "DATABASE_URL's server"
            },
            self.warmup_secs,
            self.measure_secs,
        );
        out += "| clients | pgbench tx/s | client→graph-sim/s | accepted/s | ÷pgbench | ÷graph-sim | delivered/s | \
                ÷pgbench | POST p50 / p99 / max ms | accept→Graph p50 / p99 ms | RSS peak / idle MiB | errors |\n";
        out += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
        for l in &self.levels {
            let g = &l.mailgate;
            out += &format!(
                "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} |\n",
                l.clients,
                l.pgbench.tps,
                l.graph_direct.per_sec,
                g.accepted_per_sec,
                l.accepted_vs_pgbench,
                l.accepted_vs_graph_direct,
                g.delivered_per_sec,
                l.delivered_vs_pgbench,
                three(&g.post),
                two(&g.accept_to_graph),
                memory(g),
                errors(&g.errors, &l.graph_direct.errors),
            );
        }
        if let Some(p) = &self.paced {
            out += &format!(
                "\nPaced at half the max accepted rate: {:.0} msg/s offered by {} clients, {:.0} accepted/s, {:.0} \
                 delivered/s; POST p50 / p99 / max {} ms (from when each was due); accept→Graph p50 / p99 {} ms; \
                 RSS peak / idle {} MiB; errors {}\n",
                p.offered_per_sec.unwrap_or_default(),
                p.clients,
                p.accepted_per_sec,
                p.delivered_per_sec,
                three(&p.post),
                two(&p.accept_to_graph),
                memory(p),
                errors(&p.errors, &BTreeMap::new()),
            );
        }
        if let Some(f) = &self.full_outbox {
            let g = &f.mailgate;
            out += &format!(
                "\nFull outbox ({} sent messages today, {} audit rows), {} clients: {:.0} accepted/s = {:.2}× the empty \
                 outbox; {:.0} delivered/s; POST p50 / p99 / max {} ms; accept→Graph p50 / p99 {} ms; RSS peak / idle \
                 {} MiB; errors {}\n",
                f.prefill_messages,
                f.prefill_audit,
                g.clients,
                g.accepted_per_sec,
                f.accepted_vs_empty,
                g.delivered_per_sec,
                three(&g.post),
                two(&g.accept_to_graph),
                memory(g),
                errors(&g.errors, &BTreeMap::new()),
            );
        }
        if let Some(m) = &self.memory {
            out += &format!(
                "\nThe largest requests ({} bytes each), ten at once, {} in all: peak RSS {:.0} MiB, ceiling {:.0} MiB \
                 (the body budget + 64); answers {}\n",
                m.body_bytes,
                m.requests,
                m.peak_rss_mib,
                m.ceiling_mib,
                errors(&m.answers, &BTreeMap::new()),
            );
        }
        if let Some(p) = &self.probes {
            out += &format!(
                "\nFlooded probes, token endpoint down: /readyz {:.0} of {:.0}/s offered answered 200 (other: {}), \
                 /metrics {:.0} of {:.0}/s (other: {}); meanwhile {} clients: {:.0} accepted/s, {} answered 503, other \
                 errors {}; token requests {}\n",
                p.readyz.answered_per_sec,
                p.readyz.offered_per_sec,
                errors(&p.readyz.errors, &BTreeMap::new()),
                p.metrics.answered_per_sec,
                p.metrics.offered_per_sec,
                errors(&p.metrics.errors, &BTreeMap::new()),
                p.senders,
                p.accepted_per_sec,
                p.sends_503,
                errors(&p.send_errors, &BTreeMap::new()),
                p.token_requests,
            );
        }
        out += "\n| target | value | goal | |\n|---|---:|---|---|\n";
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let value = t.value.map_or("—".into(), |v| format!("{v:.2}"));
            out += &format!("| {} | {value} | {} | {verdict} |\n", t.what, t.goal);
        }
        out
    }
}

fn three(l: &Latency) -> String {
    format!("{:.1} / {:.1} / {:.0}", l.p50_ms, l.p99_ms, l.max_ms)
}

fn two(l: &Latency) -> String {
    format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms)
}

fn memory(g: &Mailgate) -> String {
    format!("{:.0} / {:.0}{}", g.peak_rss_mib, g.idle_rss_mib, if g.drained { "" } else { " (not drained)" })
}

fn errors(mailgate: &BTreeMap<String, u64>, direct: &BTreeMap<String, u64>) -> String {
    let list = |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k}×{v}")).collect::<Vec<_>>().join(" ");
    match (mailgate.is_empty(), direct.is_empty()) {
        (true, true) => "none".into(),
        (false, true) => list(mailgate),
        (true, false) => format!("direct: {}", list(direct)),
        (false, false) => format!("{}; direct: {}", list(mailgate), list(direct)),
    }
}
