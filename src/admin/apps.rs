//! Registering caller apps.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, AdminError, is_unique_violation};
use crate::auth::Role;
use crate::config::Settings;
use crate::db;
use crate::db::apps::{App, NewApp};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// 1-63 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,62}$")]
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    /// The tenant the app's Entra identity belongs to; only its tokens speak for the app. Default: mailgate's own
    /// tenant (`MAILGATE_ENTRA_TENANT_ID`) when the app has an Entra identity.
    pub entra_tenant_id: Option<Uuid>,
    pub entra_object_id: Option<Uuid>,
    /// The most this app may do; default `["Mail.Send"]`. Its keys hold these (or fewer); its Entra tokens hold the
    /// roles Entra granted them that are also listed here.
    #[schema(value_type = Option<Vec<RoleName>>)]
    pub roles: Option<Vec<String>>,
    /// Whether the app's Entra identity holds the tenant-wide Entra Mail.Send grant, which access policies constrain;
    /// default false. Only an app with an Entra identity can.
    pub entra_mail_send: Option<bool>,
    /// Let the app send as every mailbox its access policies do not exclude although no policy or role assignment
    /// of its own names it (Exchange's unscoped behaviour); default false, and then such an app sends as no mailbox.
    pub unrestricted: Option<bool>,
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

// Only its schema is used: the field stays a string so that a wrong value is refused naming it.
/// A role as the admin API and CLI spell it; the document lists these names.
#[derive(ToSchema)]
pub enum RoleName {
    #[schema(rename = "Mail.Send")]
    MailSend,
    #[schema(rename = "Audit.Read")]
    AuditRead,
    Admin,
}

/// Checks role names, spelled exactly as Entra's app roles are (tokens are read case-insensitively elsewhere).
pub fn parse_roles(roles: &[String]) -> Result<Vec<String>, AdminError> {
    roles
        .iter()
        .enumerate()
        .map(|(i, r)| match r.parse::<Role>() {
            Ok(role) if role.as_str() == r => Ok(r.clone()),
            _ => Err(AdminError::invalid(
                &format!("roles[{i}]"),
                format!("`{r}` is not a role; expected Mail.Send, Audit.Read or Admin"),
            )),
        })
        .collect()
}

/// mailgate's own tenant, which an Entra app registered without one belongs to.
pub fn home_tenant(settings: &Settings) -> Option<Uuid> {
    settings.entra.as_ref().and_then(|e| Uuid::parse_str(&e.tenant_id).ok())
}

/// The tenant-wide Entra grant is a fact about an Entra identity: an app with none cannot hold it (the schema's
/// check says the same; this says it in words).
fn check_entra_grant(name: &str, has_entra_identity: bool, entra_mail_send: Option<bool>) -> Result<(), AdminError> {
    if entra_mail_send == Some(true) && !has_entra_identity {
        return Err(AdminError::invalid(
            "entra_mail_send",
            format!(
                "app {name} has no Entra identity (entra_app_id or entra_object_id), so it cannot hold the tenant-wide \
                 Entra Mail.Send grant; scope it with an access policy, or mark it `unrestricted` to let it send as \
                 every mailbox"
            ),
        ));
    }
    Ok(())
}

/// Registers an app. One with an Entra identity and no tenant given belongs to `home_tenant`.
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    input: &AppInput,
    home_tenant: Option<Uuid>,
) -> Result<App, AdminError> {
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
    let has_entra_identity = input.entra_app_id.is_some() || input.entra_object_id.is_some();
    check_entra_grant(&input.name, has_entra_identity, input.entra_mail_send)?;
    let new = NewApp {
        name: &input.name,
        entra_app_id: input.entra_app_id,
        entra_tenant_id: input.entra_tenant_id.or(home_tenant.filter(|_| has_entra_identity)),
        entra_object_id: input.entra_object_id,
        roles,
        entra_mail_send: input.entra_mail_send.unwrap_or(false),
        unrestricted: input.unrestricted.unwrap_or(false),
    };
    let mut tx = actor.begin(pool).await?;
    let app = db::apps::create(&mut *tx, &new).await.map_err(|e| {
        if is_unique_violation(&e) {
            AdminError::Conflict(format!("an app named `{}` or with the same Entra ids already exists", input.name))
        } else {
            e.into()
        }
    })?;
    tx.commit().await?;
    Ok(app)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppChange {
    pub entra_app_id: Option<Uuid>,
    pub entra_tenant_id: Option<Uuid>,
    pub entra_object_id: Option<Uuid>,
    #[schema(value_type = Option<Vec<RoleName>>)]
    pub roles: Option<Vec<String>>,
    /// Whether the app still holds the tenant-wide Entra Mail.Send grant (which access policies constrain). Only an
    /// app with an Entra identity can.
    pub entra_mail_send: Option<bool>,
    /// Whether the app may send as every mailbox its access policies do not exclude with no policy or role assignment
    /// of its own; false makes such an app send as no mailbox again.
    pub unrestricted: Option<bool>,
}

/// Changes the given fields; the others stay. An app given its first Entra identity, with no tenant recorded or
/// given, belongs to `home_tenant`.
pub async fn change(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    c: &AppChange,
    home_tenant: Option<Uuid>,
) -> Result<App, AdminError> {
    let app = get(pool, name).await?;
    let roles = c.roles.as_deref().map(parse_roles).transpose()?;
    let had_entra_identity = app.entra_app_id.is_some() || app.entra_object_id.is_some();
    let has_entra_identity = had_entra_identity || c.entra_app_id.is_some() || c.entra_object_id.is_some();
    check_entra_grant(&app.name, has_entra_identity, c.entra_mail_send)?;
    let first_identity = !had_entra_identity && has_entra_identity && app.entra_tenant_id.is_none();
    let change = db::apps::Change {
        entra_app_id: c.entra_app_id,
        entra_tenant_id: c.entra_tenant_id.or(home_tenant.filter(|_| first_identity)),
        entra_object_id: c.entra_object_id,
        roles: roles.as_deref(),
        entra_mail_send: c.entra_mail_send,
        unrestricted: c.unrestricted,
    };
    let mut tx = actor.begin(pool).await?;
    let changed = db::apps::change(&mut *tx, app.id, &change).await.map_err(|e| {
        if is_unique_violation(&e) { AdminError::Conflict("another app has those Entra ids".into()) } else { e.into() }
    })?;
    tx.commit().await?;
    Ok(changed)
}

pub async fn get(pool: &PgPool, name: &str) -> Result<App, AdminError> {
    db::apps::find(pool, name).await?.ok_or_else(|| AdminError::NotFound(format!("no app named `{name}`")))
}

/// Deletes an app with its keys and policy memberships. An app that has sent keeps its messages and audit trail,
/// so it cannot be deleted: revoke its keys instead.
pub async fn remove(pool: &PgPool, actor: &Actor, name: &str) -> Result<(), AdminError> {
    let app = get(pool, name).await?;
    let mut tx = actor.begin(pool).await?;
    match db::apps::remove(&mut *tx, app.id).await {
        Ok(_) => {}
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23503") => {
            return Err(AdminError::Conflict(format!(
                "app {} has messages, which keep it in the audit trail; revoke its keys instead",
                app.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(())
}
