//! The fake tenant's HTTP endpoints: OpenID metadata and JWKS.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::keys::TestKey;

/// State shared by the issuer handle and the server.
pub(super) struct Shared {
    pub tenant_id: String,
    pub base_url: String,
    pub published: Mutex<Vec<Arc<TestKey>>>,
    pub current: Mutex<Arc<TestKey>>,
    pub available: AtomicBool,
    pub jwks_requests: AtomicUsize,
    pub metadata_requests: AtomicUsize,
}

/// `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/discovery/v2.0/keys`.
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", axum::routing::get(metadata))
        .route("/{tenant}/discovery/v2.0/keys", axum::routing::get(jwks))
        .with_state(shared)
}

async fn metadata(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    shared.metadata_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = refuse(&shared, &tenant) {
        return refusal;
    }
    let base = &shared.base_url;
    Json(json!({
        "issuer": format!("https://login.microsoftonline.com/{tenant}/v2.0"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = refuse(&shared, &tenant) {
        return refusal;
    }
    let keys: Vec<Value> = shared.published.lock().expect("lock").iter().map(|k| k.jwk()).collect();
    Json(json!({ "keys": keys })).into_response()
}

fn refuse(shared: &Shared, tenant: &str) -> Option<Response> {
    if !shared.available.load(Ordering::SeqCst) {
        Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
    } else if tenant != shared.tenant_id {
        Some(StatusCode::NOT_FOUND.into_response())
    } else {
        None
    }
}
