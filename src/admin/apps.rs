//! Registering caller apps.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AdminError, is_unique_violation};
use crate::auth::Role;
use crate::db;
use crate::db::apps::{App, NewApp};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// 1-63 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit.
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    pub entra_tenant_id: Option<Uuid>,
    pub entra_object_id: Option<Uuid>,
    /// Roles for this app's API keys; default `["Mail.Send"]`. (Entra tokens carry their own.)
    pub roles: Option<Vec<String>>,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Checks role names; returns them in canonical spelling.
pub fn parse_roles(roles: &[String]) -> Result<Vec<String>, AdminError> {
    roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse::<Role>().map(|r| r.as_str().to_owned()).map_err(|e| AdminError::invalid(&format!("roles[{i}]"), e))
        })
        .collect()
}

pub async fn create(pool: &PgPool, input: &AppInput) -> Result<App, AdminError> {
    if !valid_name(&input.name) {
        return Err(AdminError::invalid(
            "name",
            format!(
                "app name `{}` must be 1-63 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                input.name
            ),
        ));
    }
    let roles = input.roles.as_deref().map(parse_roles).transpose()?;
    let new = NewApp {
        name: &input.name,
        entra_app_id: input.entra_app_id,
        entra_tenant_id: input.entra_tenant_id,
        entra_object_id: input.entra_object_id,
        roles,
    };
    db::apps::create(pool, &new).await.map_err(|e| {
        if is_unique_violation(&e) {
            AdminError::Conflict(format!("an app named `{}` or with the same Entra ids already exists", input.name))
        } else {
            e.into()
        }
    })
}

pub async fn get(pool: &PgPool, name: &str) -> Result<App, AdminError> {
    db::apps::find(pool, name).await?.ok_or_else(|| AdminError::NotFound(format!("no app named `{name}`")))
}
