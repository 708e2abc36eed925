//! The mirrored objects that are plain data, as the database stores them and the allowlist reads them: an access
//! policy's right, apps and scope, and RBAC for Applications' service principals and role assignments. What the
//! allowlist builds from them, and decides with: src/policy/.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Exchange's pointer to an Entra service principal (`New-ServicePrincipal`).
#[derive(Clone, Debug)]
pub struct ServicePrincipal {
    pub id: Uuid,
    pub app_id: Uuid,
    pub object_id: Uuid,
    pub display_name: String,
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
