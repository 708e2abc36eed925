//! The CLI's fixed names and outputs, run as the real binary against a test database.

use std::process::Command;

use sqlx::PgPool;

use crate::support::db::database_url;

fn mailgate(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(args)
        .env_clear()
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run mailgate");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(db: &str, args: &[&str]) -> String {
    let (success, stdout, stderr) = mailgate(db, args);
    assert!(success, "mailgate {args:?} failed: {stderr}");
    stdout
}

#[sqlx::test]
async fn the_seed_scenario_through_the_cli(pool: PgPool) {
    let db = database_url(&pool).await;
    ok(&db, &["migrate"]);
    // The seed article's Logic App holds Graph's tenant-wide Mail.Send, which its access policy constrains.
    let app_id = "15ca046b-ee0f-426e-858e-949b5f826596";
    ok(&db, &["apps", "create", "logic-app", "--entra-app-id", app_id, "--entra-mail-send"]);
    ok(&db, &["groups", "create", "DL-Graph-Scope@contoso.test"]);
    ok(&db, &["groups", "create", "inner@contoso.test"]);
    ok(&db, &["groups", "add-member", "dl-graph-scope@contoso.test", "inner@contoso.test"]);
    ok(&db, &["groups", "add-member", "inner@contoso.test", "notifications@contoso.test"]);
    ok(
        &db,
        &[
            "policies",
            "new",
            "--app",
            "logic-app",
            "--scope-group",
            "dl-graph-scope@contoso.test",
            "--access-right",
            "RestrictAccess",
            "--description",
            "seed",
        ],
    );

    let granted = ok(&db, &["policies", "test", "--app", "logic-app", "--mailbox", "notifications@contoso.test"]);
    assert_eq!(granted.lines().next(), Some("Granted"), "{granted}");
    // The app may also be named by its Entra app id, as Exchange does.
    let denied = ok(
        &db,
        &["policies", "test", "--app", "15ca046b-ee0f-426e-858e-949b5f826596", "--mailbox", "ceo@contoso.test"],
    );
    assert_eq!(denied.lines().next(), Some("Denied"), "{denied}");
    assert!(denied.contains("dl-graph-scope@contoso.test"), "{denied}");

    let created = ok(&db, &["keys", "create", "logic-app"]);
    let key = created.lines().last().expect("key line");
    assert!(mailgate::auth::ApiKey::parse(key).is_some(), "last line is the key: {created}");
    let listed = ok(&db, &["keys", "list"]);
    assert!(listed.contains("active") && !listed.contains(&key[16..]), "{listed}");
    ok(&db, &["keys", "revoke", key]);
    assert!(ok(&db, &["keys", "list"]).contains("revoked"));

    let policies = ok(&db, &["policies", "list"]);
    assert!(policies.contains("RestrictAccess") && policies.contains("logic-app"), "{policies}");
    let id = policies.split_whitespace().next().expect("id");
    ok(&db, &["policies", "remove", id]);
    // Exchange would now let the app send as every mailbox; with nothing of its own to scope it, mailgate refuses.
    let refused = ok(&db, &["policies", "test", "--app", "logic-app", "--mailbox", "ceo@contoso.test"]);
    assert_eq!(refused.lines().next(), Some("Denied"), "{refused}");
    assert!(refused.contains("mailgate policies new --app logic-app"), "{refused}");
    let listed = ok(&db, &["apps", "list"]);
    assert!(listed.contains("entra-mail-send=true\tunrestricted=false"), "{listed}");
}

#[sqlx::test]
async fn the_cli_refuses_bad_input_and_changes_nothing(pool: PgPool) {
    let db = database_url(&pool).await;
    let refuse = |args: &[&str], needle: &str| {
        let (success, _, stderr) = mailgate(&db, args);
        assert!(!success, "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    };
    refuse(&["apps", "create", "Bad Name"], "app name");
    refuse(&["groups", "create", "not-an-address"], "not an address");
    ok(&db, &["groups", "create", "a@contoso.test"]);
    ok(&db, &["groups", "create", "b@contoso.test"]);
    ok(&db, &["groups", "add-member", "a@contoso.test", "b@contoso.test"]);
    refuse(&["groups", "add-member", "b@contoso.test", "a@contoso.test"], "contain itself");
    refuse(&["groups", "add-member", "a@contoso.test", "b@contoso.test"], "already a member");
    refuse(
        &["policies", "new", "--app", "ghost", "--scope-group", "a@contoso.test", "--access-right", "DenyAccess"],
        "no app named `ghost`",
    );
    refuse(
        &["policies", "new", "--app", "*", "--scope-group", "a@contoso.test", "--access-right", "Deny"],
        "access right",
    );
    refuse(
        &["policies", "new", "--app", "*", "--scope-group", "zzz@contoso.test", "--access-right", "DenyAccess"],
        "neither a group",
    );
    let (success, _, stderr) = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["migrate"])
        .env_clear()
        .output()
        .map(|o| (o.status.success(), String::new(), String::from_utf8_lossy(&o.stderr).into_owned()))
        .expect("run");
    assert!(!success && stderr.contains("DATABASE_URL"), "{stderr}");
    let policies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM access_policies").fetch_one(&pool).await.expect("count");
    assert_eq!(policies, 0);
}
