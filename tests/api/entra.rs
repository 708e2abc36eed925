//! Callers presenting Entra ID tokens, against a real JWKS served on loopback with keys made at test time.

use fake_entra::{PublicKeyEncoding, TestIssuer, unix_time};
use mailgate::db;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::support::seed::{ALLOWED, message};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::wait_until;

const AUDIENCE: &str = "api://mailgate";
const FUNC_APP: &str = "3b6f2f0e-5a8c-4d1e-9f7a-2c4b6d8e0a12";

async fn start(pool: PgPool) -> (TestApp, TestIssuer) {
    let issuer = TestIssuer::start().await;
    // These tests are about tokens: the app may send as any mailbox (no policy of its own scopes it). It is made
    // before the service starts, so that its first decision already knows it.
    let new = db::apps::NewApp {
        name: "func-app",
        entra_app_id: Some(Uuid::parse_str(FUNC_APP).expect("guid")),
        unrestricted: true,
        ..Default::default()
    };
    db::apps::create(&pool, &new).await.expect("app");
    let app = spawn()
        .env("MAILGATE_ENTRA_TENANT_ID", issuer.tenant_id())
        .env("MAILGATE_ENTRA_AUDIENCES", &format!("{AUDIENCE},11111111-2222-3333-4444-555555555555"))
        .env("MAILGATE_ENTRA_AUTHORITY_HOST", issuer.authority().as_str())
        .env("MAILGATE_ENTRA_MIN_REFETCH_SECS", "1")
        .start(pool)
        .await;
    (app, issuer)
}

async fn refused(app: &TestApp, token: &str, description: &str) {
    let r = app.post_message_as(token, &message(ALLOWED)).await;
    assert_eq!(r.status(), 401, "{description}");
    let challenge = r.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains(description), "wanted {description:?} in {challenge}");
    let signature = token.rsplit('.').next().unwrap_or(token);
    assert!(signature.len() < 8 || !challenge.contains(signature), "the token leaked into the challenge");
}

#[sqlx::test]
async fn v1_and_v2_tokens_map_to_the_registered_app(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    for claims in
        [issuer.v1_claims(FUNC_APP, AUDIENCE), issuer.v2_claims(FUNC_APP, "11111111-2222-3333-4444-555555555555")]
    {
        let token = issuer.sign(&claims);
        let id = app.client_as(&token).send(&message(ALLOWED)).await;
        let r = app.http.get(app.url(&format!("/v1/messages/{id}"))).bearer_auth(&token).send().await.expect("get");
        assert_eq!(r.status(), 200, "the token's app reads its own message");
    }
    let apps = app
        .count("SELECT count(DISTINCT app_name) FROM audit_events WHERE outcome = 'queued' AND app_name = 'func-app'")
        .await;
    assert_eq!(apps, 1, "audited as func-app");
    // The demo's API key cannot read func-app's messages.
    let by_key =
        app.count("SELECT count(*) FROM messages m JOIN apps a ON a.id = m.app_id WHERE a.name = 'func-app'").await;
    assert_eq!(by_key, 2);
}

#[sqlx::test]
async fn an_app_is_found_by_its_service_principal_object_id(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    let oid = Uuid::new_v4();
    let new = db::apps::NewApp { name: "by-oid", entra_object_id: Some(oid), unrestricted: true, ..Default::default() };
    db::apps::create(&app.pool, &new).await.expect("app");
    let mut claims = issuer.v2_claims(&Uuid::new_v4().to_string(), AUDIENCE);
    claims["oid"] = json!(oid.to_string());
    assert_eq!(app.post_message_as(&issuer.sign(&claims), &message(ALLOWED)).await.status(), 202);
}

#[sqlx::test]
async fn a_valid_token_from_an_unregistered_app_is_told_what_to_register(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    let stranger = "9d3c1b2a-0f4e-4a5b-8c6d-7e8f9a0b1c2d";
    let r = app.post_message_as(&issuer.sign(&issuer.v1_claims(stranger, AUDIENCE)), &message(ALLOWED)).await;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "unregistered_app");
    assert!(problem["detail"].as_str().expect("detail").contains(stranger), "{problem}");
}

