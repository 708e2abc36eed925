//! The authenticated caller, placed in the request by the access middleware and read by handlers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::Role;
use crate::error::ApiError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerCredential {
    ApiKey { key_id: Uuid },
    Entra { app_id: String, tenant_id: String },
}

/// A registered app, proven by a key or a token, with the roles it holds for this request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub app_id: Uuid,
    pub app_name: String,
    pub roles: Vec<Role>,
    pub credential: CallerCredential,
    /// The app's own quotas, where it has them.
    pub quota: AppQuota,
}

/// An app's own quotas; none: the service-wide setting.
#[derive(Clone, Copy, Debug, Default)]
pub struct AppQuota {
    pub messages_per_minute: Option<i32>,
    pub recipients_per_day: Option<i32>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Present on every route that declares roles; its absence is a routing bug, not a caller error.
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("handler needs a Caller but its route declares no roles"))
    }
}
