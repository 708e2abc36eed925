//! One identity per mailbox: every name of a mailbox — primary and proxy addresses in any case, user principal
//! name, object id — decides, limits, audits and reaches Graph as the same mailbox; a name the directory does not
//! know is refused when the directory lists mailboxes.

use mailgate::auth::ApiKey;
use mailgate::db;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::seed::{app_with_roles, message};
use crate::support::server::{TestApp, spawn};

/// The app that a DenyAccess policy on dl-executives keeps from the executives (tests/fixtures/exo/bundle.json).
const BILLING: &str = "6f1c1e3a-8d2b-4c61-9a0e-3f6b9b7d2a11";
/// The seed's Logic App, restricted to DL-Graph-Scope, which holds the notifications mailbox.
const LOGIC_APP: &str = "7a1e6b2c-9f3d-4e5a-8b6c-0d1e2f3a4b5c";
const CEO_OID: &str = "4a6b8c0d-2e3f-4a5b-9c6d-7e8f9a0b1c2d";

/// Imports the Exchange fixture, then returns a key for the app with this Entra app id.
async fn import_and_key(app: &TestApp, entra_app_id: &str) -> String {
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let bundle = std::fs::read_to_string(format!("{}/tests/fixtures/exo/bundle.json", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture");
    let bundle: Value = serde_json::from_str(&bundle).expect("json");
    let r = app
        .http
        .post(app.url("/v1/admin/import?apply=true"))
        .bearer_auth(&admin)
        .json(&bundle)
        .send()
        .await
        .expect("import");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    key_for(&app.pool, entra_app_id).await
}

async fn key_for(pool: &PgPool, entra_app_id: &str) -> String {
    let id: Uuid = sqlx::query_scalar("SELECT id FROM apps WHERE entra_app_id = $1")
        .bind(Uuid::parse_str(entra_app_id).expect("guid"))
        .fetch_one(pool)
        .await
        .expect("imported app");
    let key = ApiKey::generate();
    db::keys::insert(pool, id, key.prefix(), &key.digest(), None, None).await.expect("key");
    key.reveal().to_owned()
}

async fn refusal(app: &TestApp, key: &str, from: &str) -> (u16, Value) {
    let r = app.post_message_as(key, &message(from)).await;
    let status = r.status().as_u16();
    (status, r.json().await.expect("problem"))
}

#[sqlx::test]
async fn every_name_of_a_denied_mailbox_is_denied(pool: PgPool) {
    let app = spawn().start(pool).await;
    let billing = import_and_key(&app, BILLING).await;
    for name in [
        "ceo@contoso.test",
        "MeganB@contoso.onmicrosoft.com",
        "MEGANB@CONTOSO.ONMICROSOFT.COM",
        "megan.bowen@contoso.onmicrosoft.com",
        CEO_OID,
        &CEO_OID.to_uppercase(),
        &format!("{{{CEO_OID}}}"),
        " ceo@contoso.test\t",
    ] {
        let (status, body) = refusal(&app, &billing, name).await;
        assert_eq!(status, 403, "{name}: {body}");
        assert_eq!(body["code"], "policy_denied", "{name}: {body}");
        assert_eq!(body["decision"]["rule"], "deny_access_in_scope", "{name}: {body}");
        assert_eq!(body["decision"]["mailbox"], "ceo@contoso.test", "{name}: {body}");
    }
    // Recorded under the one mailbox, never under the caller's spelling; nothing reached Graph.
    let spellings = app.count("SELECT count(DISTINCT mailbox) FROM messages").await;
    assert_eq!(spellings, 1);
    assert_eq!(app.count("SELECT count(*) FROM audit_events WHERE mailbox <> 'ceo@contoso.test'").await, 0);
    assert!(app.sim.sim.received().is_empty());
}

#[sqlx::test]
async fn an_address_the_directory_does_not_know_is_refused(pool: PgPool) {
    let app = spawn().start(pool).await;
    let billing = import_and_key(&app, BILLING).await;
    let (status, body) = refusal(&app, &billing, "nobody@contoso.test").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "unknown_mailbox", "{body}");
    assert_eq!(body["decision"]["rule"], "unknown_mailbox", "{body}");
    assert!(body["detail"].as_str().expect("detail").contains("MAILGATE_ALLOW_UNKNOWN_MAILBOXES"), "{body}");
    assert_eq!(app.count("SELECT count(*) FROM messages WHERE status = 'queued'").await, 0);
    assert!(app.sim.sim.received().is_empty());
    // A known mailbox outside the DenyAccess scope still sends.
    let r = app.post_message_as(&billing, &message("Billing@contoso.onmicrosoft.com")).await;
    assert_eq!(r.status(), 202);
}

#[sqlx::test]
async fn unknown_addresses_can_be_allowed_but_never_past_a_deny_scope(pool: PgPool) {
    let app = spawn().env("MAILGATE_ALLOW_UNKNOWN_MAILBOXES", "true").start(pool).await;
    let admin = app_with_roles(&app.pool, "mailbox-admin", &["Admin"]).await;
    let r = app
        .http
        .put(app.url("/v1/admin/mailboxes/someone@contoso.test"))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    // The directory lists a mailbox but not the demo's; allowed, the demo's RestrictAccess group decides.
    let r = app.post_message(&message("Notifications@Contoso.test")).await;
    assert_eq!(r.status(), 202);
    let view: Value = r.json().await.expect("view");
    assert_eq!(view["from"], "notifications@contoso.test");
    // An unknown name is never granted for lying outside a DenyAccess scope: it may be an alias of a mailbox inside.
    let billing = import_and_key(&app, BILLING).await;
    let (status, body) = refusal(&app, &billing, "nobody@contoso.test").await;
    assert_eq!((status, body["code"].as_str()), (403, Some("unknown_mailbox")), "{body}");
    let (status, _) = refusal(&app, &billing, "MeganB@contoso.onmicrosoft.com").await;
    assert_eq!(status, 403);
}

#[sqlx::test]
async fn without_a_directory_an_alias_cannot_pass_a_deny_scope(pool: PgPool) {
    // The seed article's setup, no import: a DenyAccess group lists the CEO by primary address only.
    let app = spawn().start(pool).await;
    let key = app_with_roles(&app.pool, "deny-app", &["Mail.Send"]).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let post = |path: &str, body: Value| app.http.post(app.url(path)).bearer_auth(&admin).json(&body).send();
    assert_eq!(post("/v1/admin/groups", json!({"address": "exec@contoso.test"})).await.expect("group").status(), 201);
    let r = post("/v1/admin/groups/exec@contoso.test/members", json!({"member": "ceo@contoso.test"})).await;
    assert!(r.expect("member").status().is_success());
    let policy = json!({"apps": ["deny-app"], "scope": "exec@contoso.test", "access_right": "DenyAccess"});
    let r = post("/v1/admin/policies", policy).await.expect("policy");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    for name in ["ceo@contoso.test", "Megan.Bowen@contoso.onmicrosoft.com", CEO_OID] {
        let (status, body) = refusal(&app, &key, name).await;
        assert_eq!(status, 403, "{name}: {body}");
    }
    // The demo's RestrictAccess group and its member still work without a directory.
    assert_eq!(app.post_message(&message(crate::support::seed::ALLOWED)).await.status(), 202);
    assert!(app.sim.sim.received().iter().all(|r| r.mailbox == crate::support::seed::ALLOWED));
}

#[sqlx::test]
async fn a_proxy_address_sends_as_the_primary_mailbox(pool: PgPool) {
    let app = spawn().start(pool).await;
    let logic_app = import_and_key(&app, LOGIC_APP).await;
    let r = app.post_message_as(&logic_app, &message("LogicAppNotifications@CONTOSO.onmicrosoft.com")).await;
    assert_eq!(r.status(), 202);
    let view: Value = r.json().await.expect("view");
    assert_eq!(view["from"], "notifications@contoso.test");
    let id = view["id"].as_str().expect("id").to_owned();
    app.wait_settled(std::time::Duration::from_secs(30)).await;
    assert_eq!(app.statuses().await.get(&id).map(String::as_str), Some("sent"));
    // Graph was called with the primary address, not the caller's spelling.
    let received = app.sim.sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mailbox, "notifications@contoso.test");
    let audited: Vec<String> = sqlx::query_scalar("SELECT DISTINCT mailbox FROM audit_events WHERE message_id = $1")
        .bind(Uuid::parse_str(&id).expect("id"))
        .fetch_all(&app.pool)
        .await
        .expect("audit");
    assert_eq!(audited, ["notifications@contoso.test"]);
    // The audit log answers to any name of the mailbox.
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let page: Value = app
        .http
        .get(app.url("/v1/audit?mailbox=LOGICAPPNOTIFICATIONS@contoso.onmicrosoft.com"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    let events = page["events"].as_array().expect("events");
    assert!(events.len() >= 2, "{page}");
    assert!(events.iter().all(|e| e["mailbox"] == "notifications@contoso.test"), "{page}");
}

#[sqlx::test]
async fn the_graph_endpoint_resolves_its_path_mailbox_too(pool: PgPool) {
    let app = spawn().start(pool).await;
    let billing = import_and_key(&app, BILLING).await;
    let body = json!({"message": {"subject": "s", "body": {"contentType": "Text", "content": "t"},
        "toRecipients": [{"emailAddress": {"address": "someone@example.com"}}]}});
    for path in ["MeganB@contoso.onmicrosoft.com", "Megan.Bowen%40contoso.onmicrosoft.com", CEO_OID] {
        let r = app
            .http
            .post(app.url(&format!("/v1.0/users/{path}/sendMail")))
            .bearer_auth(&billing)
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 403, "{path}");
        let err: Value = r.json().await.expect("json");
        assert_eq!(err["error"]["code"], "ErrorAccessDenied", "{path}: {err}");
    }
    // A `from` naming the CEO by an alias, on an allowed path: refused, and recorded under the CEO's primary address.
    let mut as_ceo = body.clone();
    as_ceo["message"]["from"] = json!({"emailAddress": {"address": "MeganB@contoso.onmicrosoft.com"}});
    let r = app
        .http
        .post(app.url("/v1.0/users/billing@contoso.test/sendMail"))
        .bearer_auth(&billing)
        .json(&as_ceo)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    let recorded = app.count("SELECT count(*) FROM audit_events WHERE mailbox = 'ceo@contoso.test'").await;
    assert_eq!(recorded, 4, "three path refusals and the `from` refusal, all under the primary address");
    assert!(app.sim.sim.received().is_empty());
}

#[sqlx::test]
async fn the_admin_api_knows_every_name_and_refuses_one_name_on_two_mailboxes(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let put = |address: &str, body: Value| {
        app.http.put(app.url(&format!("/v1/admin/mailboxes/{address}"))).bearer_auth(&admin).json(&body).send()
    };
    let oid = "11111111-2222-4333-8444-555555555555";
    let r = put(
        "jane@contoso.test",
        json!({"object_id": oid, "user_principal_name": "Jane.Doe@contoso.onmicrosoft.com",
               "email_addresses": ["SMTP:jane@contoso.test", "smtp:J.Doe@Contoso.test", "X500:/o=x/cn=jane"]}),
    )
    .await
    .expect("put");
    assert_eq!(r.status(), 201);
    for name in ["j.doe@contoso.test", "JANE.DOE@contoso.onmicrosoft.com", oid, "Jane@Contoso.test"] {
        let r = app
            .http
            .get(app.url(&format!("/v1/admin/mailboxes/{name}")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{name}");
        let row: Value = r.json().await.expect("json");
        assert_eq!(row["address"], "jane@contoso.test", "{name}");
    }
    // Another mailbox claiming Jane's alias or UPN is refused, and nothing changes.
    for claim in [
        json!({"email_addresses": ["SMTP:john@contoso.test", "smtp:j.doe@contoso.test"]}),
        json!({"user_principal_name": "jane.doe@contoso.onmicrosoft.com"}),
    ] {
        let r = put("john@contoso.test", claim.clone()).await.expect("put");
        assert_eq!(r.status(), 409, "{claim}");
    }
    assert_eq!(app.count("SELECT count(*) FROM recipients WHERE address = 'john@contoso.test'").await, 0);
    // The demo app's policy names the notifications mailbox; a directory that lists mailboxes now refuses others.
    let (status, body) = refusal(&app, &app.demo.key, "someone-else@contoso.test").await;
    assert_eq!((status, body["code"].as_str()), (403, Some("unknown_mailbox")), "{body}");
}