#[sqlx::test]
async fn roles_come_from_the_token(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    grant(&app, &["Mail.Send", "Audit.Read"]).await;
    let mut claims = issuer.v2_claims(FUNC_APP, AUDIENCE);
    claims["roles"] = json!([]);
    let r = app.post_message_as(&issuer.sign(&claims), &message(ALLOWED)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], "missing_role");
    claims["roles"] = json!(["Audit.Read"]);
    let r = app.http.get(app.url("/v1/audit")).bearer_auth(issuer.sign(&claims)).send().await.expect("get");
    assert_eq!(r.status(), 200);
}

/// Sets func-app's roles in mailgate.
async fn grant(app: &TestApp, roles: &[&str]) {
    let func = db::apps::find(&app.pool, "func-app").await.expect("find").expect("func-app");
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let change = db::apps::Change { roles: Some(&roles), ..Default::default() };
    db::apps::change(&app.pool, func.id, &change).await.expect("change");
}

#[sqlx::test]
async fn the_apps_roles_in_mailgate_bound_the_tokens_roles(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    // Entra grants Admin, but mailgate registered func-app for Mail.Send only.
    let mut claims = issuer.v2_claims(FUNC_APP, AUDIENCE);
    claims["roles"] = json!(["Mail.Send", "Admin"]);
    let token = issuer.sign(&claims);
    let r = app.http.get(app.url("/v1/admin/apps")).bearer_auth(&token).send().await.expect("get");
    assert_eq!(r.status(), 403, "a token's Admin role went past its app's roles");
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["code"], "missing_role");
    assert!(problem["detail"].as_str().expect("detail").ends_with("has Mail.Send"), "{problem}");
    assert_eq!(app.post_message_as(&token, &message(ALLOWED)).await.status(), 202);
    // Granted here too, the role holds; the app's roles alone grant nothing the token lacks.
    grant(&app, &["Mail.Send", "Admin", "Audit.Read"]).await;
    let admin = || async { app.http.get(app.url("/v1/admin/apps")).bearer_auth(&token).send().await.expect("get") };
    assert_eq!(crate::support::wait::eventually(200, admin).await.status(), 200);
    let r = app.http.get(app.url("/v1/audit")).bearer_auth(&token).send().await.expect("get");
    assert_eq!(r.status(), 403);
}

#[sqlx::test]
async fn a_delegated_token_for_a_registered_app_is_refused(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    let mut claims = issuer.v2_claims(FUNC_APP, AUDIENCE);
    claims["scp"] = json!("Mail.Send");
    claims["idtyp"] = json!("user");
    refused(&app, &issuer.sign(&claims), "only app-only tokens").await;
    let mut claims = issuer.v1_claims(FUNC_APP, AUDIENCE);
    claims["idtyp"] = json!("user");
    refused(&app, &issuer.sign(&claims), "idtyp").await;
    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    assert!(metrics.contains("mailgate_auth_failures_total{reason=\"delegated_token\"} 2"), "{metrics}");
}

