//! The admin API for apps and keys: rotation, revocation, precise refusals that change nothing.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, app_with_roles, message};
use crate::support::server::spawn;

#[sqlx::test]
async fn apps_and_keys_rotate_over_http(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let post = |path: &str, body: Value| app.http.post(app.url(path)).bearer_auth(&admin).json(&body).send();

    // About keys, not scopes: the app may send as any mailbox (an admin's choice).
    let body =
        json!({"name": "billing-job", "entra_app_id": "6f1c1e3a-8d2b-4c61-9a0e-3f6b9b7d2a11", "unrestricted": true});
    let r = post("/v1/admin/apps", body).await.expect("create");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    assert_eq!(created["roles"], json!(["Mail.Send"]));
    assert_eq!(created["unrestricted"], true);
    assert_eq!(post("/v1/admin/apps", json!({"name": "billing-job"})).await.expect("dup").status(), 409);

    // Two live keys at once: rotation without downtime.
    let first: Value =
        post("/v1/admin/apps/billing-job/keys", json!({})).await.expect("key").json().await.expect("json");
    let second: Value =
        post("/v1/admin/apps/billing-job/keys", json!({})).await.expect("key").json().await.expect("json");
    let (k1, k2) = (first["key"].as_str().expect("k1"), second["key"].as_str().expect("k2"));
    assert_eq!(app.post_message_as(k1, &message(ALLOWED)).await.status(), 202);
    assert_eq!(app.post_message_as(k2, &message(ALLOWED)).await.status(), 202);

    let r = app
        .http
        .delete(app.url(&format!("/v1/admin/keys/{}", first["id"].as_str().expect("id"))))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 204);
    assert_eq!(app.post_message_as(k1, &message(ALLOWED)).await.status(), 401, "revoked at once");
    assert_eq!(app.post_message_as(k2, &message(ALLOWED)).await.status(), 202);

    let keys: Value = app
        .http
        .get(app.url("/v1/admin/apps/billing-job/keys"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let keys = keys.as_array().expect("array");
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k["revoked_at"].is_string()));
    assert!(keys.iter().any(|k| k["last_used_at"].is_string()), "last use is recorded: {keys:?}");
    assert!(!serde_json::to_string(keys).expect("json").contains(&k2[16..]), "secrets are never listed");

    let r = app
        .http
        .get(app.url("/v1/admin/apps/6f1c1e3a-8d2b-4c61-9a0e-3f6b9b7d2a11"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "apps are found by Entra app id too");
}

#[sqlx::test]
async fn bad_admin_input_is_refused_precisely_and_changes_nothing(pool: PgPool) {
    let app = spawn().start(pool).await;
    let admin = app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let before = app.count("SELECT count(*) FROM apps").await;
    let cases = [
        (json!({"name": "Bad Name"}), "name"),
        (json!({"name": "ok", "roles": ["Mail.Send", "Root"]}), "roles[1]"),
        (json!({"name": "ok", "entra_app_id": "not-a-guid"}), "entra_app_id"),
        (json!({"name": "ok", "colour": "blue"}), "colour"),
        (json!({}), "name"),
    ];
    for (body, field) in cases {
        let r = app.http.post(app.url("/v1/admin/apps")).bearer_auth(&admin).json(&body).send().await.expect("post");
        assert_eq!(r.status(), 422, "{body}");
        assert_eq!(r.json::<Value>().await.expect("json")["field"], field, "{body}");
    }
    let r = app
        .http
        .post(app.url("/v1/admin/apps/logic-app/keys"))
        .bearer_auth(&admin)
        .json(&json!({"expires_in_days": 0}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let r = app
        .http
        .post(app.url("/v1/admin/apps/ghost/keys"))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
    let r = app
        .http
        .delete(app.url("/v1/admin/keys/00000000-0000-0000-0000-000000000000"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 404);
    assert_eq!(app.count("SELECT count(*) FROM apps").await, before);
    assert_eq!(app.count("SELECT count(*) FROM api_keys").await, 2, "the demo key and the admin key only");
}
