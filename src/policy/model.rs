//! The mirrored objects: access policies and their scopes, the recipient directory, and RBAC for Applications.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

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

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub address: String,
    pub display_name: String,
    pub object_id: Option<Uuid>,
    pub mailboxes: HashSet<String>,
    pub subgroups: Vec<Uuid>,
}

/// A mailbox or mail user from the directory, with the properties recipient filters read.
#[derive(Clone, Debug, Default)]
pub struct RecipientEntry {
    pub address: String,
    pub object_id: Option<Uuid>,
    pub recipient_type: String,
    pub recipient_type_details: String,
    pub display_name: String,
    /// OPATH property name → value.
    pub properties: HashMap<String, String>,
    pub email_addresses: Vec<String>,
}

/// Groups and recipients. Group membership is transitive, as Exchange counts members of nested groups.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub groups: HashMap<Uuid, Group>,
    pub recipients: Vec<RecipientEntry>,
}

impl Directory {
    /// Whether any of `keys` (a mailbox's address and object id) is in `group`, directly or through nested
    /// groups. A cycle cannot loop: each group is visited once.
    pub fn contains(&self, group: Uuid, keys: &[String]) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![group];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(g) = self.groups.get(&id) else { continue };
            if keys.iter().any(|k| g.mailboxes.contains(k)) {
                return true;
            }
            stack.extend(g.subgroups.iter().copied());
        }
        false
    }

    pub fn address(&self, group: Uuid) -> &str {
        self.groups.get(&group).map_or("(deleted group)", |g| g.address.as_str())
    }

    /// The directory entry for a mailbox named by address or object id.
    pub fn recipient(&self, key: &str) -> Option<&RecipientEntry> {
        let id = Uuid::parse_str(key).ok();
        self.recipients.iter().find(|r| r.address == key || (id.is_some() && r.object_id == id))
    }

    /// Every name a mailbox goes by here: the key it was given, plus its address and object id when known.
    pub fn keys(&self, mailbox: &str) -> Vec<String> {
        let mut keys = vec![mailbox.to_owned()];
        if let Some(r) = self.recipient(mailbox) {
            keys.push(r.address.clone());
            keys.extend(r.object_id.map(|id| id.to_string()));
        }
        keys.sort();
        keys.dedup();
        keys
    }
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
    /// Holds the tenant-wide Entra `Mail.Send` application permission, which access policies constrain.
    pub entra_mail_send: bool,
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
}
