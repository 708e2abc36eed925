//! The committed OpenAPI document must be the one the code generates.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = mailgate::routes::openapi::document_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{generated}\n")).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test)"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    for path in ["/v1/messages", "/v1/messages/{id}", "/healthz", "/readyz"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

/// What `/openapi.json` serves is the committed document, cross-field rules and refusals included: clients that
/// generate code from the served one get the same contract.
#[sqlx::test]
async fn the_served_document_is_the_committed_one(pool: sqlx::PgPool) {
    let app = crate::support::server::spawn().start(pool).await;
    let served: serde_json::Value =
        app.http.get(app.url("/openapi.json")).send().await.expect("get").json().await.expect("json");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    assert!(served == committed, "GET /openapi.json differs from openapi/openapi.json");
}
