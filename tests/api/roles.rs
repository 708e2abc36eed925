//! Every endpoint obeys the access its module declared: each role is refused wherever the declaration does not
//! allow it, and the OpenAPI document says the same.

use mailgate::auth::{ApiKey, Role};
use mailgate::db;
use mailgate::routes::access::Access;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, app_with_roles, message};
use crate::support::server::spawn;
use crate::support::wait::eventually;

fn concrete(path: &str) -> String {
    path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        .replace("{name}", "logic-app")
        .replace("{mailbox}", "notifications@contoso.test")
}

#[sqlx::test]
async fn every_endpoint_refuses_every_role_it_does_not_allow(pool: PgPool) {
    // One unauthenticated request per endpoint, all from loopback: more than the default failures a source may make.
    let app = spawn().env("MAILGATE_AUTH_FAILURES_PER_MINUTE", "1000").start(pool).await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        let name = format!("only-{}", role.as_str().to_lowercase().replace('.', "-"));
        keys.push((Some(role), app_with_roles(&app.pool, &name, &[role.as_str()]).await));
    }
    keys.push((None, app_with_roles(&app.pool, "no-roles", &[]).await));

    let mut checked = 0;
    for endpoint in mailgate::routes::api().endpoints() {
        let Access::AnyOf(allowed) = endpoint.access else { continue };
        let method = Method::from_bytes(endpoint.method.as_str().as_bytes()).expect("method");
        let url = app.url(&concrete(&endpoint.path));
        // Without a credential: always 401.
        let r = app.http.request(method.clone(), &url).send().await.expect("send");
        assert_eq!(r.status(), 401, "{} {} without credentials", endpoint.method, endpoint.path);
        for (role, key) in &keys {
            let r =
                app.http.request(method.clone(), &url).bearer_auth(key).json(&json!({})).send().await.expect("send");
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let permitted = role.is_some_and(|r| allowed.contains(&r));
            if permitted {
                assert!(
                    status != 401 && status != 403,
                    "{} {} refused {role:?}: {status} {body}",
                    endpoint.method,
                    endpoint.path
                );
            } else {
                assert_eq!(status, 403, "{} {} let {role:?} through: {body}", endpoint.method, endpoint.path);
                // The Graph-shaped endpoint answers in Graph's error shape, with mailgate's code inside.
                let (code, detail) = if endpoint.path.starts_with("/v1.0/") {
                    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
                    (&body["error"]["innerError"]["mailgateCode"], &body["error"]["innerError"]["mailgateDetail"])
                } else {
                    (&body["code"], &body["detail"])
                };
                assert_eq!(code, "missing_role");
                let detail = detail.as_str().expect("detail");
                assert!(allowed.iter().all(|r| detail.contains(r.as_str())), "{detail}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} combinations checked");
    let refused = app.count("SELECT count(*) FROM audit_events WHERE outcome = 'forbidden'").await;
    assert!(refused > 0, "refusals are audited");
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("mailgate_auth_failures_total{reason=\"missing_role\"}"), "{metrics}");
    assert!(metrics.contains("mailgate_auth_failures_total{reason=\"missing\"}"), "{metrics}");
}

/// Fail closed, as the document shows it: every operation in it was declared with its access, and says so.
#[test]
fn every_documented_operation_is_declared_and_says_who_may_call_it() {
    let doc: Value = serde_json::from_str(&mailgate::routes::openapi::document_json()).expect("json");
    let api = mailgate::routes::api();
    let declared = api.endpoints();
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            operations += 1;
            let rule = declared
                .iter()
                .find(|e| e.method.as_str().eq_ignore_ascii_case(method) && e.path == *path)
                .unwrap_or_else(|| panic!("{method} {path} is documented but its access is declared nowhere"));
            match rule.access {
                Access::Public => assert!(op.get("security").is_none(), "{method} {path}"),
                Access::AnyOf(roles) => {
                    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                    assert_eq!(op["security"][0]["api_key"], json!(names), "{method} {path}");
                    assert_eq!(op["security"][1]["entra"], json!(names), "{method} {path}");
                }
            }
        }
    }
    // And nothing is declared that the document leaves out.
    assert_eq!(operations, declared.len());
}

