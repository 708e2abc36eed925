//! Turns an `Authorization` header into a `Caller`, or says precisely why not (without echoing the credential).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use std::sync::Arc;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::EntraKey;
use super::entra::{EntraValidator, TokenError};
use super::{ApiKey, AppQuota, Caller, CallerCache, CallerCredential, Role};
use crate::db;
use crate::db::apps::App;
use crate::db::keys::StoredKey;

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
    /// 503: the token could not be checked (no signing keys yet).
    Unavailable {
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
    AuthFailure::Unauthenticated { reason, detail: detail.into() }
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
        .map_err(|_| unauthenticated("malformed", "the Authorization header is not readable text"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || rest.trim().is_empty() {
        return Err(unauthenticated("bad_scheme", "the Authorization scheme must be Bearer"));
    }
    Ok(rest.trim())
}

/// The key's record: from memory when this process has it, else from the store (and then remembered).
async fn stored_key(pool: &PgPool, cache: &CallerCache, key: &ApiKey) -> Result<Option<Arc<StoredKey>>, AuthFailure> {
    if let Some(stored) = cache.key(key.prefix()) {
        return Ok(Some(stored));
    }
    let generation = cache.generation();
    let Some(stored) = db::keys::find_active(pool, key.prefix()).await? else { return Ok(None) };
    let stored = Arc::new(stored);
    // Only a key that proves itself is remembered: guessing prefixes fills nothing.
    if key.matches(&stored.secret_hash) {
        cache.put_key(generation, stored.clone());
    }
    Ok(Some(stored))
}

pub async fn api_key(pool: &PgPool, cache: &CallerCache, key: &ApiKey) -> Result<Caller, AuthFailure> {
    let now = OffsetDateTime::now_utc();
    match stored_key(pool, cache, key).await? {
        Some(stored) if key.matches(&stored.secret_hash) && stored.expires_at.is_none_or(|at| at > now) => {
            if cache.should_touch(stored.id) {
                let (pool, id) = (pool.clone(), stored.id);
                // Off the request's path: the answer does not wait for a bookkeeping write.
                tokio::spawn(async move {
                    if let Err(e) = db::keys::touch(&pool, id).await {
                        tracing::debug!(error = %e, "could not record a key's last use");
                    }
                });
            }
            // The app's roles as they are now bound the key: narrowing an app narrows every key it was issued.
            let app_roles = Role::known(&stored.app_roles);
            let roles = match &stored.key_roles {
                Some(key_roles) => Role::known(key_roles).into_iter().filter(|r| app_roles.contains(r)).collect(),
                None => app_roles,
            };
            Ok(Caller {
                app_id: stored.app_id,
                app_name: stored.app_name.clone(),
                roles,
                credential: CallerCredential::ApiKey { key_id: stored.id },
                quota: AppQuota {
                    messages_per_minute: stored.messages_per_minute,
                    recipients_per_day: stored.recipients_per_day,
                },
            })
        }
        // One answer for unknown, revoked and expired keys: it tells nothing about which keys exist.
        _ => Err(unauthenticated("unknown_key", "the API key is unknown, revoked or expired")),
    }
}

/// The registered app an Entra token speaks for, from memory when this process has it.
async fn entra_app(pool: &PgPool, cache: &CallerCache, key: EntraKey) -> Result<Option<Arc<App>>, AuthFailure> {
    if let Some(app) = cache.app(&key) {
        return Ok(Some(app));
    }
    let generation = cache.generation();
    let (tenant, home, app_id, object_id) = key;
    let Some(app) = db::apps::find_entra(pool, tenant, home, app_id, object_id).await? else { return Ok(None) };
    let app = Arc::new(app);
    cache.put_app(key, generation, app.clone());
    Ok(Some(app))
}

/// An Entra ID access token: valid, from an allowed tenant, for an app registered here.
pub async fn entra_token(
    pool: &PgPool,
    cache: &CallerCache,
    entra: &EntraValidator,
    token: &str,
) -> Result<Caller, AuthFailure> {
    let identity = entra.validate(token).await.map_err(|e| match e {
        TokenError::KeysUnavailable => AuthFailure::Unavailable { detail: e.description() },
        e => unauthenticated(e.reason(), e.description()),
    })?;
    let bad_claim =
        |claim: &'static str| unauthenticated("malformed_token", format!("the token's `{claim}` is not a GUID"));
    let tenant = Uuid::parse_str(&identity.tenant_id).map_err(|_| bad_claim("tid"))?;
    let app_id = Uuid::parse_str(&identity.app_id).map_err(|_| bad_claim("appid/azp"))?;
    let object_id = identity.object_id.as_deref().and_then(|o| Uuid::parse_str(o).ok());
    let home = Uuid::parse_str(entra.home_tenant()).ok();
    let app =
        entra_app(pool, cache, (tenant, home, app_id, object_id)).await?.ok_or_else(|| AuthFailure::Unregistered {
            detail: format!(
                "the token is valid, but app {app_id} (tenant {tenant}) is not registered with mailgate; \
             register it with `mailgate apps create NAME --entra-app-id {app_id}`"
            ),
        })?;
    // Entra grants the token's roles; mailgate's record of the app bounds them, so narrowing the app here takes
    // effect at once, without waiting for Entra's assignments to change and old tokens to expire.
    let app_roles = Role::known(&app.roles);
    let roles = Role::known(&identity.roles).into_iter().filter(|r| app_roles.contains(r)).collect();
    Ok(Caller {
        app_id: app.id,
        app_name: app.name.clone(),
        roles,
        credential: CallerCredential::Entra { app_id: identity.app_id, tenant_id: identity.tenant_id },
        quota: AppQuota { messages_per_minute: app.messages_per_minute, recipients_per_day: app.recipients_per_day },
    })
}

/// Tells keys from tokens by shape (a key has a fixed prefix and length), so neither check runs on the other.
pub async fn authenticate(
    pool: &PgPool,
    cache: &CallerCache,
    entra: Option<&EntraValidator>,
    headers: &HeaderMap,
) -> Result<Caller, AuthFailure> {
    let token = bearer(headers)?;
    if let Some(key) = ApiKey::parse(token) {
        return api_key(pool, cache, &key).await;
    }
    match entra {
        Some(entra) if EntraValidator::looks_like_jwt(token) => entra_token(pool, cache, entra, token).await,
        Some(_) => {
            Err(unauthenticated("not_a_credential", "the bearer credential is neither a mailgate API key nor a JWT"))
        }
        None => Err(unauthenticated(
            "not_a_credential",
            "the bearer credential is not a mailgate API key (Entra ID tokens are not enabled here)",
        )),
    }
}
