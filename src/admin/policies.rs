//! Application access policies: New-, Get-, Set- and Remove-ApplicationAccessPolicy, with Exchange's checks.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::groups::address;
use super::{Actor, AdminError};
use crate::db;
use crate::db::policies::{NewPolicy, PolicyView};
use crate::policy::{AccessRight, AppSelector, PolicyScope};

/// Exchange refuses new policies past roughly this many ("The total size of App Access Policies exceeded the limit.").
pub const MAX_POLICIES: i64 = 300;

/// Recipient types Exchange accepts as a policy scope besides a mail-enabled security group.
const MAILBOX_SCOPE_TYPES: [&str; 2] = ["UserMailbox", "MailUser"];

// Only its schema is used: the field stays a string so that a wrong value is refused naming it.
/// Exchange's `-AccessRight`.
#[derive(ToSchema)]
pub enum AccessRightName {
    RestrictAccess,
    DenyAccess,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// App names or Entra app ids, or `["*"]` for every app.
    #[schema(schema_with = crate::admin::schema::policy_apps)]
    pub apps: Vec<String>,
    /// A mail-enabled security group's address, or a user mailbox's / mail user's.
    #[schema(schema_with = crate::admin::schema::address)]
    pub scope: String,
    #[schema(value_type = AccessRightName)]
    pub access_right: String,
    #[serde(default)]
    #[schema(max_length = 1024, pattern = r"^[^\r\n]*$")]
    pub description: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    #[schema(max_length = 1024, pattern = r"^[^\r\n]*$")]
    pub description: String,
}

fn description(text: &str) -> Result<(), AdminError> {
    if text.contains(['\r', '\n']) || text.chars().count() > 1024 {
        return Err(AdminError::invalid("description", "`description` must be one line of at most 1024 characters"));
    }
    Ok(())
}

async fn apps(pool: &PgPool, names: &[String]) -> Result<AppSelector, AdminError> {
    if names.iter().any(|a| a == "*") {
        if names.len() != 1 {
            return Err(AdminError::invalid("apps", "`*` stands for every app and cannot be combined with named apps"));
        }
        return Ok(AppSelector::All);
    }
    if names.is_empty() {
        return Err(AdminError::invalid("apps", "name at least one app, or `*`"));
    }
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let app = db::apps::find(pool, name)
            .await?
            .ok_or_else(|| AdminError::reference(&format!("apps[{i}]"), format!("no app named `{name}`")))?;
        ids.push(app.id);
    }
    Ok(AppSelector::Apps(ids))
}

/// A group, or a mailbox the directory knows to be a user mailbox or mail user — what Exchange accepts.
async fn scope(pool: &PgPool, raw: &str) -> Result<PolicyScope, AdminError> {
    let addr = address("scope", raw)?;
    if let Some(g) = db::groups::find(pool, addr.as_str()).await? {
        return Ok(PolicyScope::Group(g.id));
    }
    match db::directory::find(pool, addr.as_str()).await? {
        Some(r) if MAILBOX_SCOPE_TYPES.contains(&r.recipient_type_details.as_str()) => {
            Ok(PolicyScope::Mailbox(r.address))
        }
        Some(r) => Err(AdminError::reference(
            "scope",
            format!(
                "{addr} is a {}; Exchange accepts only a mail-enabled security group, a user mailbox or a mail user as a \
                 policy scope (put shared mailboxes in a mail-enabled security group)",
                r.recipient_type_details
            ),
        )),
        None => Err(AdminError::reference(
            "scope",
            format!("{addr} is neither a group in the mirror nor a mailbox in its directory"),
        )),
    }
}

pub async fn create(pool: &PgPool, actor: &Actor, input: &PolicyInput) -> Result<PolicyView, AdminError> {
    let apps = apps(pool, &input.apps).await?;
    let scope = scope(pool, &input.scope).await?;
    let access_right: AccessRight = input.access_right.parse().map_err(|e| AdminError::invalid("access_right", e))?;
    description(&input.description)?;
    let mut tx = actor.begin(pool).await?;
    let count = db::policies::count(&mut *tx).await?;
    if count >= MAX_POLICIES {
        return Err(AdminError::Conflict(format!(
            "the total size of App Access Policies exceeded the limit ({MAX_POLICIES} policies, as Exchange allows)"
        )));
    }
    let new = NewPolicy { apps: &apps, scope: &scope, access_right, description: &input.description };
    let id = db::policies::create(&mut tx, new).await?;
    tx.commit().await?;
    get(pool, id).await
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<PolicyView, AdminError> {
    db::policies::get(pool, id).await?.ok_or_else(|| AdminError::NotFound(format!("no policy {id}")))
}

pub async fn change(pool: &PgPool, actor: &Actor, id: Uuid, change: &PolicyChange) -> Result<PolicyView, AdminError> {
    description(&change.description)?;
    let mut tx = actor.begin(pool).await?;
    if !db::policies::set_description(&mut *tx, id, &change.description).await? {
        return Err(AdminError::NotFound(format!("no policy {id}")));
    }
    tx.commit().await?;
    get(pool, id).await
}

pub async fn remove(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<(), AdminError> {
    let mut tx = actor.begin(pool).await?;
    if !db::policies::remove(&mut *tx, id).await? {
        return Err(AdminError::NotFound(format!("no policy {id}")));
    }
    tx.commit().await?;
    Ok(())
}
