//! The policy mirror over HTTP: both Exchange models, explained decisions, the change trail, drift, and
//! propagation of a change to another replica.

use std::time::Duration;

use graph_sim::{AccessRight, SimPolicy};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::client::Client;
use crate::support::seed::{ALLOWED, OUTSIDE, app_with_roles, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::{eventually, try_poll};

/// A client with the key of an app holding the Admin and Audit.Read roles.
async fn admin(app: &TestApp) -> Client {
    app.client_as(&app_with_roles(&app.pool, "platform-admin", &["Admin", "Audit.Read"]).await)
}

#[sqlx::test]
async fn rbac_and_access_policies_decide_together_and_explain_themselves(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    let entra_app = "6a4b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let (s, _) = admin.post("/v1/admin/apps", &json!({"name": "rbac-app", "entra_app_id": entra_app})).await;
    assert_eq!(s, 201);
    // Like the seed's Logic App, but scoped with RBAC, and with the tenant-wide grant removed.
    let (s, _) = admin.patch("/v1/admin/apps/rbac-app", &json!({"entra_mail_send": false})).await;
    assert_eq!(s, 200);
    let (s, body) = admin
        .put("/v1/admin/mailboxes/payroll@contoso.test", &json!({"recipient_type_details": "SharedMailbox", "properties": {"CustomAttribute1": "mailgate", "Department": "Finance"}}))
        .await;
    assert_eq!(s, 201, "{body}");
    admin.put("/v1/admin/mailboxes/ceo@contoso.test", &json!({"properties": {"Department": "Board"}})).await;
    assert_eq!(admin.access_test("rbac-app", "payroll@contoso.test").await["access_check_result"], "Denied");

    let (s, _) = admin.post("/v1/admin/service-principals", &json!({"app_id": entra_app, "object_id": "0f0e0d0c-0b0a-4909-8807-060504030201", "display_name": "rbac-app"})).await;
    assert_eq!(s, 201);
    let (s, body) = admin
        .post(
            "/v1/admin/scopes",
            &json!({"name": "mailgate-senders", "recipient_restriction_filter": "CustomAttribute1 -eq 'mailgate'"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = admin.post("/v1/admin/role-assignments", &json!({"name": "rbac-app-send", "app": entra_app, "role": "Application Mail.Send", "scope": "mailgate-senders"})).await;
    assert_eq!(s, 201, "{body}");
    admin
        .post(
            "/v1/admin/role-assignments",
            &json!({"name": "rbac-app-read", "app": entra_app, "role": "Application Mail.Read"}),
        )
        .await;

    let granted = admin.access_test("rbac-app", "payroll@contoso.test").await;
    assert_eq!(granted["access_check_result"], "Granted", "{granted}");
    assert_eq!(granted["decision"]["rule"], "rbac_assignment");
    let denied = admin.access_test("rbac-app", OUTSIDE).await;
    assert_eq!(denied["decision"]["rule"], "no_grant", "{denied}");
    let considered = denied["decision"]["considered"].as_array().expect("considered");
    let whys: Vec<&str> = considered.iter().map(|c| c["why"].as_str().unwrap_or("")).collect();
    assert!(whys.iter().any(|w| w.contains("does not allow sending")), "{whys:?}");
    assert!(whys.iter().any(|w| w.contains("outside scope mailgate-senders")), "{whys:?}");
    assert!(whys.iter().any(|w| w.contains("does not hold")), "{whys:?}");

    // The same decision reaches the send path (rbac-app has no key; issue one).
    let (_, key) = admin.post("/v1/admin/apps/rbac-app/keys", &json!({})).await;
    let key = key["key"].as_str().expect("key");
    let mut m = message("payroll@contoso.test");
    assert_eq!(app.post_message_as(key, &m).await.status(), 202);
    m["from"] = json!(OUTSIDE);
    assert_eq!(app.post_message_as(key, &m).await.status(), 403);
}

#[sqlx::test]
async fn the_mirror_refuses_what_exchange_refuses_and_changes_nothing(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    admin.put("/v1/admin/mailboxes/shared@contoso.test", &json!({"recipient_type_details": "SharedMailbox"})).await;
    admin.put("/v1/admin/mailboxes/room@contoso.test", &json!({"recipient_type_details": "RoomMailbox"})).await;
    let before = app.count("SELECT count(*) FROM change_events").await;
    let cases = [
        (
            "/v1/admin/policies",
            json!({"apps": ["logic-app"], "scope": "shared@contoso.test", "access_right": "RestrictAccess"}),
            "scope",
        ),
        (
            "/v1/admin/policies",
            json!({"apps": ["logic-app"], "scope": "room@contoso.test", "access_right": "DenyAccess"}),
            "scope",
        ),
        (
            "/v1/admin/policies",
            json!({"apps": ["logic-app"], "scope": "nobody@contoso.test", "access_right": "DenyAccess"}),
            "scope",
        ),
        (
            "/v1/admin/policies",
            json!({"apps": ["logic-app", "*"], "scope": "dl-graph-scope@contoso.test", "access_right": "DenyAccess"}),
            "apps",
        ),
        (
            "/v1/admin/policies",
            json!({"apps": ["ghost"], "scope": "dl-graph-scope@contoso.test", "access_right": "DenyAccess"}),
            "apps[0]",
        ),
        (
            "/v1/admin/policies",
            json!({"apps": ["*"], "scope": "dl-graph-scope@contoso.test", "access_right": "Restrict"}),
            "access_right",
        ),
        (
            "/v1/admin/scopes",
            json!({"name": "s", "recipient_restriction_filter": "Department = 'Finance'"}),
            "recipient_restriction_filter",
        ),
        (
            "/v1/admin/scopes",
            json!({"name": "s", "recipient_restriction_filter": "Departmnt -eq 'Finance'"}),
            "recipient_restriction_filter",
        ),
        (
            "/v1/admin/role-assignments",
            json!({"name": "a", "app": "6a4b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d", "role": "Application Mail.Send"}),
            "app",
        ),
        (
            "/v1/admin/service-principals",
            json!({"app_id": "nope", "object_id": "0f0e0d0c-0b0a-4909-8807-060504030201"}),
            "app_id",
        ),
        ("/v1/admin/groups/dl-graph-scope@contoso.test/members", json!({"member": "not a mailbox"}), "member"),
    ];
    for (path, body, field) in cases {
        let (s, problem) = admin.post(path, &body).await;
        assert_eq!(s, 422, "{path} {body}: {problem}");
        assert_eq!(problem["field"], field, "{path} {body}: {problem}");
    }
    let (_, problem) = admin
        .post("/v1/admin/scopes", &json!({"name": "s", "recipient_restriction_filter": "Department = 'Finance'"}))
        .await;
    assert!(problem["detail"].as_str().expect("detail").contains("position 11"), "{problem}");
    let (s, _) = admin.put("/v1/admin/mailboxes/x@contoso.test", &json!({"properties": {"MemberOfGroup": "g"}})).await;
    assert_eq!(s, 422);
    // A group that scopes a policy cannot be removed.
    let (s, _) = admin.delete("/v1/admin/groups/dl-graph-scope@contoso.test").await;
    assert_eq!(s, 409);
    assert_eq!(app.count("SELECT count(*) FROM change_events").await, before, "refusals change nothing");
}

#[sqlx::test]
async fn every_change_is_in_the_trail_with_who_before_and_after(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    let (_, policy) = admin.post("/v1/admin/policies", &json!({"apps": ["*"], "scope": "dl-graph-scope@contoso.test", "access_right": "DenyAccess", "description": "first"})).await;
    let id = policy["id"].as_str().expect("id");
    admin.patch(&format!("/v1/admin/policies/{id}"), &json!({"description": "second"})).await;
    admin.delete(&format!("/v1/admin/policies/{id}")).await;
    let (s, page) = admin.get("/v1/audit/changes?object_type=access_policies").await;
    assert_eq!(s, 200);
    let changes = page["changes"].as_array().expect("changes");
    let actions: Vec<&str> = changes.iter().take(3).map(|c| c["action"].as_str().unwrap_or("")).collect();
    assert_eq!(actions, ["delete", "update", "insert"]);
    assert!(changes.iter().take(3).all(|c| c["actor"] == "http:platform-admin"), "{changes:?}");
    assert_eq!(changes[1]["before"]["description"], "first");
    assert_eq!(changes[1]["after"]["description"], "second");
    assert!(changes[0]["after"].is_null());
    // Key digests never enter the trail.
    let (_, keys) = admin.get("/v1/audit/changes?object_type=api_keys").await;
    assert!(keys["changes"].as_array().expect("changes").iter().all(|c| c["after"].get("secret_hash").is_none()));
}

#[sqlx::test]
async fn drift_is_recorded_counted_listed_and_can_cool_down(pool: PgPool) {
    let app = spawn().env("MAILGATE_DRIFT_COOLDOWN_SECS", "600").start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let sim_app = graph_sim::SimConfig::default().app_id;
    app.sim.sim.set_policies(vec![SimPolicy {
        app_id: sim_app,
        access_right: AccessRight::DenyAccess,
        scope: vec![ALLOWED.into()],
    }]);
    let id = app.send(&message(ALLOWED)).await;
    assert_eq!(app.wait_final(&id).await["status"], "rejected");

    let r = app.http.get(app.url("/v1/access/drift")).bearer_auth(&auditor).send().await.expect("drift");
    let drift: Value = r.json().await.expect("json");
    assert_eq!(drift[0]["mailbox"], ALLOWED);
    assert_eq!(drift[0]["app_name"], "logic-app");
    assert_eq!(drift[0]["message_id"], id.as_str());
    assert_eq!(drift[0]["graph_code"], "ErrorAccessDenied");
    assert!(drift[0]["local_rule"].as_str().expect("why").contains("RestrictAccess"), "{drift}");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("m").text().await.expect("t");
    assert!(metrics.contains("mailgate_drift_total 1"), "{metrics}");

    // With a cool-down set, the pair is now denied locally, and says why.
    let body = message(ALLOWED);
    let r = eventually(403, || app.post_message(&body)).await;
    let status = r.status();
    let problem: Value = r.json().await.expect("json");
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["decision"]["rule"], "drift_cooldown");
}

#[sqlx::test]
async fn a_change_on_one_replica_decides_on_another_within_a_second(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    let other = app.replica();
    let send_via_other = || {
        app.http.post(format!("{}/v1/messages", other.base)).bearer_auth(&app.demo.key).json(&message(OUTSIDE)).send()
    };
    assert_eq!(send_via_other().await.expect("send").status(), 403);
    let (s, _) = admin.post("/v1/admin/groups/dl-graph-scope@contoso.test/members", &json!({"member": OUTSIDE})).await;
    assert_eq!(s, 204);
    // The second is the bound under test, so it is the deadline of the poll.
    let granted = || async { (send_via_other().await.expect("send").status() == 202).then_some(()) };
    if try_poll(Duration::from_secs(1), granted).await.is_none() {
        let status = send_via_other().await.expect("send").status();
        assert_eq!(status, 202, "the other replica still answers {status} after a second");
    }
}

#[sqlx::test]
async fn every_mirrored_object_can_be_read_changed_and_deleted(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    let entra_app = "6a4b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let patch = async |path: &'static str, body: Value| admin.patch(path, &body).await;

    let (s, group) =
        patch("/v1/admin/groups/dl-graph-scope@contoso.test", json!({"display_name": "DL Graph Scope"})).await;
    assert_eq!((s, group["display_name"].as_str()), (200, Some("DL Graph Scope")));

    admin
        .post(
            "/v1/admin/service-principals",
            &json!({"app_id": entra_app, "object_id": "0f0e0d0c-0b0a-4909-8807-060504030201"}),
        )
        .await;
    let (s, sp) = admin.get(&format!("/v1/admin/service-principals/{entra_app}")).await;
    assert_eq!((s, sp["object_id"].as_str()), (200, Some("0f0e0d0c-0b0a-4909-8807-060504030201")));

    admin
        .post(
            "/v1/admin/scopes",
            &json!({"name": "finance", "recipient_restriction_filter": "Department -eq 'Finance'"}),
        )
        .await;
    let (s, scope) = admin.get("/v1/admin/scopes/finance").await;
    assert_eq!((s, scope["recipient_filter"].as_str()), (200, Some("Department -eq 'Finance'")));

    let (s, _) = admin
        .post("/v1/admin/role-assignments", &json!({"name": "a1", "app": entra_app, "role": "Application Mail.Send"}))
        .await;
    assert_eq!(s, 201);
    // An organisation-wide assignment has no scope: listed and read with `scope: null`, not a 500.
    let (s, listed) = admin.get("/v1/admin/role-assignments").await;
    let a1 = listed.as_array().and_then(|l| l.iter().find(|a| a["name"] == "a1")).cloned();
    assert_eq!((s, a1.map(|a| a["scope"].clone())), (200, Some(json!(null))), "{listed}");
    let (s, a) = admin.get("/v1/admin/role-assignments/a1").await;
    assert_eq!((s, a["scope"].clone()), (200, json!(null)), "{a}");
    // A policy scoped to one mailbox has no group: the export reads it (and the org-wide assignment) all the same.
    admin.put("/v1/admin/mailboxes/ceo@contoso.test", &json!({"recipient_type_details": "UserMailbox"})).await;
    let (s, policy) = admin
        .post(
            "/v1/admin/policies",
            &json!({"apps": ["logic-app"], "scope": "ceo@contoso.test", "access_right": "DenyAccess"}),
        )
        .await;
    assert_eq!(s, 201, "{policy}");
    let (s, exported) = admin.get("/v1/admin/export").await;
    assert_eq!(s, 200, "{exported}");
    // Gone again: a directory that lists mailboxes would refuse the demo's unlisted one below.
    let policy_path = format!("/v1/admin/policies/{}", policy["id"].as_str().expect("policy id"));
    assert_eq!(admin.delete(&policy_path).await.0, 204);
    assert_eq!(admin.delete("/v1/admin/mailboxes/ceo@contoso.test").await.0, 204);
    let (s, moved) = patch("/v1/admin/role-assignments/a1", json!({"scope": "finance"})).await;
    assert_eq!((s, moved["scope"].as_str()), (200, Some("finance")));
    let (s, _) = patch("/v1/admin/role-assignments/a1", json!({"scope": "nowhere"})).await;
    assert_eq!(s, 422);
    let (s, a) = admin.get("/v1/admin/role-assignments/a1").await;
    assert_eq!((s, a["scope"].as_str()), (200, Some("finance")), "a refused change changes nothing");

    // An app that never sent can go; one that has sent stays for its audit trail.
    admin.post("/v1/admin/apps", &json!({"name": "short-lived"})).await;
    let (s, _) = admin.delete("/v1/admin/apps/short-lived").await;
    assert_eq!(s, 204);
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
    let (s, problem) = admin.delete("/v1/admin/apps/logic-app").await;
    assert_eq!(s, 409, "{problem}");
    let deletes =
        app.count("SELECT count(*) FROM change_events WHERE object_type = 'apps' AND action = 'delete'").await;
    assert_eq!(deletes, 1);
}

#[sqlx::test]
async fn a_directory_value_written_by_other_means_does_not_stop_decisions(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = admin(&app).await;
    admin.put("/v1/admin/mailboxes/ceo@contoso.test", &json!({"properties": {"Department": "Board"}})).await;
    // A directory that lists mailboxes refuses names it does not know, so the demo's mailbox is listed too.
    admin.put(&format!("/v1/admin/mailboxes/{ALLOWED}"), &json!({"recipient_type_details": "SharedMailbox"})).await;
    // The schema allows any JSON object; a number put there directly must not break reading the directory.
    sqlx::query("UPDATE recipients SET properties = '{\"CustomAttribute1\": 5}' WHERE address = 'ceo@contoso.test'")
        .execute(&app.pool)
        .await
        .expect("update");
    let (s, entry) = admin.get("/v1/admin/mailboxes/ceo@contoso.test").await;
    assert_eq!((s, entry["properties"]["CustomAttribute1"].as_str()), (200, Some("5")));
    assert_eq!(admin.access_test("logic-app", ALLOWED).await["access_check_result"], "Granted");
    assert_eq!(app.post_message(&message(ALLOWED)).await.status(), 202);
}
