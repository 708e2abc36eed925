//! The processes under test: `graph-sim` and `mailgate serve` (the binaries cargo built beside this benchmark:
//! release builds under `cargo bench`), the `mailgate` admin commands, and the server's memory from /proc.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;

const IDENTITY_HEADER: &str = "bench-identity-secret";

/// A child process that is killed when dropped.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    /// Starts `cmd` with stdout piped and stderr into `log`; waits for the line `{banner}ADDR` and serves at ADDR.
    fn start(mut cmd: Command, banner: &'static str, log: &Path) -> anyhow::Result<Process> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(File::create(log)?);
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading after the banner so that the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix(banner) {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => {
                let base = if addr.starts_with("http") { addr } else { format!("http://{addr}") };
                Ok(Process { child, base })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{cmd:?} did not start; its log ({}):\n{}", log.display(), tail(log))
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The first argument that makes this benchmark's executable run the Graph simulator instead. The simulator lives
/// in its own crate, whose binary cargo does not build for this one; running it as a child process of its own keeps
/// its CPU and memory apart from the load generator's, as a separate `graph-sim` would.
const GRAPH_SIM_ARG: &str = "--run-graph-sim";

/// In the child started by [`GraphSim::start`]: runs the simulator until it is killed, and returns its exit code.
pub fn run_graph_sim_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args();
    let program = args.next()?;
    if args.next().as_deref() != Some(GRAPH_SIM_ARG) {
        return None;
    }
    let cli = graph_sim::cli::Cli::parse_from(std::iter::once(program).chain(args));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    Some(match runtime.block_on(graph_sim::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graph-sim: {e}");
            ExitCode::FAILURE
        }
    })
}

/// The Graph simulator with no faults and no delay, logging only each request's id and time.
pub struct GraphSim(Process);

impl GraphSim {
    /// `mailboxes` are the tenant's: the simulator answers 404 for any other, as Graph does. They are written to a
    /// file beside `log`.
    pub fn start(log: &Path, mailboxes: &[String]) -> anyhow::Result<GraphSim> {
        let directory = log.with_file_name("graph-sim-mailboxes.json");
        std::fs::write(&directory, serde_json::to_vec(mailboxes)?)
            .with_context(|| format!("writing {}", directory.display()))?;
        let mut cmd = Command::new(std::env::current_exe().context("the benchmark's own path")?);
        cmd.arg(GRAPH_SIM_ARG)
            .args(["--listen", "127.0.0.1:0", "--identity-header", IDENTITY_HEADER, "--light-log"])
            .arg("--mailboxes")
            .arg(&directory)
            .env("RUST_LOG", "warn");
        Ok(GraphSim(Process::start(cmd, "graph-sim listening on ", log)?))
    }

    pub fn base(&self) -> &str {
        &self.0.base
    }

    /// How many requests the managed-identity endpoint has seen (answered or failed).
    pub async fn token_requests(&self) -> anyhow::Result<u64> {
        let stats: serde_json::Value = reqwest::get(format!("{}/sim/stats", self.base())).await?.json().await?;
        stats["token_requests"].as_u64().context("no token_requests in the simulator's stats")
    }

    /// A token from the managed-identity endpoint, as mailgate gets its own.
    pub async fn token(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let url = format!("{}/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com", self.base());
        let answer: serde_json::Value =
            http.get(url).header("X-IDENTITY-HEADER", IDENTITY_HEADER).send().await?.error_for_status()?.json().await?;
        answer["access_token"].as_str().map(str::to_owned).context("no access_token from the simulator")
    }
}

/// `mailgate serve` as the service login, configured as the benchmark needs and otherwise at its defaults.
pub struct Mailgate(Process);

impl Mailgate {
    pub fn start(service_url: &str, sim: &GraphSim, log: &Path) -> anyhow::Result<Mailgate> {
        Self::start_with(service_url, sim, log, &[])
    }

    /// As `start`, with `extra` settings on top.
    pub fn start_with(
        service_url: &str,
        sim: &GraphSim,
        log: &Path,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Mailgate> {
        let mut cmd = command(service_url);
        cmd.arg("serve")
            .env("MAILGATE_LISTEN", "127.0.0.1:0")
            .env("MAILGATE_GRAPH_URL", sim.base())
            .env("IDENTITY_ENDPOINT", format!("{}/msi/token", sim.base()))
            .env("IDENTITY_HEADER", IDENTITY_HEADER)
            // Quotas and pacing out of the way: the benchmark measures the send path, not the limits.
            .env("MAILGATE_APP_MESSAGES_PER_MINUTE", "0")
            .env("MAILGATE_APP_RECIPIENTS_PER_DAY", "0")
            .env("MAILGATE_MAILBOX_MESSAGES_PER_MINUTE", "100000");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Ok(Mailgate(Process::start(cmd, "mailgate listening on ", log)?))
    }

    pub fn base(&self) -> &str {
        &self.0.base
    }

    pub fn pid(&self) -> u32 {
        self.0.child.id()
    }
}

/// `mailgate ARGS` as an admin command (as the operator would run it), returning what it printed.
pub fn cli(service_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = command(service_url).args(args).stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!("mailgate {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `mailgate migrate` as the owner role.
pub fn migrate(owner_url: &str) -> anyhow::Result<()> {
    let out = command(owner_url).env("MAILGATE_MIGRATION_DATABASE_URL", owner_url).arg("migrate").output()?;
    if !out.status.success() {
        bail!("mailgate migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The binary with a clean environment: only what is set here reaches it.
fn command(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("USER", "bench")
        .env("DATABASE_URL", database_url);
    cmd
}

/// A process's resident memory, from /proc/PID/status.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Memory {
    /// VmHWM: the most it has held since start or since [`reset_peak`].
    pub peak_kib: u64,
    /// VmRSS: what it holds now.
    pub rss_kib: u64,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Memory { peak_kib: field("VmHWM:"), rss_kib: field("VmRSS:") }
}

/// Starts VmHWM again from the current RSS (Linux: `5` to /proc/PID/clear_refs; only the process's owner or root
/// may), so that each level's peak is its own. Where that is refused, the peak stays the run's.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
