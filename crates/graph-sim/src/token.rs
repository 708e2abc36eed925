//! The App Service managed identity endpoint (`api-version=2019-08-01`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State as AxState};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::faults::{self, FaultOutcome};
use super::response::{GraphError, ReqCtx, finish, header_str};
use super::state::{State, TOKEN_FAULT_KEY};

const IDENTITY_HEADER: HeaderName = HeaderName::from_static("x-identity-header");

/// `GET /msi/token?api-version=2019-08-01&resource=...[&client_id=...]`.
///
/// Checks, in order: the `X-IDENTITY-HEADER` secret (401), scripted faults for
/// `"@token"`, the `resource` parameter (400). Then issues an opaque token.
pub async fn token(
    AxState(state): AxState<Arc<State>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let ctx = ReqCtx::from_headers(request.headers());
    state.count_token_request();

    let secret = header_str(request.headers(), &IDENTITY_HEADER);
    if secret.as_deref() != Some(state.config.identity_header.as_str()) {
        tracing::info!(status = 401, "token request with a wrong or missing identity header");
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedIdentityHeader",
            "The X-IDENTITY-HEADER header is missing or does not match.",
        )
        .into_response(&ctx);
    }

    let mut lose_answer = false;
    match faults::apply(state.next_fault(TOKEN_FAULT_KEY)).await {
        FaultOutcome::Continue => {}
        FaultOutcome::LoseAnswer => lose_answer = true,
        FaultOutcome::Respond(err) => {
            tracing::info!(status = err.status.as_u16(), "token request failed by fault");
            return err.into_response(&ctx);
        }
        FaultOutcome::Drop => {
            tracing::info!("token request dropped by fault");
            return faults::dropped_response(request.extensions());
        }
    }

    let Some(resource) = query.get("resource").filter(|r| !r.trim().is_empty()) else {
        return GraphError::bad_request("InvalidResource", "The request is missing the required 'resource' parameter.")
            .into_response(&ctx);
    };
    let app_id =
        query.get("client_id").filter(|c| !c.trim().is_empty()).cloned().unwrap_or_else(|| state.config.app_id.clone());

    let (access_token, expires_on) = state.tokens.issue_for(&app_id, resource);
    if lose_answer {
        tracing::info!(app_id = %app_id, resource = %resource, "token issued, answer dropped by fault");
        return faults::dropped_response(request.extensions());
    }
    tracing::info!(status = 200, app_id = %app_id, resource = %resource, "token issued");
    let body = json!({
        "access_token": access_token,
        "expires_on": expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": app_id,
    });
    finish(&ctx, (StatusCode::OK, axum::Json(body)).into_response())
}
