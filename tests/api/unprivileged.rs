//! The built binary run as an unprivileged user writes nothing outside what its settings name: it serves, sends and
//! stops on SIGTERM with a writable but empty HOME and working directory, and leaves no file behind anywhere.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use graph_sim::SimConfig;
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::client::post_once;
use crate::support::db::database_url;
use crate::support::logins::service_url;
use crate::support::process::Mailgate;
use crate::support::seed::{ALLOWED, message, seed_demo};
use crate::support::wait::wait_until;

const USER: &str = "nobody";
const GROUP: &str = "nogroup";

fn stdout(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Why this test cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    if stdout(Command::new("id").arg("-u")).as_deref() != Some("0") {
        return Some("needs root".to_owned());
    }
    if stdout(Command::new("id").args(["-u", USER])).is_none() {
        return Some(format!("no user {USER}"));
    }
    if stdout(Command::new("getent").args(["group", GROUP])).is_none() {
        return Some(format!("no group {GROUP}"));
    }
    if stdout(Command::new("setpriv").arg("--version")).is_none() {
        return Some("no setpriv (util-linux)".to_owned());
    }
    None
}

/// An empty directory `user` owns.
fn dir_owned_by(user: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("chown").arg(user).arg(dir.path()).status().expect("run chown");
    assert!(status.success(), "chown {user} {}", dir.path().display());
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[sqlx::test]
async fn mailgate_run_as_nobody_serves_sends_and_stops_without_writing_a_file(pool: PgPool) {
    if let Some(reason) = cannot_run() {
        println!("skipped: {reason}");
        return;
    }
    let demo = seed_demo(&pool).await;
    let db_url = service_url(&pool, &database_url(&pool).await).await;
    let sim = crate::support::graph_sim::sim(SimConfig::default()).await;

    // The test binary may sit under a directory only root may enter (/root): run a copy everyone may execute.
    let bin_dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let bin = bin_dir.path().join("mailgate");
    std::fs::copy(env!("CARGO_BIN_EXE_mailgate"), &bin).expect("copy the binary");
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod binary");

    // HOME and the working directory are the user's own and writable, so that staying empty means something.
    let home = dir_owned_by(USER);
    let cwd = dir_owned_by(USER);
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("before-start");
    std::fs::write(&marker, b"").expect("marker");

    let mut cmd = Command::new("setpriv");
    cmd.args([&format!("--reuid={USER}"), &format!("--regid={GROUP}"), "--clear-groups"])
        .arg(&bin)
        .current_dir(cwd.path());
    let env = [("HOME".to_owned(), home.path().display().to_string())];
    let mut mailgate = Mailgate::start_with(cmd, &db_url, &sim, &env);
    let user = stdout(Command::new("ps").args(["-o", "user=", "-p", &mailgate.pid().to_string()]));
    assert_eq!(user.as_deref(), Some(USER), "mailgate must run as {USER}");

    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");
    let posted = post_once(&http, &mailgate.base, &demo.key, &message(ALLOWED)).await;
    let id: Uuid = posted.id.as_deref().unwrap_or_else(|| panic!("not accepted: {posted:?}")).parse().expect("uuid");
    wait_until("the message is sent", Duration::from_secs(30), || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM messages WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .is_ok_and(|s| s == "sent")
    })
    .await;
    assert_eq!(sim.sim.received().len(), 1, "Graph got the message once");

    mailgate.terminate();
    let exit = mailgate.wait_exit(Duration::from_secs(60)).await.expect("mailgate exits after SIGTERM");
    assert!(exit.success(), "mailgate exited with {exit} after SIGTERM\n{}", mailgate.logs());

    assert_eq!(entries(home.path()), Vec::<String>::new(), "mailgate wrote into HOME");
    assert_eq!(entries(cwd.path()), Vec::<String>::new(), "mailgate wrote into its working directory");
    // Anything on the root file system the user made or changed since the marker (find's exit status is ignored:
    // files other processes remove meanwhile make it complain).
    let started = Instant::now();
    let found = Command::new("find")
        .args(["/", "-xdev", "(", "-path", "/proc", "-o", "-path", "/sys", "-o", "-path", "/dev", ")", "-prune", "-o"])
        .args(["-user", USER, "-newer"])
        .arg(&marker)
        .arg("-print")
        .output()
        .expect("run find");
    let found = String::from_utf8_lossy(&found.stdout);
    assert!(found.trim().is_empty(), "files {USER} made or changed while mailgate ran:\n{found}");
    println!("find / took {:?}", started.elapsed());
}
