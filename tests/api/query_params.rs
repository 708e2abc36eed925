//! Query strings are read strictly on every API operation: a parameter the operation does not declare, or a value
//! its type does not allow, is refused with 422 naming the parameter, and nothing happens.

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, SCOPE_GROUP, app_with_roles};
use crate::support::server::{TestApp, spawn};

const NIL: &str = "00000000-0000-0000-0000-000000000000";

/// A path of the document with its parameters filled in with names that exist, so that a request the layer let
/// through would really change something.
fn filled(template: &str, policy_id: &str) -> String {
    template
        .replace("{name}", "logic-app")
        .replace("{mailbox}", ALLOWED)
        .replace("{address}", SCOPE_GROUP)
        .replace("{member}", ALLOWED)
        .replace("{id}", if template.starts_with("/v1/admin/policies/") { policy_id } else { NIL })
}

async fn state(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT count(*) FROM apps WHERE name = 'logic-app'",
        "SELECT count(*) FROM access_policies",
        "SELECT count(*) FROM group_members",
        "SELECT count(*) FROM messages",
        "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL",
    ] {
        out.push(app.count(sql).await);
    }
    out
}

#[sqlx::test]
async fn every_api_operation_refuses_a_parameter_it_does_not_declare(pool: PgPool) {
    let app = spawn().start(pool).await;
    let key = app_with_roles(&app.pool, "operator", &["Mail.Send", "Audit.Read", "Admin"]).await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("get").json().await.expect("json");
    let before = state(&app).await;
    let policy_id = app.demo.policy_id.to_string();
    let mut tried = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !template.starts_with("/v1") {
            continue;
        }
        for (method, _) in item.as_object().expect("item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let url = format!("{}?not_a_parameter=1", app.url(&filled(template, &policy_id)));
            let r = app.http.request(method.clone(), &url).bearer_auth(&key).send().await.expect("send");
            let status = r.status().as_u16();
            let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned());
            let body: Value = r.json().await.unwrap_or_default();
            let what = format!("{method} {template}: {status} {body}");
            if template.starts_with("/v1.0/") {
                assert_eq!(status, 400, "{what}");
                assert_eq!(body["error"]["code"], "BadRequest", "{what}");
                assert_eq!(body["error"]["innerError"]["mailgateField"], "not_a_parameter", "{what}");
            } else {
                assert_eq!(status, 422, "{what}");
                assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{what}");
                assert_eq!((&body["code"], &body["field"]), (&"invalid_field".into(), &"not_a_parameter".into()));
                assert!(body["detail"].as_str().expect("detail").contains("`not_a_parameter`"), "{what}");
            }
            tried += 1;
        }
    }
    assert!(tried >= 50, "only {tried} operations in the document");
    assert_eq!(state(&app).await, before, "a refused request changed something");
    // What the operation does declare still works.
    let r = app.http.get(app.url("/v1/audit?limit=5")).bearer_auth(&key).send().await.expect("send");
    assert_eq!(r.status(), 200);
}

async fn refused(app: &TestApp, key: &str, method: Method, path_and_query: &str) -> Value {
    let r = app.http.request(method, app.url(path_and_query)).bearer_auth(key).send().await.expect("send");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or_default();
    assert_eq!(status, 422, "{path_and_query}: {body}");
    assert_eq!(body["code"], "invalid_field", "{path_and_query}: {body}");
    body
}

#[sqlx::test]
async fn a_value_its_type_does_not_allow_is_refused_naming_the_parameter(pool: PgPool) {
    let app = spawn().start(pool).await;
    let key = app_with_roles(&app.pool, "operator", &["Audit.Read", "Admin"]).await;
    for (path_and_query, field) in [
        ("/v1/audit?limit=ten", "limit"),
        ("/v1/audit?limit=", "limit"),
        ("/v1/audit?limit=5&limit=6", "limit"),
        ("/v1/audit?app=a&app=b", "app"),
        ("/v1/audit?app=%00", "app"),
        ("/v1/audit?app=%FF%FE", "app"),
        ("/v1/audit/stats?since=yesterday", "since"),
        ("/v1/audit/changes?limit=1e3", "limit"),
        ("/v1/audit/timeseries?outcome=sent&outcome=denied", "outcome"),
        ("/v1/access/drift?limit=-", "limit"),
    ] {
        let body = refused(&app, &key, Method::GET, path_and_query).await;
        assert_eq!(body["field"], field, "{path_and_query}: {body}");
        assert!(body["detail"].as_str().expect("detail").contains(&format!("`{field}`")), "{body}");
    }
}

#[sqlx::test]
async fn import_applies_only_on_apply_true_and_refuses_any_other_value(pool: PgPool) {
    let app = spawn().start(pool).await;
    let key = app_with_roles(&app.pool, "operator", &["Admin"]).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/exo/bundle.json");
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    // The document says where `apply` goes, so generated clients and the contract test send it there.
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("get").json().await.expect("json");
    let params = &doc["paths"]["/v1/admin/import"]["post"]["parameters"];
    assert_eq!((&params[0]["name"], &params[0]["in"]), (&"apply".into(), &"query".into()), "{params}");

    let import = |query: &str| {
        app.http.post(app.url(&format!("/v1/admin/import{query}"))).bearer_auth(&key).json(&bundle).send()
    };
    let before = state(&app).await;
    for query in ["?apply=yes", "?apply=1", "?apply=TRUE", "?apply", "?apply=true&apply=true", "?apply=false&x=1"] {
        let r = import(query).await.expect("post");
        let status = r.status().as_u16();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 422, "{query}: {body}");
        let want = if query.ends_with("x=1") { "x" } else { "apply" };
        assert_eq!(body["field"], want, "{query}: {body}");
    }
    assert_eq!(state(&app).await, before);
    let dry: Value = import("?apply=false").await.expect("post").json().await.expect("json");
    assert_eq!(dry["applied"], false, "{dry}");
    assert_eq!(state(&app).await, before);
    let applied: Value = import("?apply=true").await.expect("post").json().await.expect("json");
    assert_eq!(applied["applied"], true, "{applied}");
    assert_ne!(state(&app).await, before, "the demo's local policy is not in the bundle");
}
