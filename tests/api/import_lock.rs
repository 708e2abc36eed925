//! An import of the mirror (dry run or applied) holds its own advisory lock, which delivery never takes: sends go on
//! while an import runs, or waits, on every replica.

use std::process::{Command, Stdio};
use std::time::Duration;

use mailgate::exchange_sync::apply::IMPORT_LOCK;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::spawn;
use crate::support::wait::wait_until;

#[sqlx::test]
async fn delivery_goes_on_while_an_import_holds_its_lock(pool: PgPool) {
    let app = spawn().start(pool).await;
    let bundle = format!("{}/tests/fixtures/exo/bundle.json", env!("CARGO_MANIFEST_DIR"));
    for apply in [false, true] {
        // Another import holds the lock, as a long one would.
        let mut holder = app.pool.begin().await.expect("tx");
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORT_LOCK).execute(&mut *holder).await.expect("lock");
        let mut args = vec!["sync", "import", bundle.as_str()];
        if apply {
            args.push("--apply");
        }
        let mut import = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(&args)
            .env_clear()
            .env("DATABASE_URL", &app.db_url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mailgate sync import");
        let waiting = "SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'";
        wait_until("the import waits for the lock", Duration::from_secs(30), || async {
            app.count(waiting).await == 1
        })
        .await;

        // Meanwhile a message is claimed and sent.
        let r = app
            .http
            .post(app.url("/v1/messages"))
            .bearer_auth(&app.demo.key)
            .header("Prefer", "wait=20")
            .json(&message(ALLOWED))
            .send()
            .await
            .expect("send");
        let view: Value = r.json().await.expect("json");
        assert_eq!(view["status"], "sent", "apply={apply}: {view}");
        assert!(import.try_wait().expect("try_wait").is_none(), "the import did not wait for the lock");

        holder.rollback().await.expect("release");
        let out = tokio::task::spawn_blocking(move || import.wait_with_output()).await.expect("join").expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let want = if apply { "applied 29 changes" } else { "dry run: 29 changes" };
        assert!(stdout.starts_with(want), "{stdout}");
    }
}
