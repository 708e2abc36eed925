//! `GET /v1/messages/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use uuid::Uuid;

use super::view::MessageView;
use crate::auth::{Caller, Role};
use crate::db;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// A message's status and every attempt. Callers see only their own messages.
#[utoipa::path(
    get, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = Uuid, Path, description = "The id returned when the message was accepted")),
    responses(
        (status = 200, body = MessageView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MessageView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("message"))?;
    // Someone else's message answers exactly like a missing one, unless the caller audits.
    let visible = |r: &db::messages::MessageRow| r.app_id == caller.app_id || caller.has(Role::AuditRead);
    if caller.has(Role::AuditRead) && !caller.has(Role::MailSend) {
        // An auditor (the dashboard's message timeline) reads where the audit log is read, apart from the senders.
        let failed = crate::routes::audit::read_error(&state.audit);
        let mut tx = state.audit.begin().await.map_err(&failed)?;
        let row = db::messages::get(&mut *tx, id).await.map_err(&failed)?;
        let row = row.filter(visible).ok_or_else(|| ApiError::not_found("message"))?;
        return Ok(Json(MessageView::load(&mut *tx, row).await.map_err(&failed)?));
    }
    // A sender polls its own message on the primary: a standby might not have it yet.
    let row = db::messages::get(&state.pool, id).await?;
    let row = row.filter(visible).ok_or_else(|| ApiError::not_found("message"))?;
    Ok(Json(MessageView::load(&state.pool, row).await?))
}
