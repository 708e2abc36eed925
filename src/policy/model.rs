//! The mirrored objects: access policies and their scopes, the recipient directory, and RBAC for Applications.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use super::directory::{Directory, Group, RecipientEntry};
use super::opath::Filter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AccessRight {
    /// The app may reach only mailboxes in the scope.
    RestrictAccess,
    /// The app may reach every mailbox except those in the scope.
    DenyAccess,
}

impl AccessRight {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RestrictAccess => "RestrictAccess",
            Self::DenyAccess => "DenyAccess",
        }
    }
}

impl fmt::Display for AccessRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessRight {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RestrictAccess" => Ok(Self::RestrictAccess),
            "DenyAccess" => Ok(Self::DenyAccess),
            other => Err(format!("`{other}` is not an access right; expected RestrictAccess or DenyAccess")),
        }
    }
}

/// Exchange's `-AppId`: a list of apps, or `*` for every app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppSelector {
    All,
    Apps(Vec<Uuid>),
}

impl AppSelector {
    pub fn includes(&self, app: Uuid) -> bool {
        match self {
            Self::All => true,
            Self::Apps(apps) => apps.contains(&app),
        }
    }
}

/// What a policy's `-PolicyScopeGroupId` names: a mail-enabled security group, or one mailbox / mail user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyScope {
    Group(Uuid),
    Mailbox(String),
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub id: Uuid,
    pub apps: AppSelector,
    pub scope: PolicyScope,
    pub access_right: AccessRight,
    pub description: String,
}

/// Exchange's pointer to an Entra service principal (`New-ServicePrincipal`).
#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    pub id: Uuid,
    pub app_id: Uuid,
    pub object_id: Uuid,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub struct ManagementScope {
    pub id: Uuid,
    pub name: String,
    pub filter: Filter,
}

#[derive(Clone, Debug)]
pub struct RoleAssignment {
    pub id: Uuid,
    pub name: String,
    pub service_principal: Uuid,
    pub role: String,
    /// None: organisation-wide.
    pub scope: Option<Uuid>,
}

/// The roles RBAC for Applications defines (the schema's `role_assignments.role` check lists the same).
pub const RBAC_ROLES: [&str; 13] = [
    "Application Mail.Send",
    "Application Mail.Read",
    "Application Mail.ReadBasic",
    "Application Mail.ReadWrite",
    "Application Mail Full Access",
    "Application Exchange Full Access",
    "Application MailboxSettings.Read",
    "Application MailboxSettings.ReadWrite",
    "Application Calendars.Read",
    "Application Calendars.ReadWrite",
    "Application Contacts.Read",
    "Application Contacts.ReadWrite",
    "Application EWS.AccessAsApp",
];

/// The roles of RBAC for Applications that let an app send as a mailbox.
pub const SENDING_ROLES: [&str; 3] =
    ["Application Mail.Send", "Application Mail Full Access", "Application Exchange Full Access"];

/// What the mirror knows about a caller app beyond its policies.
#[derive(Clone, Debug, Default)]
pub struct AppGrants {
    pub entra_app_id: Option<Uuid>,
    /// The app has an Entra identity (an app id or a service principal object id); without one it calls with API
    /// keys only, and Exchange holds no grant for it.
    pub has_entra_identity: bool,
    /// Its Entra identity holds the tenant-wide Entra `Mail.Send` application permission, which access policies
    /// constrain.
    pub entra_mail_send: bool,
    /// An admin let it send as every mailbox its access policies do not exclude, with no policy or role assignment
    /// of its own.
    pub unrestricted: bool,
}

/// Everything a decision needs, held in memory and replaced whole when the mirror changes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub policies: Vec<Policy>,
    pub directory: Directory,
    pub apps: HashMap<Uuid, AppGrants>,
    pub service_principals: Vec<ServicePrincipal>,
    pub scopes: HashMap<Uuid, ManagementScope>,
    pub assignments: Vec<RoleAssignment>,
    /// (app, mailbox) pairs denied locally after Exchange refused them, until the given time.
    pub cooldowns: HashMap<(Uuid, String), (OffsetDateTime, String)>,
    /// When the directory lists mailboxes, whether a name it does not know may still be sent as
    /// (`MAILGATE_ALLOW_UNKNOWN_MAILBOXES`). With an empty directory every name is taken as given.
    pub allow_unknown_mailboxes: bool,
}
