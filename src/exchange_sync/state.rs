//! The mirror's state in one normalized shape, whether it came from a bundle (desired) or from Postgres (current):
//! addresses lower-cased, GUIDs parsed, objects keyed by the identity the diff compares them on.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use uuid::Uuid;

/// The RBAC for Applications roles Exchange knows.
pub use crate::policy::model::RBAC_ROLES as ROLES;

pub const SECURITY_GROUP: &str = "MailUniversalSecurityGroup";

/// One app a policy names: by Entra app id, or (only in the current mirror) a mailgate app without one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyApp {
    Entra(Uuid),
    Local(String),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppSet {
    All,
    Apps(BTreeSet<PolicyApp>),
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Group(String),
    Mailbox(String),
}

/// A policy's identity: Exchange's own `Identity` embeds directory ids we do not keep, so it is not used.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyKey {
    pub apps: AppSet,
    pub scope: Scope,
    pub access_right: String,
}

impl fmt::Display for PolicyApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Entra(id) => write!(f, "{id}"),
            Self::Local(name) => write!(f, "mailgate app {name} (no Entra app id)"),
        }
    }
}

impl fmt::Display for AppSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Apps(apps) => f.write_str(&apps.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Group(a) => write!(f, "group {a}"),
            Self::Mailbox(a) => write!(f, "mailbox {a}"),
        }
    }
}

impl fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} for {}", self.access_right, self.scope, self.apps)
    }
}

/// A group member: a mailbox (address, or object id when it has none) or a nested group (its address).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberKey {
    pub group: String,
    pub member: MemberRef,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberRef {
    Mailbox(String),
    Group(String),
}

impl fmt::Display for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.member {
            MemberRef::Mailbox(m) => write!(f, "{} ∋ {m}", self.group),
            MemberRef::Group(g) => write!(f, "{} ∋ group {g}", self.group),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientState {
    pub object_id: Option<Uuid>,
    /// Lower-cased; from Get-Mailbox / Get-MailUser (Get-Recipient has none).
    pub user_principal_name: Option<String>,
    pub recipient_type: String,
    pub recipient_type_details: String,
    pub display_name: String,
    /// OPATH property name → value, for recipient filters; empty values are left out.
    pub properties: BTreeMap<String, String>,
    pub email_addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupState {
    pub object_id: Option<Uuid>,
    pub display_name: String,
    pub recipient_type_details: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Present {}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyState {
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServicePrincipalState {
    pub object_id: Uuid,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeState {
    pub recipient_filter: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssignmentState {
    /// The service principal's app id.
    pub service_principal: Uuid,
    pub role: String,
    /// The management scope's name; None is organisation-wide.
    pub scope: Option<String>,
}

/// The Exchange objects of the mirror. Apps are mailgate's own and handled beside it.
#[derive(Clone, Debug, Default)]
pub struct MirrorState {
    pub recipients: BTreeMap<String, RecipientState>,
    pub groups: BTreeMap<String, GroupState>,
    pub members: BTreeMap<MemberKey, Present>,
    pub policies: BTreeMap<PolicyKey, PolicyState>,
    pub service_principals: BTreeMap<Uuid, ServicePrincipalState>,
    pub scopes: BTreeMap<String, ScopeState>,
    pub assignments: BTreeMap<String, AssignmentState>,
}

/// What a bundle says beyond the objects: the apps its policies name and what Entra says about them.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    pub mirror: MirrorState,
    /// Entra app ids the policies name.
    pub policy_app_ids: BTreeSet<Uuid>,
    /// Display names of service principals by app id, to name new apps.
    pub app_names: BTreeMap<Uuid, String>,
    /// Present when the bundle carried `EntraMailSendGrants`.
    pub mail_send_grants: Option<BTreeSet<Uuid>>,
    /// The tenant the apps an import creates belong to: mailgate's own (`MAILGATE_ENTRA_TENANT_ID`), as the bundle
    /// comes from its tenant's Exchange. None: recorded as none, which token checks read as mailgate's own.
    pub home_tenant: Option<Uuid>,
}

/// Checks a recipient filter with the same OPATH parser that evaluates it; the error says where and what.
pub fn check_filter(text: &str) -> Result<(), String> {
    crate::policy::opath::Filter::parse(text)
        .map(drop)
        .map_err(|e| format!("invalid at position {}: {}", e.position, e.message))
}

#[cfg(test)]
mod tests {
    use super::check_filter;

    #[test]
    fn filters_are_parsed_as_opath() {
        assert!(check_filter("CustomAttribute1 -eq 'mailgate'").is_ok());
        assert!(check_filter("(Department -eq 'O''Brien') -and (City -like \"Osl*\")").is_ok());
        assert!(check_filter("  ").is_err());
        assert!(check_filter("CustomAttribute1 -eq 'mailgate").is_err());
        assert!(check_filter("(City -eq 'Oslo'").is_err());
        assert!(check_filter("City -eq 'Oslo')").is_err());
        assert!(check_filter("Departmnt -eq 'x'").is_err());
    }
}
