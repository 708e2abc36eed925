//! The mailbox directory: mailboxes and mail users with the properties recipient filters read.

use std::collections::BTreeMap;

use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::address::name_key;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RecipientRow {
    pub address: String,
    pub object_id: Option<Uuid>,
    /// The user principal name, lower-cased; Graph's `/users/{upn}` takes it.
    pub user_principal_name: Option<String>,
    pub recipient_type: String,
    pub recipient_type_details: String,
    pub display_name: String,
    /// OPATH property name → value (Department, City, CustomAttribute1…).
    #[schema(value_type = BTreeMap<String, String>)]
    pub properties: Json<BTreeMap<String, String>>,
    pub email_addresses: Vec<String>,
}

/// As stored: the schema only requires `properties` to be an object, so values written by other means may not be
/// strings; they are read as their JSON text rather than failing the whole read.
#[derive(FromRow)]
struct Stored {
    address: String,
    object_id: Option<Uuid>,
    user_principal_name: Option<String>,
    recipient_type: String,
    recipient_type_details: String,
    display_name: String,
    properties: Json<BTreeMap<String, serde_json::Value>>,
    email_addresses: Vec<String>,
}

impl From<Stored> for RecipientRow {
    fn from(r: Stored) -> Self {
        let properties = r
            .properties
            .0
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        RecipientRow {
            address: r.address,
            object_id: r.object_id,
            user_principal_name: r.user_principal_name,
            recipient_type: r.recipient_type,
            recipient_type_details: r.recipient_type_details,
            display_name: r.display_name,
            properties: Json(properties),
            email_addresses: r.email_addresses,
        }
    }
}

/// The mailbox that answers to `name`: any of its addresses, its user principal name or its object id.
pub async fn find(db: impl PgExecutor<'_>, name: &str) -> Result<Option<RecipientRow>, sqlx::Error> {
    let row = sqlx::query_as!(
        Stored,
        r#"SELECT address, object_id, user_principal_name, recipient_type, recipient_type_details, display_name,
                  properties AS "properties: Json<BTreeMap<String, serde_json::Value>>", email_addresses
             FROM recipients WHERE id = (SELECT recipient_id FROM recipient_names WHERE name = $1)"#,
        name_key(name)
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(RecipientRow::from))
}

/// The whole directory, read by the admin API, the decision snapshot and the import's diff.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<RecipientRow>, sqlx::Error> {
    let rows = sqlx::query_as!(
        Stored,
        r#"SELECT address, object_id, user_principal_name, recipient_type, recipient_type_details, display_name,
                  properties AS "properties: Json<BTreeMap<String, serde_json::Value>>", email_addresses
             FROM recipients ORDER BY address"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(RecipientRow::from).collect())
}

/// Creates or replaces the entry for `r.address`. Returns true when it was new.
pub async fn upsert(db: impl PgExecutor<'_>, r: &RecipientRow) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO recipients (id, address, object_id, recipient_type, recipient_type_details, display_name,
                                 properties, email_addresses, user_principal_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (address) DO UPDATE SET object_id = EXCLUDED.object_id, recipient_type = EXCLUDED.recipient_type,
             user_principal_name = EXCLUDED.user_principal_name,
             recipient_type_details = EXCLUDED.recipient_type_details, display_name = EXCLUDED.display_name,
             properties = EXCLUDED.properties, email_addresses = EXCLUDED.email_addresses, updated_at = now()
         RETURNING (xmax = 0) AS "inserted!""#,
        Uuid::now_v7(),
        &r.address,
        r.object_id,
        &r.recipient_type,
        &r.recipient_type_details,
        &r.display_name,
        &r.properties as _,
        &r.email_addresses,
        r.user_principal_name.as_deref()
    )
    .fetch_one(db)
    .await
}

pub async fn remove(db: impl PgExecutor<'_>, address: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM recipients WHERE address = $1", address).execute(db).await.map(|r| r.rows_affected() == 1)
}