/// The routes left out of the document are declared public, and answer without a credential.
#[sqlx::test]
async fn the_routes_the_document_leaves_out_are_public(pool: PgPool) {
    let app = spawn().start(pool).await;
    for path in ["/openapi.json", "/metrics", "/ui", "/ui/app.js"] {
        let r = app.http.get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path}");
    }
    let undocumented = mailgate::routes::undocumented(Default::default());
    let paths: Vec<&str> = undocumented.endpoints().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/openapi.json", "/metrics", "/ui", "/ui/{file}"]);
    assert!(undocumented.endpoints().iter().all(|e| e.access == Access::Public));
}

#[sqlx::test]
async fn an_auditor_reads_any_message_and_a_sender_only_its_own(pool: PgPool) {
    let app = spawn().start(pool).await;
    let auditor = app_with_roles(&app.pool, "auditor", &["Audit.Read"]).await;
    let id = app.send(&message(ALLOWED)).await;
    let r = app.http.get(app.url(&format!("/v1/messages/{id}"))).bearer_auth(&auditor).send().await.expect("get");
    assert_eq!(r.status(), 200);
    // The auditor may not send.
    assert_eq!(app.post_message_as(&auditor, &message(ALLOWED)).await.status(), 403);
}

#[sqlx::test]
async fn a_key_limited_to_fewer_roles_than_its_app_gets_only_those(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "ops", &["Admin", "Audit.Read"]).await;
    let r = app
        .http
        .post(app.url("/v1/admin/apps/ops/keys"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["Audit.Read"], "expires_in_days": 30}))
        .send()
        .await
        .expect("issue");
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().await.expect("json");
    let limited = issued["key"].as_str().expect("key").to_owned();
    assert!(issued["expires_at"].is_string());
    assert_eq!(app.http.get(app.url("/v1/audit")).bearer_auth(&limited).send().await.expect("get").status(), 200);
    assert_eq!(app.http.get(app.url("/v1/admin/apps")).bearer_auth(&limited).send().await.expect("get").status(), 403);
    // A key cannot hold a role its app lacks.
    let r = app
        .http
        .post(app.url("/v1/admin/apps/ops/keys"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["Mail.Send"]}))
        .send()
        .await
        .expect("issue");
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.expect("json")["field"], "roles");
}

#[sqlx::test]
async fn a_key_loses_the_roles_its_app_loses(pool: PgPool) {
    let app = spawn().start(pool).await;
    let ops = db::apps::create(
        &app.pool,
        &db::apps::NewApp { name: "ops", roles: Some(vec!["Admin".into(), "Mail.Send".into()]), ..Default::default() },
    )
    .await
    .expect("app");
    let key = ApiKey::generate();
    db::keys::insert(&app.pool, ops.id, key.prefix(), &key.digest(), None, Some(&["Admin".to_owned()]))
        .await
        .expect("key");
    let list = || app.http.get(app.url("/v1/admin/apps")).bearer_auth(key.reveal()).send();
    assert_eq!(list().await.expect("get").status(), 200);

    // Changed behind the service's back, as the CLI or another replica would: every replica hears of it within a
    // second (its change notice empties their caches of callers).
    let roles = ["Mail.Send".to_owned()];
    db::apps::change(&app.pool, ops.id, &db::apps::Change { roles: Some(&roles), ..Default::default() })
        .await
        .expect("change");
    let r = eventually(403, || async { list().await.expect("get") }).await;
    assert_eq!(r.status(), 403, "a key issued with Admin kept it after its app lost Admin");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "missing_role");
    assert!(problem["detail"].as_str().expect("detail").ends_with("has none"), "{problem}");
    // Given back to the app, the role returns to the key: the key's own roles never changed.
    let roles = ["Admin".to_owned()];
    db::apps::change(&app.pool, ops.id, &db::apps::Change { roles: Some(&roles), ..Default::default() })
        .await
        .expect("change");
    assert_eq!(eventually(200, || async { list().await.expect("get") }).await.status(), 200);
}