#[sqlx::test]
async fn an_object_id_speaks_for_its_app_only_in_its_own_tenant(pool: PgPool) {
    let issuer = TestIssuer::start().await;
    let home = issuer.tenant_id().to_owned();
    let partner = Uuid::new_v4().to_string();
    let app = spawn()
        .env("MAILGATE_ENTRA_TENANT_ID", &home)
        .env("MAILGATE_ENTRA_ALLOWED_TENANTS", &format!("{home},{partner}"))
        .env("MAILGATE_ENTRA_AUDIENCES", AUDIENCE)
        .env("MAILGATE_ENTRA_AUTHORITY_HOST", issuer.authority().as_str())
        .env("MAILGATE_ENTRA_MIN_REFETCH_SECS", "1")
        .start(pool)
        .await;
    wait_until("the signing keys are fetched", std::time::Duration::from_secs(10), || async {
        let ready: Value = app.http.get(app.url("/readyz")).send().await.expect("get").json().await.expect("json");
        ready["entra_keys"].as_str().is_some_and(|k| k.starts_with("ok"))
    })
    .await;
    let (home_oid, partner_oid) = (Uuid::new_v4(), Uuid::new_v4());
    // One app registered by object id alone (so in the home tenant), one registered with the partner tenant.
    let by_oid =
        db::apps::NewApp { name: "by-oid", entra_object_id: Some(home_oid), unrestricted: true, ..Default::default() };
    db::apps::create(&app.pool, &by_oid).await.expect("app");
    let partner_app = db::apps::NewApp {
        name: "partner-app",
        entra_tenant_id: Some(Uuid::parse_str(&partner).expect("guid")),
        entra_object_id: Some(partner_oid),
        unrestricted: true,
        ..Default::default()
    };
    db::apps::create(&app.pool, &partner_app).await.expect("app");
    let token = |tenant: &str, oid: Uuid| {
        let mut claims = issuer.v2_claims(&Uuid::new_v4().to_string(), AUDIENCE);
        claims["tid"] = json!(tenant);
        claims["iss"] = json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
        claims["oid"] = json!(oid.to_string());
        issuer.sign(&claims)
    };
    let app = &app;
    let send = |token: String| async move { app.post_message_as(&token, &message(ALLOWED)).await.status().as_u16() };
    assert_eq!(send(token(&home, home_oid)).await, 202);
    assert_eq!(send(token(&partner, home_oid)).await, 403, "the home tenant's object id matched a partner's token");
    assert_eq!(send(token(&partner, partner_oid)).await, 202);
    assert_eq!(send(token(&home, partner_oid)).await, 403, "the partner's object id matched a home token");
}

#[sqlx::test]
async fn an_app_id_speaks_for_its_app_only_in_its_own_tenant(pool: PgPool) {
    let issuer = TestIssuer::start().await;
    let home = issuer.tenant_id().to_owned();
    let partner = Uuid::new_v4().to_string();
    let app = spawn()
        .env("MAILGATE_ENTRA_TENANT_ID", &home)
        .env("MAILGATE_ENTRA_ALLOWED_TENANTS", &format!("{home},{partner}"))
        .env("MAILGATE_ENTRA_AUDIENCES", AUDIENCE)
        .env("MAILGATE_ENTRA_AUTHORITY_HOST", issuer.authority().as_str())
        .env("MAILGATE_ENTRA_MIN_REFETCH_SECS", "1")
        .start(pool)
        .await;
    wait_until("the signing keys are fetched", std::time::Duration::from_secs(10), || async {
        let ready: Value = app.http.get(app.url("/readyz")).send().await.expect("get").json().await.expect("json");
        ready["entra_keys"].as_str().is_some_and(|k| k.starts_with("ok"))
    })
    .await;
    let (registered, legacy, partners) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // Registered through the admin API without a tenant: it is recorded as mailgate's own.
    let admin = crate::support::seed::app_with_roles(&app.pool, "platform-admin", &["Admin"]).await;
    let body = json!({"name": "registered", "entra_app_id": registered, "unrestricted": true});
    let r = app.http.post(app.url("/v1/admin/apps")).bearer_auth(&admin).json(&body).send().await.expect("post");
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.expect("app")["entra_tenant_id"], json!(home));
    // Registered before tenants were recorded (none stored): taken to be mailgate's own tenant.
    let old = db::apps::NewApp { name: "legacy", entra_app_id: Some(legacy), unrestricted: true, ..Default::default() };
    db::apps::create(&app.pool, &old).await.expect("app");
    let partner_app = db::apps::NewApp {
        name: "partners",
        entra_app_id: Some(partners),
        entra_tenant_id: Some(Uuid::parse_str(&partner).expect("guid")),
        unrestricted: true,
        ..Default::default()
    };
    db::apps::create(&app.pool, &partner_app).await.expect("app");

    let token = |tenant: &str, app_id: Uuid| {
        let mut claims = issuer.v2_claims(&app_id.to_string(), AUDIENCE);
        claims["tid"] = json!(tenant);
        claims["iss"] = json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
        issuer.sign(&claims)
    };
    let app = &app;
    let send = |token: String| async move { app.post_message_as(&token, &message(ALLOWED)).await.status().as_u16() };
    for id in [registered, legacy] {
        assert_eq!(send(token(&home, id)).await, 202, "{id} from its own tenant");
        assert_eq!(send(token(&partner, id)).await, 403, "{id}: another allowed tenant's token spoke for it");
    }
    assert_eq!(send(token(&partner, partners)).await, 202);
    assert_eq!(send(token(&home, partners)).await, 403, "a home token spoke for the partner's app");
}

