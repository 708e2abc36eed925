//! The Postgres server the run uses, and its databases and roles.
//!
//! Either the server `DATABASE_URL` names (as a role that may create roles and databases) or a private cluster made
//! with initdb in a temporary directory on a free port, at the server's defaults: `fsync` and `synchronous_commit`
//! stay on, so every acknowledged message is as durable as in production. On it, as the README's operator would:
//! the group role `mailgate_service`, an owner login that owns the databases and runs the migrations, and a service
//! login (a member of `mailgate_service`) that `mailgate serve` and pgbench connect as. Two databases: mailgate's,
//! and one of the same schema for the pgbench ceiling, so that its rows never reach mailgate's outbox.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use reqwest::Url;
use sqlx::postgres::{PgPool, PgPoolOptions};

const OWNER: (&str, &str) = ("mailgate_bench_owner", "mailgate-bench-owner");
const SERVICE: (&str, &str) = ("mailgate_bench_service", "mailgate-bench-service");

pub struct Server {
    /// An administrator's connection URL (database `postgres` on a private cluster).
    admin_url: Url,
    cluster: Option<Cluster>,
    pub version: String,
    admin: PgPool,
}

/// One database of the run, made by [`Server::database`] and dropped by [`Server::stop`].
pub struct Database {
    /// As the owner role: migrations, the prefill, and reads of outcomes.
    pub owner_url: String,
    /// As the service login: `mailgate serve` and pgbench.
    pub service_url: String,
}

impl Server {
    pub async fn start(database_url: Option<&str>) -> anyhow::Result<Server> {
        let (admin_url, cluster) = match database_url {
            Some(url) => (Url::parse(url).context("DATABASE_URL is not a URL")?, None),
            None => {
                let cluster = Cluster::start()?;
                (Url::parse(&cluster.url())?, Some(cluster))
            }
        };
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(admin_url.as_str())
            .await
            .with_context(|| format!("connecting to {}", redact(&admin_url)))?;
        let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&admin).await?;
        Ok(Server { admin_url, cluster, version, admin })
    }

    pub fn private(&self) -> bool {
        self.cluster.is_some()
    }

    /// A fresh database `name` owned by the owner role, the roles made where missing.
    pub async fn database(&self, name: &str) -> anyhow::Result<Database> {
        self.ensure_role("mailgate_service", None, None).await?;
        self.ensure_role(OWNER.0, Some(OWNER.1), None).await?;
        self.ensure_role(SERVICE.0, Some(SERVICE.1), Some("mailgate_service")).await?;
        self.exec(&format!("DROP DATABASE IF EXISTS {name}")).await?;
        self.exec(&format!("CREATE DATABASE {name} OWNER {}", OWNER.0)).await?;
        // PostgreSQL 13 and 14 give schema public to the bootstrap superuser; the migrations, as the owner, must be
        // able to close it to other roles (the README's operator step).
        let in_db = PgPoolOptions::new().max_connections(1).connect(self.url_for(name, None)?.as_str()).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER SCHEMA public OWNER TO {}", OWNER.0))).execute(&in_db).await?;
        in_db.close().await;
        Ok(Database {
            owner_url: self.url_for(name, Some(OWNER))?.to_string(),
            service_url: self.url_for(name, Some(SERVICE))?.to_string(),
        })
    }

    /// Flushes dirty buffers now, so that a checkpoint does not land in the middle of the next phase.
    pub async fn checkpoint(&self) {
        if let Err(e) = sqlx::query("CHECKPOINT").execute(&self.admin).await {
            eprintln!("bench: CHECKPOINT failed ({e}); phases may meet a checkpoint");
        }
    }

    /// Drops `databases` and stops the private cluster, if one was started.
    pub async fn stop(self, databases: &[&str]) {
        for name in databases {
            if let Err(e) = self.exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await {
                eprintln!("bench: could not drop database {name}: {e}");
            }
        }
        self.admin.close().await;
        drop(self.cluster);
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&self.admin).await.with_context(|| sql.to_owned())?;
        Ok(())
    }

    /// Creates role `name` where missing; another run making it at the same moment is fine.
    async fn ensure_role(&self, name: &str, password: Option<&str>, member_of: Option<&str>) -> anyhow::Result<()> {
        let login = password.map_or("NOLOGIN".to_owned(), |p| format!("LOGIN PASSWORD '{p}'"));
        let grant = member_of
            .map(|g| format!("IF NOT pg_has_role('{name}', '{g}', 'MEMBER') THEN GRANT {g} TO {name}; END IF;"))
            .unwrap_or_default();
        self.exec(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN CREATE ROLE {name} {login}; END IF;
                 {grant}
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
             END $$"
        ))
        .await
    }

    fn url_for(&self, database: &str, login: Option<(&str, &str)>) -> anyhow::Result<Url> {
        let mut url = self.admin_url.clone();
        url.set_path(&format!("/{database}"));
        if let Some((user, password)) = login {
            url.set_username(user).map_err(|()| anyhow::anyhow!("DATABASE_URL has no host"))?;
            url.set_password(Some(password)).map_err(|()| anyhow::anyhow!("DATABASE_URL has no host"))?;
        }
        Ok(url)
    }
}

