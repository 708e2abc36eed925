//! Importing the mirror from Exchange's own output: dry run, apply in one transaction, diffs, refusals, export.

use std::process::Command;

use mailgate::exchange_sync;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::db::database_url;
use crate::support::seed::app_with_roles;
use crate::support::server::spawn;

const LOGIC_APP: &str = "7a1e6b2c-9f3d-4e5a-8b6c-0d1e2f3a4b5c";
const MAILGATE: &str = "0b5e8f3a-2c4d-4e6f-9a1b-3c5d7e9f1a2b";
const TABLES: &[&str] = &[
    "apps",
    "recipients",
    "groups",
    "group_members",
    "access_policies",
    "access_policy_apps",
    "service_principals",
    "management_scopes",
    "role_assignments",
    "change_events",
];

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/exo/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn desired(name: &str) -> exchange_sync::Desired {
    exchange_sync::normalize(&exchange_sync::parse_bundle(fixture(name).as_bytes()).expect("parse")).expect("normalize")
}

async fn counts(pool: &PgPool) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in TABLES {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(pool)
            .await
            .expect("count");
        out.push(((*t).to_owned(), n));
    }
    out
}

fn sizes(report: &Value, kind: &str) -> [usize; 3] {
    ["added", "changed", "removed"].map(|s| report[kind][s].as_array().map_or(usize::MAX, Vec::len))
}

fn keys(report: &Value, kind: &str, section: &str) -> Vec<String> {
    report[kind][section].as_array().expect("section").iter().map(|i| i["key"].as_str().expect("key").into()).collect()
}

#[sqlx::test]
async fn a_dry_run_on_an_empty_mirror_adds_everything_and_changes_nothing(pool: PgPool) {
    let before = counts(&pool).await;
    let report =
        exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", false).await.expect("dry run");
    assert_eq!(counts(&pool).await, before, "a dry run changes nothing");
    let r = serde_json::to_value(&report).expect("json");
    assert_eq!(r["applied"], false);
    assert_eq!(sizes(&r, "apps"), [2, 0, 0]);
    assert_eq!(keys(&r, "apps", "added"), ["billing-reporter", "logicapp-wl-mailsender"]);
    assert_eq!(sizes(&r, "recipients"), [8, 0, 0]);
    assert_eq!(sizes(&r, "groups"), [4, 0, 0]);
    assert_eq!(sizes(&r, "group_members"), [6, 0, 0]);
    assert_eq!(sizes(&r, "access_policies"), [3, 0, 0]);
    assert_eq!(sizes(&r, "service_principals"), [3, 0, 0]);
    assert_eq!(sizes(&r, "management_scopes"), [1, 0, 0]);
    assert_eq!(sizes(&r, "role_assignments"), [2, 0, 0]);
    assert_eq!(r["changes"], 29);
    let text = report.to_string();
    assert!(text.starts_with("dry run: 29 changes would be made"), "{text}");
    assert!(text.contains("  + RestrictAccess on group dl-graph-scope@contoso.test for 7a1e6b2c"), "{text}");
}

