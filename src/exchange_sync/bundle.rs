//! The bundle `deploy/exo/Export-MailgateBundle.ps1` writes: each key holds one cmdlet's `ConvertTo-Json` output.
//! Fields are PascalCase strings as PowerShell prints them; fields not listed here (`RunspaceId`,
//! `PSComputerName`, …) are ignored. A key holding one object instead of an array is one result.

use std::collections::BTreeMap;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Bundle {
    #[serde(deserialize_with = "one_or_many")]
    pub application_access_policies: Vec<AccessPolicy>,
    #[serde(deserialize_with = "one_or_many")]
    pub recipients: Vec<Recipient>,
    /// Group address → its `Get-DistributionGroupMember` output.
    #[serde(deserialize_with = "member_lists")]
    pub group_members: BTreeMap<String, Vec<Member>>,
    #[serde(deserialize_with = "one_or_many")]
    pub service_principals: Vec<ServicePrincipal>,
    #[serde(deserialize_with = "one_or_many")]
    pub management_scopes: Vec<ManagementScope>,
    #[serde(deserialize_with = "one_or_many")]
    pub management_role_assignments: Vec<RoleAssignment>,
    /// App ids holding the tenant-wide Entra `Mail.Send` application permission; absent: unknown.
    #[serde(default, deserialize_with = "optional_strings")]
    pub entra_mail_send_grants: Option<Vec<String>>,
}

/// `Get-ApplicationAccessPolicy`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessPolicy {
    #[serde(default)]
    pub identity: Option<String>,
    /// One or more app GUIDs, or `*`.
    #[serde(default, deserialize_with = "strings")]
    pub app_id: Vec<String>,
    #[serde(default)]
    pub scope_name: Option<String>,
    #[serde(default)]
    pub scope_identity: Option<String>,
    /// `<SID>;<Exchange object GUID>`: the GUID is the recipient's `Guid`.
    #[serde(default)]
    pub scope_identity_raw: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub access_right: Option<String>,
    #[serde(default)]
    pub is_valid: Option<bool>,
}

/// `Get-Recipient | Select …`: the named fields, and every other field kept for recipient filters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recipient {
    #[serde(default)]
    pub primary_smtp_address: Option<String>,
    #[serde(default)]
    pub external_directory_object_id: Option<String>,
    /// The Exchange object GUID (what `ScopeIdentityRaw` names).
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub recipient_type: Option<String>,
    #[serde(default)]
    pub recipient_type_details: Option<String>,
    /// Added from Get-Mailbox / Get-MailUser by the export script: a mailbox's sign-in name, which Graph's
    /// `/users/{upn}` takes and which may differ from its primary address.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default, deserialize_with = "strings")]
    pub email_addresses: Vec<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `Get-DistributionGroupMember | Select …`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Member {
    #[serde(default)]
    pub primary_smtp_address: Option<String>,
    #[serde(default)]
    pub external_directory_object_id: Option<String>,
    #[serde(default)]
    pub recipient_type: Option<String>,
    #[serde(default)]
    pub recipient_type_details: Option<String>,
}

/// `Get-ServicePrincipal`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServicePrincipal {
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub identity: Option<String>,
}

/// `Get-ManagementScope`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagementScope {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub recipient_filter: Option<String>,
    #[serde(default)]
    pub recipient_restriction_filter: Option<String>,
    #[serde(default)]
    pub scope_restriction_type: Option<String>,
}

/// `Get-ManagementRoleAssignment -RoleAssigneeType ServicePrincipal`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleAssignment {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub role_assignee: Option<String>,
    #[serde(default)]
    pub role_assignee_name: Option<String>,
    #[serde(default)]
    pub custom_resource_scope: Option<String>,
    #[serde(default)]
    pub role_assignee_type: Option<String>,
}

/// ConvertTo-Json prints one result as an object, several as an array, none as `null`.
/// A visitor rather than an untagged enum, so that errors keep their path (`Recipients[3].Name`).
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of objects, one object, or null")
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|one| vec![one])
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// `GroupMembers`: group address → members (each list one-or-many as above).
fn member_lists<'de, D>(d: D) -> Result<BTreeMap<String, Vec<Member>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Members(#[serde(deserialize_with = "one_or_many")] Vec<Member>);
    let raw: Option<BTreeMap<String, Members>> = Option::deserialize(d)?;
    Ok(raw.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())
}

/// A string, an array of strings, or null.
fn strings<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(optional_strings(d)?.unwrap_or_default())
}

fn optional_strings<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Strings {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Strings>::deserialize(d)? {
        None => None,
        Some(Strings::One(s)) => Some(vec![s]),
        Some(Strings::Many(v)) => Some(v),
    })
}