#[sqlx::test]
async fn bad_tokens_are_refused_with_a_precise_description(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    let good = || issuer.v1_claims(FUNC_APP, AUDIENCE);

    let mut expired = good();
    expired["exp"] = json!(unix_time(-3600));
    refused(&app, &issuer.sign(&expired), "expired").await;

    let mut early = good();
    early["nbf"] = json!(unix_time(3600));
    refused(&app, &issuer.sign(&early), "not valid yet").await;

    refused(&app, &issuer.sign(&issuer.v1_claims(FUNC_APP, "api://someone-else")), "audience").await;

    let mut wrong_issuer = issuer.v2_claims(FUNC_APP, AUDIENCE);
    wrong_issuer["iss"] = json!(format!("https://sts.windows.net/{}/", issuer.tenant_id()));
    refused(&app, &issuer.sign(&wrong_issuer), "issuer").await;

    let mut other_tenant = good();
    let tid = Uuid::new_v4().to_string();
    other_tenant["tid"] = json!(tid);
    other_tenant["iss"] = json!(format!("https://sts.windows.net/{tid}/"));
    refused(&app, &issuer.sign(&other_tenant), "tenant").await;

    refused(&app, &TestIssuer::tamper(&issuer.sign(&good())), "signature").await;
    refused(&app, &issuer.alg_none(&good()), "none").await;
    refused(&app, &issuer.hs256_with_public_key(&good(), PublicKeyEncoding::Pem), "HS256").await;
    refused(&app, &issuer.hs256_with_public_key(&good(), PublicKeyEncoding::Der), "HS256").await;

    assert_eq!(app.count("SELECT count(*) FROM messages").await, 0);
    let metrics = app.http.get(app.url("/metrics")).send().await.expect("get").text().await.expect("text");
    for reason in ["expired", "wrong_audience", "wrong_tenant", "bad_signature", "unsupported_algorithm"] {
        assert!(
            metrics.contains(&format!("mailgate_auth_failures_total{{reason=\"{reason}\"}}")),
            "{reason}: {metrics}"
        );
    }
    assert!(app.count("SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated'").await >= 9);
}

#[sqlx::test]
async fn a_rotated_signing_key_is_picked_up_without_restart(pool: PgPool) {
    let (app, issuer) = start(pool).await;
    assert_eq!(
        app.post_message_as(&issuer.sign(&issuer.v1_claims(FUNC_APP, AUDIENCE)), &message(ALLOWED)).await.status(),
        202
    );
    issuer.rotate();
    // The new kid is unknown to mailgate until it refetches; refetches are rate-limited to once a second here. That
    // window is under test, and polling through it would spend the failed-auth budget: the test lets it pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = app.post_message_as(&issuer.sign(&issuer.v1_claims(FUNC_APP, AUDIENCE)), &message(ALLOWED)).await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    let ready: Value = app.http.get(app.url("/readyz")).send().await.expect("get").json().await.expect("json");
    assert!(ready["entra_keys"].as_str().expect("keys").starts_with("ok"), "{ready}");
}