#[sqlx::test]
async fn apply_mirrors_the_bundle_records_the_actor_and_a_second_apply_is_a_no_op(pool: PgPool) {
    let report =
        exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await.expect("apply");
    assert!(report.applied && report.changes == 29);
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT actor FROM change_events").fetch_all(&pool).await.expect("actors");
    assert_eq!(actors, ["import:bundle.json"]);
    let (mail_send, name): (bool, String) =
        sqlx::query_as("SELECT entra_mail_send, name FROM apps WHERE entra_app_id = $1::uuid")
            .bind(LOGIC_APP)
            .fetch_one(&pool)
            .await
            .expect("app");
    assert!(mail_send, "EntraMailSendGrants names the Logic App");
    assert_eq!(name, "logicapp-wl-mailsender");
    let nested: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM group_members gm JOIN groups g ON g.id = gm.group_id
           JOIN groups c ON c.id = gm.member_group_id
          WHERE g.address = 'dl-executives@contoso.test' AND c.address = 'dl-exec-assistants@contoso.test'",
    )
    .fetch_one(&pool)
    .await
    .expect("nested");
    assert_eq!(nested, 1);
    let (filter, role): (String, String) = sqlx::query_as(
        "SELECT s.recipient_filter, ra.role FROM role_assignments ra JOIN management_scopes s ON s.id = ra.scope_id",
    )
    .fetch_one(&pool)
    .await
    .expect("scoped assignment");
    assert_eq!((filter.as_str(), role.as_str()), ("CustomAttribute1 -eq 'mailgate'", "Application Mail.Send"));
    let properties: Value =
        sqlx::query_scalar("SELECT properties FROM recipients WHERE address = 'billing@contoso.test'")
            .fetch_one(&pool)
            .await
            .expect("props");
    assert_eq!(properties["CustomAttribute1"], "mailgate");

    // The imported policies decide as Exchange would.
    let snapshot = mailgate::policy::load(&pool).await.expect("snapshot");
    let app = mailgate::db::apps::find(&pool, LOGIC_APP).await.expect("find").expect("app");
    let decide = |mailbox: &str| mailgate::policy::decide(&snapshot, app.id, &app.name, mailbox).access;
    assert_eq!(decide("notifications@contoso.test"), mailgate::policy::Access::Granted);
    assert_eq!(decide("ceo@contoso.test"), mailgate::policy::Access::Denied);

    let before = counts(&pool).await;
    let again = exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await.expect("again");
    assert_eq!(again.changes, 0, "{again}");
    assert_eq!(counts(&pool).await, before, "re-applying writes nothing");
}

#[sqlx::test]
async fn a_failure_during_apply_changes_nothing(pool: PgPool) {
    // Role assignments are written last; make that step fail.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON role_assignments FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&pool)
    .await
    .expect("trigger");
    let before = counts(&pool).await;
    let err = exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await;
    assert!(err.is_err());
    assert_eq!(counts(&pool).await, before, "one transaction: nothing was kept");
}

#[sqlx::test]
async fn the_second_bundle_differs_by_exactly_what_changed(pool: PgPool) {
    exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await.expect("apply");
    let report = exchange_sync::import(&pool, &desired("bundle-changed.json"), "import:bundle-changed.json", false)
        .await
        .expect("dry run");
    let r = serde_json::to_value(&report).expect("json");
    assert_eq!(r["changes"], 3, "{report}");
    assert_eq!(
        keys(&r, "access_policies", "removed"),
        ["DenyAccess on group dl-executives@contoso.test for 6f1c1e3a-8d2b-4c61-9a0e-3f6b9b7d2a11"]
    );
    assert_eq!(keys(&r, "group_members", "added"), ["dl-graph-scope@contoso.test ∋ billing@contoso.test"]);
    let changed = &r["management_scopes"]["changed"];
    assert_eq!(changed[0]["key"], "mailgate-senders");
    assert_eq!(
        changed[0]["fields"],
        json!({"recipient_filter": {
            "before": "CustomAttribute1 -eq 'mailgate'",
            "after": "(CustomAttribute1 -eq 'mailgate') -and (CountryOrRegion -ne 'Sweden')"
        }})
    );
    let text = report.to_string();
    assert!(text.contains("  - DenyAccess on group dl-executives@contoso.test"), "{text}");
    assert!(text.contains("  ~ mailgate-senders: recipient_filter: \"CustomAttribute1 -eq 'mailgate'\" →"), "{text}");

    exchange_sync::import(&pool, &desired("bundle-changed.json"), "import:bundle-changed.json", true)
        .await
        .expect("apply");
    let billing_apps: i64 = sqlx::query_scalar("SELECT count(*) FROM apps WHERE name = 'billing-reporter'")
        .fetch_one(&pool)
        .await
        .expect("apps");
    assert_eq!(billing_apps, 1, "apps are never removed by an import");
    let back =
        exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", false).await.expect("dry run");
    assert_eq!(back.changes, 3, "{back}");
}

