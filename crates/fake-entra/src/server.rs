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
    /// Where the tokens say they come from: `https://login.microsoftonline.com` (v2) and `https://sts.windows.net`
    /// (v1) in the public cloud, others in national ones.
    pub v2_issuer_host: String,
    pub v1_issuer_host: String,
    pub published: Mutex<Vec<Arc<TestKey>>>,
    pub current: Mutex<Arc<TestKey>>,
    pub available: AtomicBool,
    pub jwks_requests: AtomicUsize,
    pub metadata_requests: AtomicUsize,
}

/// `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/.well-known/openid-configuration` (v1) and
/// `/{tenant}/discovery/v2.0/keys`.
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", axum::routing::get(metadata))
        .route("/{tenant}/.well-known/openid-configuration", axum::routing::get(v1_metadata))
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
        "issuer": format!("{}/{tenant}/v2.0", shared.v2_issuer_host),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

/// The v1 document: its own issuer, the same keys. Not counted in `metadata_requests`.
async fn v1_metadata(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>) -> Response {
    if let Some(refusal) = refuse(&shared, &tenant) {
        return refusal;
    }
    let base = &shared.base_url;
    Json(json!({
        "issuer": format!("{}/{tenant}/", shared.v1_issuer_host),
        "jwks_uri": format!("{base}/{tenant}/discovery/keys"),
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
