//! What a run does: the client counts, how long each phase lasts, the prefill's size, where the result goes.
//! Flags (`cargo bench --bench send -- --measure 30`) win over environment variables, which win over the defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

pub struct Options {
    /// `cargo test -- --list`, or a test-name filter that does not select this benchmark: run nothing.
    pub skip: bool,
    /// `cargo test` runs the benchmark briefly, unoptimised, with no target asserted: it only must not rot.
    pub smoke: bool,
    /// Client counts; each gets the pgbench and Graph ceilings and mailgate itself.
    pub levels: Vec<usize>,
    /// The level repeated over a full outbox, and the one the targets are read at.
    pub reference_level: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// The app's messages already in today's outbox for the repeated level, and the audit rows beside them.
    pub prefill_messages: u64,
    pub prefill_audit: u64,
    /// Mailboxes the app sends as, round-robin.
    pub mailboxes: usize,
    /// How long to wait for the outbox to empty after a level.
    pub drain_timeout: Duration,
    /// Requests a second to each of `/readyz` and `/metrics` while sending, with the token endpoint failing.
    pub probe_rate: f64,
    pub out: PathBuf,
    /// An existing server to use (a fresh database on it, dropped at the end); otherwise a private cluster.
    pub database_url: Option<String>,
}

const VALUE_FLAGS: [&str; 9] = [
    "levels",
    "reference-level",
    "warmup",
    "measure",
    "prefill-messages",
    "prefill-audit",
    "drain-timeout",
    "probe-rate",
    "out",
];

const HELP: &str = "\
cargo bench --bench send [-- OPTIONS]

  --levels 1,16,64       client counts                              BENCH_SEND_LEVELS
  --reference-level 16   the level repeated over a full outbox      BENCH_SEND_REFERENCE_LEVEL
  --warmup 3             seconds of warm-up per phase               BENCH_SEND_WARMUP_SECS
  --measure 15           seconds measured per phase                 BENCH_SEND_MEASURE_SECS
  --prefill-messages N   messages already in the outbox (1000000)   BENCH_SEND_PREFILL_MESSAGES
  --prefill-audit N      audit rows already stored (5000000)        BENCH_SEND_PREFILL_AUDIT
  --drain-timeout 600    seconds to wait for the outbox to empty    BENCH_SEND_DRAIN_TIMEOUT_SECS
  --probe-rate 2000      /readyz and /metrics requests a second     BENCH_SEND_PROBE_RATE
                         each, while sending (token endpoint down)
  --out PATH             the JSON result (target/bench-send.json)   BENCH_SEND_OUT

DATABASE_URL names an existing server to use (as a role that may create roles and databases); without it a private
cluster is made with initdb in a temporary directory.";

impl Options {
    pub fn parse() -> anyhow::Result<Options> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // `cargo bench` passes --bench; `cargo test` does not, and then this is the smoke run.
        let smoke = !args.iter().any(|a| a == "--bench");
        let mut flags = std::collections::HashMap::new();
        let mut filters = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "-h" | "--help" => {
                    println!("{HELP}");
                    std::process::exit(0);
                }
                flag if VALUE_FLAGS.contains(&flag.trim_start_matches("--")) => {
                    let value = it.next().with_context(|| format!("{flag} needs a value\n\n{HELP}"))?;
                    flags.insert(flag.trim_start_matches("--").to_owned(), value.clone());
                }
                // The test harness's own flags (`cargo test -- --nocapture`) and `--bench` mean nothing here.
                flag if flag.starts_with('-') => {}
                filter => filters.push(filter.to_owned()),
            }
        }
        let get = |flag: &str, env: &str| flags.get(flag).cloned().or_else(|| std::env::var(env).ok());
        let number = |flag: &str, env: &str, default: f64| -> anyhow::Result<f64> {
            match get(flag, env) {
                None => Ok(default),
                Some(v) => v.parse().with_context(|| format!("--{flag} / {env}: not a number: {v:?}")),
            }
        };
        let levels = match get("levels", "BENCH_SEND_LEVELS") {
            Some(list) => list
                .split(',')
                .map(|l| l.trim().parse::<usize>().with_context(|| format!("BENCH_SEND_LEVELS: {list:?}")))
                .collect::<Result<Vec<_>, _>>()?,
            None if smoke => vec![1, 4],
            None => vec![1, 16, 64],
        };
        if levels.is_empty() || levels.contains(&0) {
            bail!("levels must be positive client counts: {levels:?}");
        }
        let reference_default = if levels.contains(&16) { 16.0 } else { *levels.iter().max().unwrap_or(&1) as f64 };
        let secs = |flag: &str, env: &str, full: f64, quick: f64| -> anyhow::Result<Duration> {
            let s = number(flag, env, if smoke { quick } else { full })?;
            Duration::try_from_secs_f64(s).with_context(|| format!("--{flag}: {s} is not a duration"))
        };
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
        let out_default = target_dir.join(if smoke { "bench-send-smoke.json" } else { "bench-send.json" });
        let listing = args.iter().any(|a| a == "--list");
        let filtered_out = !filters.is_empty() && !filters.iter().any(|f| "send".contains(f.as_str()));
        Ok(Options {
            skip: listing || filtered_out,
            smoke,
            reference_level: number("reference-level", "BENCH_SEND_REFERENCE_LEVEL", reference_default)? as usize,
            levels,
            warmup: secs("warmup", "BENCH_SEND_WARMUP_SECS", 3.0, 0.3)?,
            measure: secs("measure", "BENCH_SEND_MEASURE_SECS", 15.0, 1.0)?,
            prefill_messages: number("prefill-messages", "BENCH_SEND_PREFILL_MESSAGES", if smoke { 2e3 } else { 1e6 })?
                as u64,
            prefill_audit: number("prefill-audit", "BENCH_SEND_PREFILL_AUDIT", if smoke { 1e4 } else { 5e6 })? as u64,
            mailboxes: 200,
            drain_timeout: secs("drain-timeout", "BENCH_SEND_DRAIN_TIMEOUT_SECS", 600.0, 60.0)?,
            probe_rate: number("probe-rate", "BENCH_SEND_PROBE_RATE", if smoke { 200.0 } else { 2000.0 })?,
            out: get("out", "BENCH_SEND_OUT").map_or(out_default, PathBuf::from),
            database_url: std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()),
        })
    }
}
