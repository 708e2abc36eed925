//! An app that nothing scopes sends as no one: created through the CLI or the admin API it is refused every mailbox
//! (`unscoped_app`) until an access policy or role assignment of its own names it, or an admin marks it unrestricted,
//! which is shown wherever apps are listed and logged at every start.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::db::database_url;
use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::{eventually, wait_until};

fn cli(db: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mailgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mailgate {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The same decision, refreshed: a change reaches the running server by NOTIFY, so poll until it answers `want`.
async fn until_status(app: &TestApp, key: &str, from: &str, want: u16) -> reqwest::Response {
    let body = message(from);
    let r = eventually(want, || app.post_message_as(key, &body)).await;
    assert_eq!(r.status(), want, "sending as {from} never answered {want}");
    r
}

#[sqlx::test]
async fn a_new_app_sends_as_no_one_until_scoped_or_marked_unrestricted(pool: PgPool) {
    let mut app = spawn().start(pool).await;
    let db = database_url(&app.pool).await;
    // Another app may send as the CEO, and a policy for every app holds the CEO: neither lets a new app in.
    cli(&db, &["apps", "create", "exec-mailer"]);
    cli(&db, &["groups", "create", "exec@contoso.test"]);
    cli(&db, &["groups", "add-member", "exec@contoso.test", OUTSIDE]);
    let policy = ["--scope-group", "exec@contoso.test", "--access-right", "RestrictAccess"];
    cli(&db, &[&["policies", "new", "--app", "exec-mailer"][..], &policy[..]].concat());
    cli(&db, &["groups", "create", "senders@contoso.test"]);
    cli(&db, &["groups", "add-member", "senders@contoso.test", OUTSIDE]);
    let star = ["policies", "new", "--app", "*", "--scope-group", "senders@contoso.test", "--access-right"];
    cli(&db, &[&star[..], &["RestrictAccess"][..]].concat());

    let created = cli(&db, &["apps", "create", "rogue-app"]);
    assert!(created.contains("sends as no mailbox until"), "{created}");
    let key = cli(&db, &["keys", "create", "rogue-app"]).lines().last().expect("key").to_owned();
    let r = until_status(&app, &key, OUTSIDE, 403).await;
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["code"], "policy_denied", "{problem}");
    assert_eq!(problem["decision"]["rule"], "unscoped_app", "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("mailgate policies new --app rogue-app"), "{detail}");
    assert!(detail.contains("POST /v1/admin/policies") && detail.contains("role-assignments"), "{detail}");
    // No mailbox at all, the demo's allowed one included; nothing reached Graph.
    let r = app.post_message_as(&key, &message(ALLOWED)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.expect("problem")["decision"]["rule"], "unscoped_app");
    let explained = cli(&db, &["policies", "test", "--app", "rogue-app", "--mailbox", OUTSIDE]);
    assert_eq!(explained.lines().next(), Some("Denied"), "{explained}");
    assert!(explained.contains("- AppScope the app's own scope: no access policy"), "{explained}");

    // Scoped by a policy of its own, it sends where the policies that apply to it allow.
    let notify = ["--scope-group", "dl-graph-scope@contoso.test", "--access-right", "RestrictAccess"];
    cli(&db, &[&["policies", "new", "--app", "rogue-app"][..], &notify[..]].concat());
    until_status(&app, &key, ALLOWED, 202).await;
    assert_eq!(app.post_message_as(&key, &message("cfo@contoso.test")).await.status(), 403);
    let id = cli(&db, &["policies", "list"])
        .lines()
        .find(|l| l.split('\t').nth(2) == Some("rogue-app"))
        .and_then(|l| l.split('\t').next())
        .expect("rogue-app's policy")
        .to_owned();
    cli(&db, &["policies", "remove", &id]);
    until_status(&app, &key, ALLOWED, 403).await;

    // Only an admin's choice restores Exchange's unscoped behaviour; a policy for every app still binds it.
    let changed = cli(&db, &["apps", "change", "rogue-app", "--unrestricted", "true"]);
    assert!(changed.contains("unrestricted=true"), "{changed}");
    until_status(&app, &key, OUTSIDE, 202).await;
    let r = app.post_message_as(&key, &message("cfo@contoso.test")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.expect("problem")["decision"]["rule"], "restrict_access_not_in_scope");
    let listed = cli(&db, &["apps", "list"]);
    let line = listed.lines().find(|l| l.starts_with("rogue-app\t")).expect("listed");
    assert!(line.contains("unrestricted=true") && line.contains("entra-mail-send=false"), "{listed}");
    assert!(listed.lines().find(|l| l.starts_with("logic-app\t")).expect("listed").contains("unrestricted=false"));

    // Every start names it in a warning, and names the sending apps nothing scopes.
    cli(&db, &["apps", "create", "new-job"]);
    app.process.kill();
    app.restart();
    let logs = || async { app.logs() };
    wait_until("the start-up warnings are logged", Duration::from_secs(10), || async {
        let l = logs().await;
        l.contains("app rogue-app is unrestricted") && l.contains("new-job")
    })
    .await;
    let l = app.logs();
    let unscoped = l.lines().find(|l| l.contains("send as no mailbox until scoped")).expect("the unscoped warning");
    assert!(unscoped.contains("WARN") && unscoped.contains("new-job") && !unscoped.contains("logic-app"), "{l}");
}

#[sqlx::test]
async fn the_admin_api_marks_explains_and_lists_unrestricted_apps(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app.client_as(&app_with_roles(&app.pool, "platform-admin", &["Admin", "Audit.Read"]).await);
    let (s, created) = admin.post("/v1/admin/apps", &json!({"name": "batch"})).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!((created["unrestricted"].as_bool(), created["entra_mail_send"].as_bool()), (Some(false), Some(false)));
    let (s, legacy) = admin.post("/v1/admin/apps", &json!({"name": "legacy", "unrestricted": true})).await;
    assert_eq!(s, 201, "{legacy}");
    assert_eq!(legacy["unrestricted"], true);

    // A key app cannot hold Entra's grant: refused, naming the field, and nothing changes.
    let before = app.count("SELECT count(*) FROM change_events").await;
    let (s, problem) = admin.patch("/v1/admin/apps/batch", &json!({"entra_mail_send": true})).await;
    assert_eq!((s, problem["field"].as_str()), (422, Some("entra_mail_send")), "{problem}");
    let (s, problem) = admin.post("/v1/admin/apps", &json!({"name": "keyed", "entra_mail_send": true})).await;
    assert_eq!((s, problem["field"].as_str()), (422, Some("entra_mail_send")), "{problem}");
    assert_eq!(app.count("SELECT count(*) FROM change_events").await, before);

    let test = async |app_name: &'static str| {
        admin.post("/v1/access/test", &json!({"app": app_name, "mailbox": OUTSIDE})).await
    };
    let (_, t) = test("batch").await;
    assert_eq!(
        (t["access_check_result"].as_str(), t["decision"]["rule"].as_str()),
        (Some("Denied"), Some("unscoped_app"))
    );
    let (_, t) = test("legacy").await;
    assert_eq!(
        (t["access_check_result"].as_str(), t["decision"]["rule"].as_str()),
        (Some("Granted"), Some("no_policy"))
    );
    let kinds: Vec<(&str, bool)> = t["decision"]["considered"]
        .as_array()
        .expect("considered")
        .iter()
        .map(|c| (c["kind"].as_str().unwrap_or(""), c["matched"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(kinds, [("app_scope", true), ("entra_grant", true)], "{t}");
    assert!(t["decision"]["considered"][0]["why"].as_str().expect("why").contains("marked it unrestricted"), "{t}");

    let (s, patched) = admin.patch("/v1/admin/apps/batch", &json!({"unrestricted": true})).await;
    assert_eq!((s, patched["unrestricted"].as_bool()), (200, Some(true)), "{patched}");
    let (_, t) = test("batch").await;
    assert_eq!(t["access_check_result"], "Granted", "{t}");
    admin.patch("/v1/admin/apps/batch", &json!({"unrestricted": false})).await;
    let (_, t) = test("batch").await;
    assert_eq!(t["decision"]["rule"], "unscoped_app", "{t}");

    let (_, listed) = admin.get("/v1/admin/apps").await;
    let flags: Vec<(&str, bool)> = listed
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| (a["name"].as_str().unwrap_or(""), a["unrestricted"].as_bool().unwrap_or(false)))
        .collect();
    assert!(flags.contains(&("legacy", true)) && flags.contains(&("batch", false)), "{listed}");

    // What scopes each app, for the dashboard (Audit.Read suffices).
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let (s, scopes) = app.client_as(&auditor).get("/v1/access/apps").await;
    assert_eq!(s, 200, "{scopes}");
    let state =
        |name: &str| scopes.as_array().expect("apps").iter().find(|a| a["app"] == name).map(|a| a["scope"].clone());
    assert_eq!(state("logic-app"), Some(json!("scoped")));
    assert_eq!(state("legacy"), Some(json!("unrestricted")));
    assert_eq!(state("batch"), Some(json!("unscoped")));
    let logic = scopes.as_array().expect("apps").iter().find(|a| a["app"] == "logic-app").expect("logic-app");
    assert_eq!(logic["policies"], json!([app.demo.policy_id]));
}