#[sqlx::test]
async fn export_writes_the_cmdlets_that_recreate_the_mirror(pool: PgPool) {
    exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await.expect("apply");
    // A policy for an app Exchange cannot name.
    let local =
        mailgate::db::apps::create(&pool, &mailgate::db::apps::NewApp { name: "local-only", ..Default::default() })
            .await
            .expect("app");
    sqlx::query(
        "WITH p AS (INSERT INTO access_policies (id, all_apps, scope_group_id, access_right)
                    SELECT gen_random_uuid(), false, id, 'RestrictAccess' FROM groups
                     WHERE address = 'dl-graph-scope@contoso.test' RETURNING id)
         INSERT INTO access_policy_apps (policy_id, app_id) SELECT id, $1 FROM p",
    )
    .bind(local.id)
    .execute(&pool)
    .await
    .expect("local policy");
    let script = exchange_sync::export(&pool).await.expect("export");
    for line in [
        "New-DistributionGroup -Type Security -Name 'Executives' -DisplayName 'Executives' -PrimarySmtpAddress 'dl-executives@contoso.test'",
        "Add-DistributionGroupMember -Identity 'dl-executives@contoso.test' -Member 'dl-exec-assistants@contoso.test'",
        "Add-DistributionGroupMember -Identity 'dl-graph-scope@contoso.test' -Member 'notifications@contoso.test'",
        "New-ApplicationAccessPolicy -AppId '7a1e6b2c-9f3d-4e5a-8b6c-0d1e2f3a4b5c' -PolicyScopeGroupId 'dl-graph-scope@contoso.test' -AccessRight RestrictAccess -Description 'Restrict this app''s permissions to members of distribution group dl-graph-scope@contoso.test'",
        "New-ApplicationAccessPolicy -AppId '*' -PolicyScopeGroupId 'dl-legal-hold@contoso.test' -AccessRight DenyAccess -Description 'Legal hold: no app reaches these mailboxes'",
        "New-ServicePrincipal -AppId '0b5e8f3a-2c4d-4e6f-9a1b-3c5d7e9f1a2b' -ObjectId 'a9e8d7c6-b5a4-4321-9876-fedcba987654' -DisplayName 'mailgate'",
        "New-ManagementScope -Name 'mailgate-senders' -RecipientRestrictionFilter 'CustomAttribute1 -eq ''mailgate'''",
        "New-ManagementRoleAssignment -Name 'mailgate-send' -App '0b5e8f3a-2c4d-4e6f-9a1b-3c5d7e9f1a2b' -Role 'Application Mail.Send' -CustomResourceScope 'mailgate-senders'",
        "New-ManagementRoleAssignment -Name 'mailgate-read-all' -App '0b5e8f3a-2c4d-4e6f-9a1b-3c5d7e9f1a2b' -Role 'Application Mail.Read'",
        "# Not expressible in Exchange: mailgate app local-only has no Entra app id (RestrictAccess policy on group dl-graph-scope@contoso.test).",
    ] {
        assert!(script.lines().any(|l| l == line), "missing line:\n{line}\n--- export ---\n{script}");
    }
    assert!(!script.contains("local-only'"), "no cmdlet for the local app");
}

/// Edits one field of the bundle.
fn broken(edit: impl FnOnce(&mut Value)) -> Value {
    let mut v: Value = serde_json::from_str(&fixture("bundle.json")).expect("json");
    edit(&mut v);
    v
}

