//! Turns an `Authorization` header into a `Caller`, or says precisely why not (without echoing the credential).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sqlx::PgPool;

use super::{ApiKey, Caller, CallerCredential, Role};
use crate::db;

/// Why a credential was refused. `reason` is a fixed word for metrics; `detail` is for the developer.
#[derive(Debug)]
pub enum AuthFailure {
    /// 401: no usable credential.
    Unauthenticated {
        reason: &'static str,
        detail: String,
    },
    /// 403: a valid credential for something mailgate does not know.
    Unregistered {
        detail: String,
    },
    Db(sqlx::Error),
}

impl From<sqlx::Error> for AuthFailure {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

fn unauthenticated(reason: &'static str, detail: impl Into<String>) -> AuthFailure {
    AuthFailure::Unauthenticated {
        reason,
        detail: detail.into(),
    }
}

/// The bearer credential, if the header has one.
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| {
            unauthenticated(
                "missing",
                "no Authorization header; send `Authorization: Bearer <api key or Entra ID token>`",
            )
        })?
        .to_str()
        .map_err(|_| {
            unauthenticated("malformed", "the Authorization header is not readable text")
        })?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || rest.trim().is_empty() {
        return Err(unauthenticated(
            "bad_scheme",
            "the Authorization scheme must be Bearer",
        ));
    }
    Ok(rest.trim())
}

pub async fn api_key(pool: &PgPool, key: &ApiKey) -> Result<Caller, AuthFailure> {
    match db::keys::find_active(pool, key.prefix()).await? {
        Some(stored) if key.matches(&stored.secret_hash) => {
            db::keys::touch(pool, stored.id).await?;
            let names = stored.key_roles.as_ref().unwrap_or(&stored.app_roles);
            Ok(Caller {
                app_id: stored.app_id,
                app_name: stored.app_name,
                roles: Role::known(names),
                credential: CallerCredential::ApiKey { key_id: stored.id },
            })
        }
        // One answer for unknown, revoked and expired keys: it tells nothing about which keys exist.
        _ => Err(unauthenticated(
            "unknown_key",
            "the API key is unknown, revoked or expired",
        )),
    }
}

pub async fn authenticate(pool: &PgPool, headers: &HeaderMap) -> Result<Caller, AuthFailure> {
    let token = bearer(headers)?;
    if let Some(key) = ApiKey::parse(token) {
        return api_key(pool, &key).await;
    }
    Err(unauthenticated(
        "not_a_credential",
        "the bearer credential is not a mailgate API key",
    ))
}
