//! The mirrored objects: access policies and their scopes, the recipient directory, and RBAC for Applications. Those
//! that are plain data, which the database reads and writes as they are, are defined in domain::policy.

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;

pub use super::directory::{Directory, Group, RecipientEntry};
use super::opath::Filter;
pub use crate::domain::policy::{AccessRight, AppSelector, PolicyScope, RoleAssignment, ServicePrincipal};

#[derive(Clone, Debug)]
pub struct Policy {
    pub id: Uuid,
    pub apps: AppSelector,
    pub scope: PolicyScope,
    pub access_right: AccessRight,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct ManagementScope {
    pub id: Uuid,
    pub name: String,
    pub filter: Filter,
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