#[sqlx::test]
async fn import_and_export_over_http(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "admin", &["Admin"]).await;
    let bundle: Value = serde_json::from_str(&fixture("bundle.json")).expect("json");
    let import = |query: &'static str, key: String, body: Value| {
        app.http.post(app.url(&format!("/v1/admin/import{query}"))).bearer_auth(key).json(&body).send()
    };

    let before = counts(&app.pool).await;
    let r = import("", admin.clone(), bundle.clone()).await.expect("dry run");
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["applied"], false);
    // The demo's local policy is not in Exchange: a full mirror removes it, which leaves the demo's app unscoped.
    assert_eq!(sizes(&report, "access_policies"), [3, 0, 1], "{report}");
    let unscoped: Vec<&str> =
        report["unscoped_apps"].as_array().expect("unscoped").iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(unscoped, ["logic-app"], "{report}");
    assert_eq!(keys(&report, "groups", "changed"), ["dl-graph-scope@contoso.test"]);
    assert_eq!(counts(&app.pool).await, before);

    let r = import("?apply=true", admin.clone(), bundle.clone()).await.expect("apply");
    assert_eq!(r.status(), 200);
    let applied: Value = r.json().await.expect("json");
    assert_eq!((applied["applied"].clone(), applied["changes"].clone()), (json!(true), report["changes"].clone()));
    assert!(app.count("SELECT count(*) FROM change_events WHERE actor = 'import:http:admin'").await > 20);
    let again: Value =
        import("?apply=true", admin.clone(), bundle.clone()).await.expect("again").json().await.expect("json");
    assert_eq!(again["changes"], 0, "{again}");

    let r = app.http.get(app.url("/v1/admin/export")).bearer_auth(&admin).send().await.expect("export");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("ct").starts_with("text/plain"));
    let script = r.text().await.expect("text");
    assert!(
        script.contains(&format!("New-ManagementRoleAssignment -Name 'mailgate-send' -App '{MAILGATE}'")),
        "{script}"
    );

    // Senders are not admins.
    let sender = app.demo.key.clone();
    assert_eq!(import("?apply=true", sender.clone(), bundle.clone()).await.expect("post").status(), 403);
    let r = app.http.get(app.url("/v1/admin/export")).bearer_auth(&sender).send().await.expect("export");
    assert_eq!(r.status(), 403);
    let r = import("?apply=maybe", admin.clone(), bundle.clone()).await.expect("post");
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.expect("json")["field"], "apply");
}

#[sqlx::test]
async fn bad_bundles_are_refused_naming_the_field_and_change_nothing(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "admin", &["Admin"]).await;
    let before = counts(&app.pool).await;
    let cases = [
        (
            broken(|v| v["ApplicationAccessPolicies"][2]["AccessRight"] = json!("Restrict")),
            "ApplicationAccessPolicies[2].AccessRight",
            "\"Restrict\" is not RestrictAccess or DenyAccess",
        ),
        (
            broken(|v| {
                let p = &mut v["ApplicationAccessPolicies"][0];
                p["ScopeIdentityRaw"] = json!("S-1-5-21-1-2-3-4;b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e");
            }),
            "ApplicationAccessPolicies[0].ScopeIdentityRaw",
            "notifications@contoso.test is a SharedMailbox",
        ),
        (
            broken(|v| {
                let p = &mut v["ApplicationAccessPolicies"][1];
                p["ScopeIdentityRaw"] = Value::Null;
                p["ScopeIdentity"] = json!("All Staff");
            }),
            "ApplicationAccessPolicies[1].ScopeIdentity",
            "is a MailUniversalDistributionGroup",
        ),
        (
            broken(|v| v["ApplicationAccessPolicies"][0]["AppId"] = json!(["not-a-guid"])),
            "ApplicationAccessPolicies[0].AppId",
            "not a GUID",
        ),
        (
            broken(|v| v["ManagementRoleAssignments"][0]["CustomResourceScope"] = json!("nowhere")),
            "ManagementRoleAssignments[0].CustomResourceScope",
            "names no scope",
        ),
        (
            broken(|v| v["ManagementRoleAssignments"][1]["RoleAssignee"] = json!("ghost")),
            "ManagementRoleAssignments[1].RoleAssignee",
            "names no service principal",
        ),
        (
            broken(|v| v["ManagementRoleAssignments"][0]["Role"] = json!("Application Mail.Sned")),
            "ManagementRoleAssignments[0].Role",
            "not an RBAC",
        ),
        (
            broken(|v| v["ManagementScopes"][0]["RecipientFilter"] = json!("CustomAttribute1 -eq 'mailgate")),
            "ManagementScopes[0].RecipientFilter",
            "unterminated",
        ),
        (
            broken(|v| v["GroupMembers"]["all-staff@contoso.test"] = json!([])),
            "GroupMembers[\"all-staff@contoso.test\"]",
            "not a mail-enabled security group",
        ),
        (broken(|v| v["Recipients"][2]["DisplayName"] = json!(5)), "Recipients[2].DisplayName", "invalid type"),
        (
            broken(|v| v["Recipients"][3]["PrimarySmtpAddress"] = json!("not an address")),
            "Recipients[3].PrimarySmtpAddress",
            "whitespace",
        ),
        (broken(|v| drop(v.as_object_mut().expect("object").remove("Recipients"))), "Recipients", "missing field"),
    ];
    for (body, field, needle) in cases {
        let r = app
            .http
            .post(app.url("/v1/admin/import?apply=true"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 422, "{field}");
        let problem: Value = r.json().await.expect("json");
        assert_eq!(problem["field"], field, "{problem}");
        assert!(problem["detail"].as_str().expect("detail").contains(needle), "{problem}");
    }
    assert_eq!(counts(&app.pool).await, before, "refused bundles change nothing");
}

