//! `mailgate serve` as a child process that tests may kill, stop or start again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_sim::SimHandle;

use super::wait::try_poll;

/// One running `mailgate serve`; killed (SIGKILL) when dropped, its log printed if the test is failing.
pub struct Mailgate {
    pub base: String,
    /// The SMTP listeners' addresses (`host:port`), when SMTP is on: submission (STARTTLS) and implicit TLS.
    pub smtp: Option<String>,
    pub smtps: Option<String>,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Mailgate {
    /// Starts `mailgate serve` as its own process (the managed identity reads its environment, as in production)
    /// and waits until it listens.
    pub fn start(db_url: &str, sim: &SimHandle, extra: &[(String, String)]) -> Mailgate {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_mailgate")), db_url, sim, extra)
    }

    /// As `start`, through `cmd`: the binary, or a program that runs it (e.g. as another user), with `serve` to be
    /// appended to its arguments.
    pub fn start_with(mut cmd: Command, db_url: &str, sim: &SimHandle, extra: &[(String, String)]) -> Mailgate {
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
            // The SMTP lines come first; the HTTP line ends the start.
            let (mut smtp, mut smtps) = (None, None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("mailgate smtp listening on ") {
                    smtp = Some(addr.to_owned());
                } else if let Some(addr) = line.strip_prefix("mailgate smtps listening on ") {
                    smtps = Some(addr.to_owned());
                } else if let Some(addr) = line.strip_prefix("mailgate listening on ") {
                    let _ = tx.send((addr.to_owned(), smtp.take(), smtps.take()));
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((base, smtp, smtps)) => Mailgate { base, smtp, smtps, child, logs },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mailgate did not start; its log:\n{}", logs.lock().expect("logs").join("\n"));
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// SIGKILL, as a crash or an OOM kill would: nothing runs after it. Waits for the process to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL mailgate");
        self.child.wait().expect("reap mailgate");
    }

    /// SIGTERM, as an orchestrator stopping a pod: the process should drain and exit by itself.
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM {} failed: {status}", self.pid());
    }

    /// Waits up to `timeout` for the process to exit by itself; None if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = &mut self.child;
        try_poll(timeout, || std::future::ready(child.try_wait().expect("try_wait"))).await
    }
}

impl Drop for Mailgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mailgate {} log ---\n{}", self.base, self.logs());
        }
    }
}
