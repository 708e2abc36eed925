//! Issuing and revoking API keys. An app may hold several live keys, so keys rotate without downtime.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::apps::parse_roles;
use super::{Actor, AdminError};
use crate::auth::ApiKey;
use crate::db;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    /// Expire the key after this many days (1-3650); without it the key lives until revoked.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "whole_number")]
    pub expires_in_days: Option<u32>,
    /// Limit the key to some of its app's roles.
    #[schema(value_type = Option<Vec<super::apps::RoleName>>)]
    pub roles: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedKey {
    pub id: Uuid,
    /// The key itself. It is shown only in this answer and never stored.
    pub key: String,
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub roles: Option<Vec<String>>,
}

/// JSON has one number type: `30.0` is the whole number 30, as JSON Schema's `integer` reads it.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else { return Ok(None) };
    let whole = n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    match whole.and_then(|w| u32::try_from(w).ok()) {
        Some(w) => Ok(Some(w)),
        None => Err(serde::de::Error::custom(format!("`{n}` is not a whole number of days"))),
    }
}

pub async fn issue(pool: &PgPool, actor: &Actor, app_name: &str, input: &KeyInput) -> Result<IssuedKey, AdminError> {
    let app = super::apps::get(pool, app_name).await?;
    if let Some(days) = input.expires_in_days
        && !(1..=3650).contains(&days)
    {
        return Err(AdminError::invalid("expires_in_days", "`expires_in_days` must be between 1 and 3650"));
    }
    let roles = input.roles.as_deref().map(parse_roles).transpose()?;
    if let Some(roles) = &roles
        && let Some(extra) = roles.iter().find(|r| !app.roles.contains(r))
    {
        // Well formed, but the app does not hold that role now.
        return Err(AdminError::reference(
            "roles",
            format!("app {} does not hold the role {extra}, so its keys cannot", app.name),
        ));
    }
    let expires_at = input.expires_in_days.map(|d| OffsetDateTime::now_utc() + time::Duration::days(d.into()));
    let key = ApiKey::generate();
    let mut tx = actor.begin(pool).await?;
    let id = db::keys::insert(&mut *tx, app.id, key.prefix(), &key.digest(), expires_at, roles.as_deref()).await?;
    tx.commit().await?;
    Ok(IssuedKey { id, key: key.reveal().to_owned(), prefix: key.prefix().to_owned(), expires_at, roles })
}

/// Revokes at once: every replica checks revocation on each request.
pub async fn revoke(pool: &PgPool, actor: &Actor, id_or_prefix: &str) -> Result<(), AdminError> {
    let mut tx = actor.begin(pool).await?;
    if db::keys::revoke(&mut *tx, id_or_prefix).await? == 0 {
        return Err(AdminError::NotFound("no active key with that id or prefix".to_owned()));
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::KeyInput;

    #[test]
    fn a_lifetime_may_be_written_as_a_whole_float_but_not_a_fraction() {
        let days = |body: &str| serde_json::from_str::<KeyInput>(body).map(|k| k.expires_in_days);
        assert_eq!(days(r#"{"expires_in_days": 30}"#).expect("int"), Some(30));
        assert_eq!(days(r#"{"expires_in_days": 30.0}"#).expect("whole"), Some(30));
        assert_eq!(days(r#"{"expires_in_days": null}"#).expect("null"), None);
        assert_eq!(days("{}").expect("absent"), None);
        for bad in ["30.5", "-1", "1e20", "\"30\""] {
            assert!(days(&format!(r#"{{"expires_in_days": {bad}}}"#)).is_err(), "{bad}");
        }
    }
}