#[sqlx::test]
async fn the_cli_imports_dry_runs_and_exports(pool: PgPool) {
    let db = database_url(&pool).await;
    let file = format!("{}/tests/fixtures/exo/bundle.json", env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &db)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = run(&["sync", "import", &file]);
    assert!(dry.starts_with("dry run: 29 changes would be made (nothing was changed; use --apply)"), "{dry}");
    assert!(dry.contains("access_policies: 3 added, 0 changed, 0 removed"), "{dry}");
    let applied = run(&["sync", "import", &file, "--apply"]);
    assert!(applied.starts_with("applied 29 changes"), "{applied}");
    assert!(run(&["sync", "import", &file]).starts_with("no changes"));
    let actors: i64 = sqlx::query_scalar("SELECT count(*) FROM change_events WHERE actor <> 'import:bundle.json'")
        .fetch_one(&pool)
        .await
        .expect("actors");
    assert_eq!(actors, 0);
    assert!(run(&["sync", "export"]).contains("New-ManagementScope -Name 'mailgate-senders'"));
}

#[sqlx::test]
async fn without_entra_grants_an_import_gives_no_app_the_tenant_wide_grant(pool: PgPool) {
    let mut bundle: Value = serde_json::from_str(&fixture("bundle.json")).expect("json");
    bundle.as_object_mut().expect("object").remove("EntraMailSendGrants");
    let without = exchange_sync::normalize(&exchange_sync::parse_bundle(bundle.to_string().as_bytes()).expect("parse"))
        .expect("norm");
    exchange_sync::import(&pool, &without, "import:bundle.json", true).await.expect("apply");
    let granted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apps WHERE entra_mail_send").fetch_one(&pool).await.expect("count");
    assert_eq!(granted, 0, "an import assumed the tenant-wide Entra grant");
    // As in Exchange, an access policy constrains a grant the app does not hold: it grants nothing.
    let snapshot = mailgate::policy::load(&pool).await.expect("snapshot");
    let app = mailgate::db::apps::find(&pool, LOGIC_APP).await.expect("find").expect("app");
    let d = mailgate::policy::decide(&snapshot, app.id, &app.name, "notifications@contoso.test");
    assert_eq!((d.access, d.rule), (mailgate::policy::Access::Denied, mailgate::policy::Rule::NoGrant));
    // With the grants, the same import records them.
    exchange_sync::import(&pool, &desired("bundle.json"), "import:bundle.json", true).await.expect("apply");
    let granted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM apps WHERE entra_mail_send").fetch_one(&pool).await.expect("count");
    assert_eq!(granted, 2);
}

