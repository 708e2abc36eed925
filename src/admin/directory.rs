//! The mailbox directory that recipient filters and policy scopes are checked against.

use std::collections::BTreeMap;

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::groups::address;
use super::{Actor, AdminError};
use crate::db;
use crate::db::directory::RecipientRow;
use crate::domain::EmailAddress;
use crate::policy::opath::Property;

/// RecipientTypeDetails values the mirror knows (as Get-Recipient prints them).
pub const KNOWN_TYPES: [&str; 9] = [
    "UserMailbox",
    "SharedMailbox",
    "RoomMailbox",
    "EquipmentMailbox",
    "MailUser",
    "MailContact",
    "GroupMailbox",
    "MailUniversalDistributionGroup",
    "DynamicDistributionGroup",
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxInput {
    pub object_id: Option<Uuid>,
    /// Default UserMailbox.
    #[schema(schema_with = crate::admin::schema::recipient_type)]
    pub recipient_type_details: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// Filterable properties by their OPATH names (read in any letter case): Department, City, CountryOrRegion,
    /// CustomAttribute1…15, …; one line each.
    #[serde(default)]
    #[schema(schema_with = crate::admin::schema::properties)]
    pub properties: BTreeMap<String, String>,
    /// Exchange's `EmailAddresses`: `SMTP:primary`, `smtp:alias`, and other kinds, which are kept but are not
    /// names to send as.
    #[serde(default)]
    #[schema(schema_with = proxies)]
    pub email_addresses: Vec<String>,
    /// The mailbox's user principal name, when it differs from its primary address.
    #[schema(schema_with = crate::admin::schema::address)]
    pub user_principal_name: Option<String>,
}

/// `EmailAddresses` as `check_proxy` takes them: no whitespace or control characters.
fn proxies() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let item = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^[^\s\x00-\x1f\x7f-\x9f]+$"));
    ArrayBuilder::new().items(item).build()
}

fn recipient_type(details: &str) -> &'static str {
    match details {
        "MailUser" => "MailUser",
        "MailContact" => "MailContact",
        "MailUniversalDistributionGroup" => "MailUniversalDistributionGroup",
        "DynamicDistributionGroup" => "DynamicDistributionGroup",
        "GroupMailbox" => "MailUniversalDistributionGroup",
        _ => "UserMailbox",
    }
}

/// Creates or replaces a directory entry. Returns the entry and whether it was new.
pub async fn put(
    pool: &PgPool,
    actor: &Actor,
    raw: &str,
    input: MailboxInput,
) -> Result<(RecipientRow, bool), AdminError> {
    let addr = address("address", raw)?;
    let details = input.recipient_type_details.unwrap_or_else(|| "UserMailbox".into());
    if !KNOWN_TYPES.contains(&details.as_str()) {
        return Err(AdminError::invalid(
            "recipient_type_details",
            format!("`{details}` is not a recipient type the mirror knows; one of {}", KNOWN_TYPES.join(", ")),
        ));
    }
    let mut properties = BTreeMap::new();
    for (name, value) in input.properties {
        let field = format!("properties.{name}");
        let property = Property::parse(&name)
            .ok_or_else(|| AdminError::invalid(&field, format!("`{name}` is not a filterable property")))?;
        if matches!(
            property,
            Property::MemberOfGroup
                | Property::EmailAddresses
                | Property::PrimarySmtpAddress
                | Property::RecipientType
                | Property::RecipientTypeDetails
                | Property::DisplayName
        ) {
            return Err(AdminError::invalid(
                &field,
                format!("`{name}` is set through its own field, not `properties`"),
            ));
        }
        if value.contains(['\r', '\n']) {
            return Err(AdminError::invalid(&field, "values must be one line"));
        }
        properties.insert(property.name(), value);
    }
    for (i, proxy) in input.email_addresses.iter().enumerate() {
        crate::policy::directory::check_proxy(proxy).map_err(|e| {
            AdminError::invalid(&format!("email_addresses[{i}]"), format!("`email_addresses[{i}]`: {e}"))
        })?;
    }
    let user_principal_name = match input.user_principal_name.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(upn) => Some(
            EmailAddress::parse(upn)
                .map_err(|e| AdminError::invalid("user_principal_name", format!("`user_principal_name`: {e}")))?
                .to_string(),
        ),
    };
    let row = RecipientRow {
        address: addr.as_str().to_owned(),
        object_id: input.object_id,
        user_principal_name,
        recipient_type: recipient_type(&details).to_owned(),
        recipient_type_details: details,
        display_name: input.display_name,
        properties: Json(properties),
        email_addresses: input.email_addresses,
    };
    // Each address, UPN and object id names one mailbox only; the names table checks that when the change commits.
    let clash = |e: sqlx::Error| {
        if super::is_unique_violation(&e) {
            AdminError::Conflict(format!(
                "another mailbox already answers to one of {}'s names (an address, user principal name or object id)",
                row.address
            ))
        } else {
            e.into()
        }
    };
    let mut tx = actor.begin(pool).await?;
    let created = db::directory::upsert(&mut *tx, &row).await.map_err(clash)?;
    tx.commit().await.map_err(clash)?;
    Ok((row, created))
}

pub async fn get(pool: &PgPool, raw: &str) -> Result<RecipientRow, AdminError> {
    db::directory::find(pool, &raw.to_lowercase())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no mailbox {raw} in the directory")))
}

pub async fn remove(pool: &PgPool, actor: &Actor, raw: &str) -> Result<(), AdminError> {
    let addr = address("address", raw)?;
    let mut tx = actor.begin(pool).await?;
    if !db::directory::remove(&mut *tx, addr.as_str()).await? {
        return Err(AdminError::NotFound(format!("no mailbox {addr} in the directory")));
    }
    tx.commit().await?;
    Ok(())
}
