//! The `Caller` extractor: authenticates `Authorization: Bearer <key>` against the key store.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use super::ApiKey;
use crate::db;
use crate::error::ApiError;
use crate::startup::AppState;

/// An authenticated app.
#[derive(Clone, Debug)]
pub struct Caller {
    pub app_id: Uuid,
    pub app_name: String,
    pub key_id: Uuid,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(
                "no Authorization header; send `Authorization: Bearer <api key>`",
            )
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not readable text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("the Authorization scheme must be Bearer"))?
            .trim();
        let key = ApiKey::parse(token).ok_or_else(|| {
            ApiError::unauthorized("the bearer credential is not a mailgate API key")
        })?;
        let found = db::keys::find_active(&state.pool, key.prefix()).await?;
        match found {
            Some(stored) if key.matches(&stored.secret_hash) => {
                db::keys::touch(&state.pool, stored.id).await?;
                Ok(Caller {
                    app_id: stored.app_id,
                    app_name: stored.app_name,
                    key_id: stored.id,
                })
            }
            // One answer for unknown, revoked and expired keys: the caller learns nothing about which keys exist.
            _ => Err(ApiError::unauthorized(
                "the API key is unknown, revoked or expired",
            )),
        }
    }
}