#[sqlx::test]
async fn an_import_reports_the_apps_exchange_leaves_unscoped_and_they_stay_refused(pool: PgPool) {
    const RELAY: &str = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
    let new = |name, entra_app_id| mailgate::db::apps::NewApp { name, entra_app_id, ..Default::default() };
    let relay =
        mailgate::db::apps::create(&pool, &new("legacy-relay", Some(RELAY.parse().expect("guid")))).await.expect("app");
    mailgate::db::apps::create(&pool, &new("cron-job", None)).await.expect("app");
    let unrestricted = mailgate::db::apps::NewApp { unrestricted: true, ..new("old-relay", None) };
    mailgate::db::apps::create(&pool, &unrestricted).await.expect("app");
    // Entra holds the relay's tenant-wide grant, and no policy or assignment in Exchange names it.
    let mut bundle: Value = serde_json::from_str(&fixture("bundle.json")).expect("json");
    bundle["EntraMailSendGrants"].as_array_mut().expect("grants").push(json!(RELAY));
    let desired = exchange_sync::normalize(&exchange_sync::parse_bundle(bundle.to_string().as_bytes()).expect("parse"))
        .expect("norm");

    let report = exchange_sync::import(&pool, &desired, "import:bundle.json", false).await.expect("dry run");
    let r = serde_json::to_value(&report).expect("json");
    assert_eq!(
        r["unscoped_apps"],
        json!([
            {"name": "cron-job", "entra_app_id": null, "entra_mail_send": false, "unrestricted": false},
            {"name": "legacy-relay", "entra_app_id": RELAY, "entra_mail_send": true, "unrestricted": false},
            {"name": "old-relay", "entra_app_id": null, "entra_mail_send": false, "unrestricted": true},
        ]),
        "{report}"
    );
    let text = report.to_string();
    assert!(text.contains("unscoped apps: 3 (no access policy or role assignment of their own"), "{text}");
    assert!(
        text.contains(&format!(
            "  ! legacy-relay (Entra app id {RELAY}): holds the tenant-wide Entra Mail.Send grant, so Exchange lets it \
             send as every mailbox; mailgate refuses it"
        )),
        "{text}"
    );
    assert!(text.contains("  ! old-relay: marked unrestricted"), "{text}");

    exchange_sync::import(&pool, &desired, "import:bundle.json", true).await.expect("apply");
    let snapshot = mailgate::policy::load(&pool).await.expect("snapshot");
    for mailbox in ["notifications@contoso.test", "ceo@contoso.test"] {
        let d = mailgate::policy::decide(&snapshot, relay.id, &relay.name, mailbox);
        assert_eq!(d.rule, mailgate::policy::Rule::UnscopedApp, "{mailbox}: {}", d.reason);
    }
}

#[sqlx::test]
async fn apps_an_import_creates_belong_to_mailgates_tenant(pool: PgPool) {
    let db = database_url(&pool).await;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &db)
            .env("MAILGATE_ENTRA_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            .env("MAILGATE_ENTRA_AUDIENCES", "api://mailgate")
            .output()
            .expect("run mailgate");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["migrate"]);
    let path = format!("{}/tests/fixtures/exo/bundle.json", env!("CARGO_MANIFEST_DIR"));
    run(&["sync", "import", &path, "--apply"]);
    let tenants: Vec<Option<String>> = sqlx::query_scalar("SELECT entra_tenant_id::text FROM apps ORDER BY name")
        .fetch_all(&pool)
        .await
        .expect("apps");
    assert_eq!(tenants, vec![Some("72f988bf-86f1-41af-91ab-2d7cd011db47".to_owned()); 2]);
}