fn redact(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_password(None);
    url.to_string()
}

/// A cluster of the run's own, in a temporary directory; stopped and removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// initdb and postgres refuse to run as root: then they run as the `postgres` OS user.
    as_postgres: bool,
}

impl Cluster {
    fn start() -> anyhow::Result<Cluster> {
        let bin = server_bindir().context(
            "no DATABASE_URL, and no PostgreSQL server programs (initdb, pg_ctl) to make a private cluster with: \
             install the PostgreSQL server package or set DATABASE_URL",
        )?;
        let as_postgres = output(Command::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::Builder::new().prefix("mailgate-bench-pg").tempdir()?;
        if as_postgres && !Command::new("chown").arg("postgres").arg(dir.path()).status()?.success() {
            bail!("chown postgres {} failed: is there a `postgres` OS user?", dir.path().display());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cluster = Cluster { dir, bin, port, as_postgres };
        let data = cluster.dir.path().join("data");
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .output()?;
        if !out.status.success() {
            bail!("initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        // The server's defaults otherwise (fsync, synchronous_commit, shared_buffers...): what is measured is what
        // a stock server does. Enough connections for 64 pgbench clients beside mailgate's pool.
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            port,
            cluster.dir.path().display()
        );
        let log = cluster.dir.path().join("postgres.log");
        let started = cluster
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            // The server must not inherit our pipes, or it would hold them open.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !started.success() {
            bail!("pg_ctl start failed; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        Ok(cluster)
    }

    fn url(&self) -> String {
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
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn output(c: &mut Command) -> String {
    c.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// Where initdb and pg_ctl are: `pg_config --bindir`, Debian's versioned directories (newest first), then PATH.
fn server_bindir() -> Option<PathBuf> {
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let from_pg_config = PathBuf::from(output(Command::new("pg_config").arg("--bindir")).trim());
    if has_server(&from_pg_config) {
        return Some(from_pg_config);
    }
    versioned_bindirs().into_iter().find(|d| has_server(d)).or_else(|| on_path(has_server))
}

/// A client program (pgbench): PATH first, then Debian's versioned directories.
pub fn client_program(name: &str) -> Option<PathBuf> {
    on_path(|d| d.join(name).is_file())
        .or_else(|| versioned_bindirs().into_iter().find(|d| d.join(name).is_file()))
        .map(|d| d.join(name))
}

fn versioned_bindirs() -> Vec<PathBuf> {
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    debian.sort();
    debian.into_iter().rev().map(|(_, d)| d).collect()
}

fn on_path(found: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| found(d))
}
