//! A Postgres cluster of one test's own, for tests that stop the server or change how it authenticates, so that the
//! server other tests share is never touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::wait::holds_within;

/// A Postgres cluster of a test's own in a temporary directory, stopped when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// initdb and postgres refuse to run as root: then every command runs as the `postgres` OS user.
    as_postgres: bool,
    fsync: bool,
}

impl PrivatePostgres {
    /// A cluster with fsync off: quick, and safe while nothing crashes the machine.
    pub fn start() -> PrivatePostgres {
        Self::start_with(false)
    }

    /// A cluster with fsync on, as in production: a commit is on disk when it is acknowledged, and a crash is
    /// recovered from the write-ahead log.
    pub fn start_durable() -> PrivatePostgres {
        Self::start_with(true)
    }

    fn start_with(fsync: bool) -> PrivatePostgres {
        let bin = server_bindir().unwrap_or_else(|| {
            panic!(
                "this test needs the PostgreSQL server programs (initdb, pg_ctl) to run a private cluster, and none \
                 were found via `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH; install the PostgreSQL \
                 server package"
            )
        });
        let as_postgres = run_output(Command::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::tempdir().expect("tempdir");
        if as_postgres {
            let chown = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("run chown");
            assert!(chown.success(), "chown postgres {} failed: is there a `postgres` OS user?", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let pg = PrivatePostgres { dir, bin, port, as_postgres, fsync };
        let data = pg.data();
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(&data).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.up();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl ARGS`; the server it starts must not inherit our pipes, or it would hold them open.
    fn pg_ctl(&self, args: &[&str]) -> bool {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c.status().expect("run pg_ctl").success()
    }

    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200",
            self.port,
            self.dir.path().display(),
            if self.fsync { "on" } else { "off" }
        );
        let log = self.dir.path().join("postgres.log");
        let log_arg = log.to_str().expect("utf-8 path");
        assert!(
            self.pg_ctl(&["-o", &options, "-l", log_arg, "-w", "-t", "60", "start"]),
            "pg_ctl start failed; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A fast shutdown: sessions are ended (SQLSTATE 57P01), new connections refused until `up`.
    pub fn down(&self) {
        assert!(self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]), "pg_ctl stop failed");
    }
}

impl PrivatePostgres {
    /// SIGKILL to the postmaster, as the OOM killer would send it: nothing is flushed or shut down. Its other
    /// processes notice and exit (any left after 20 s get SIGKILL too, as when the whole container dies); then
    /// the cluster can be started again, and recovers from its write-ahead log.
    pub fn crash(&self) {
        let pid_file = std::fs::read_to_string(self.data().join("postmaster.pid")).expect("read postmaster.pid");
        let postmaster: u32 = pid_file.lines().next().and_then(|l| l.trim().parse().ok()).expect("postmaster pid");
        let children: Vec<u32> = run_output(Command::new("pgrep").args(["-P", &postmaster.to_string()]))
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        sigkill(postmaster);
        holds_within(Duration::from_secs(20), || !children.iter().any(|p| alive(*p)));
        for p in children.iter().copied().filter(|p| alive(*p)) {
            sigkill(p);
        }
        let gone = holds_within(Duration::from_secs(60), || {
            !std::iter::once(postmaster).chain(children.iter().copied()).any(alive)
        });
        assert!(gone, "the killed postmaster {postmaster} or its processes still run after a minute");
        // Postgres takes a postmaster.pid whose process still exists for a running server, and the dead postmaster
        // lingers as a zombie until whatever adopted it reaps it. A new container would not see it at all: wait a
        // while for the reaping, then remove the stale file as its replacement would find none.
        holds_within(Duration::from_secs(10), || !Path::new(&format!("/proc/{postmaster}")).exists());
        if std::path::Path::new(&format!("/proc/{postmaster}")).exists() {
            std::fs::remove_file(self.data().join("postmaster.pid")).expect("remove the dead postmaster's pid file");
        }
    }

    /// The server's log so far, across restarts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }
}

fn sigkill(pid: u32) {
    // A process already gone makes kill fail; that is what was wanted.
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

/// Whether `pid` still runs; a zombie (exited, not yet reaped) does not.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
    }
}

fn run_output(c: &mut Command) -> String {
    c.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Where initdb and pg_ctl are: `pg_config --bindir`, Debian's versioned directories (newest first), then PATH.
fn server_bindir() -> Option<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let from_pg_config = PathBuf::from(run_output(Command::new("pg_config").arg("--bindir")).trim());
    if has_server(&from_pg_config) {
        return Some(from_pg_config);
    }
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    if let Some((_, d)) = debian.into_iter().rev().find(|(_, d)| has_server(d)) {
        return Some(d);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_server(d))
}

impl PrivatePostgres {
    /// From now on `role` must present its password over TCP (scram-sha-256); every other role keeps trust auth.
    /// The line goes first, as the first matching line of pg_hba.conf wins.
    pub fn require_password(&self, role: &str) {
        // Written in place, so the file keeps its owner (postgres, when the test runs as root).
        let hba = self.data().join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(&hba, format!("host all {role} 127.0.0.1/32 scram-sha-256\n{old}")).expect("write pg_hba.conf");
        assert!(self.pg_ctl(&["reload"]), "pg_ctl reload failed");
    }
}

impl PrivatePostgres {
    /// A hot standby of this cluster, streaming from it: a base backup (`pg_basebackup -R`, which writes the
    /// connection to the primary and `standby.signal`) started on a port of its own. Stopped when dropped.
    pub fn standby(&self) -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("tempdir");
        if self.as_postgres {
            let chown = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("run chown");
            assert!(chown.success(), "chown postgres {} failed", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let standby =
            PrivatePostgres { dir, bin: self.bin.clone(), port, as_postgres: self.as_postgres, fsync: self.fsync };
        let mut backup = self.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(standby.data())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
            // Streams the WAL written meanwhile, writes the standby's settings, and does not wait for a spread
            // checkpoint or for fsync.
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
        let out = backup.output().expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        standby.up();
        standby
    }
}
