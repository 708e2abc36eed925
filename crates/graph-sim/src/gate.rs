//! The checks every mailbox endpoint shares with sendMail: the bearer token, the mailbox directory and the
//! application access policies, with the errors Graph answers for each.

use axum::http::StatusCode;

use super::policy::{AccessCheck, decide};
use super::response::GraphError;
use super::state::{State, TokenCheck};

fn unauthorized(message: &str) -> GraphError {
    GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
}

/// 401 unless the token is one this simulator issued for Graph and it is still valid.
pub fn token(token: &TokenCheck) -> Result<(), GraphError> {
    match token {
        TokenCheck::Valid(_) => Ok(()),
        TokenCheck::Missing => Err(unauthorized("Access token is empty.")),
        TokenCheck::Unknown => Err(unauthorized("Access token validation failure.")),
        TokenCheck::Expired(_) => Err(unauthorized("Lifetime validation failed, the token is expired.")),
        TokenCheck::WrongAudience(_) => Err(unauthorized("Access token validation failure. Invalid audience.")),
    }
}

/// 404 for a mailbox outside the directory, 403 `ErrorAccessDenied` when a policy denies the token's app.
pub fn mailbox(state: &State, mailbox: &str, token: &TokenCheck) -> Result<(), GraphError> {
    if !state.mailbox_exists(mailbox) {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            format!("The requested user '{mailbox}' is invalid."),
        ));
    }
    if let TokenCheck::Valid(app_id) = token
        && decide(&state.policies(), app_id, mailbox) == AccessCheck::Denied
    {
        return Err(GraphError::new(StatusCode::FORBIDDEN, "ErrorAccessDenied", "Access to OData is disabled."));
    }
    Ok(())
}

/// 413 as Graph words it, for a body over the simulator's request limit.
pub fn too_large() -> GraphError {
    GraphError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestBodyTooLarge",
        "The maximum request length supported is 4MB.",
    )
}
