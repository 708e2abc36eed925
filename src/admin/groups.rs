//! Mail-enabled security groups and their members.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, AdminError, is_unique_violation};
use crate::db;
use crate::db::groups::{GroupRow, MemberError};
use crate::domain::{EmailAddress, Mailbox};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    #[schema(schema_with = crate::admin::schema::address)]
    pub address: String,
    #[schema(pattern = r"^[^\r\n]*$")]
    pub display_name: Option<String>,
    pub object_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// A mailbox (address or object id), or the address of another group.
    #[schema(schema_with = crate::admin::schema::mailbox)]
    pub member: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: GroupRow,
    /// Direct members: mailboxes, and nested groups by address.
    pub mailboxes: Vec<String>,
    pub groups: Vec<String>,
}

pub fn address(field: &str, raw: &str) -> Result<EmailAddress, AdminError> {
    EmailAddress::parse(raw).map_err(|e| AdminError::invalid(field, format!("`{field}`: {e}")))
}

pub async fn create(pool: &PgPool, actor: &Actor, input: &GroupInput) -> Result<GroupRow, AdminError> {
    let address = address("address", &input.address)?;
    let display = input.display_name.as_deref().unwrap_or("");
    if display.contains(['\r', '\n']) {
        return Err(AdminError::invalid("display_name", "`display_name` must be one line"));
    }
    let mut tx = actor.begin(pool).await?;
    let group = db::groups::create(&mut *tx, address.as_str(), display, input.object_id).await.map_err(|e| {
        if is_unique_violation(&e) { AdminError::Conflict(format!("group {address} already exists")) } else { e.into() }
    })?;
    tx.commit().await?;
    Ok(group)
}

pub async fn get(pool: &PgPool, raw: &str) -> Result<GroupView, AdminError> {
    let address = address("address", raw)?;
    let group = db::groups::find(pool, address.as_str())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no group {address}")))?;
    let (mailboxes, groups) = db::groups::direct_members(pool, group.id).await?;
    Ok(GroupView { group, mailboxes, groups })
}

pub async fn remove(pool: &PgPool, actor: &Actor, raw: &str) -> Result<(), AdminError> {
    let address = address("address", raw)?;
    let mut tx = actor.begin(pool).await?;
    match db::groups::remove(&mut *tx, address.as_str()).await {
        Ok(true) => {}
        Ok(false) => return Err(AdminError::NotFound(format!("no group {address}"))),
        // A group that scopes a policy cannot go: Exchange would leave the policy without a scope.
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23503") => {
            return Err(AdminError::Conflict(format!(
                "group {address} scopes an access policy; remove the policy first"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(())
}

fn member_error(e: MemberError) -> AdminError {
    match e {
        MemberError::NoGroup(g) => AdminError::NotFound(format!("no group {g}")),
        MemberError::Db(e) => e.into(),
        // All three are well-formed requests that the groups' current membership refuses.
        e @ (MemberError::Cycle { .. } | MemberError::Duplicate { .. } | MemberError::NotMember { .. }) => {
            AdminError::Conflict(e.to_string())
        }
    }
}

fn member_key(raw: &str) -> Result<String, AdminError> {
    Mailbox::parse(raw).map(|m| m.key()).map_err(|e| AdminError::invalid("member", format!("`member`: {e}")))
}

pub async fn add_member(pool: &PgPool, actor: &Actor, group: &str, member: &str) -> Result<(), AdminError> {
    let group = address("group", group)?;
    let member = member_key(member)?;
    let mut tx = actor.begin(pool).await?;
    db::groups::add_member(&mut tx, group.as_str(), &member).await.map_err(member_error)?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove_member(pool: &PgPool, actor: &Actor, group: &str, member: &str) -> Result<(), AdminError> {
    let group = address("group", group)?;
    let member = member_key(member)?;
    let mut tx = actor.begin(pool).await?;
    db::groups::remove_member(&mut tx, group.as_str(), &member).await.map_err(member_error)?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    #[schema(pattern = r"^[^\r\n]*$")]
    pub display_name: String,
}

pub async fn change(pool: &PgPool, actor: &Actor, raw: &str, change: &GroupChange) -> Result<GroupView, AdminError> {
    let addr = address("address", raw)?;
    if change.display_name.contains(['\r', '\n']) {
        return Err(AdminError::invalid("display_name", "`display_name` must be one line"));
    }
    let mut tx = actor.begin(pool).await?;
    if !db::groups::set_display_name(&mut *tx, addr.as_str(), &change.display_name).await? {
        return Err(AdminError::NotFound(format!("no group {addr}")));
    }
    tx.commit().await?;
    get(pool, raw).await
}
