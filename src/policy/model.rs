//! The mirrored objects: access policies, and the groups (with nested groups) that scope them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum AccessRight {
    /// The app may reach only mailboxes in the scope group.
    RestrictAccess,
    /// The app may reach every mailbox except those in the scope group.
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

#[derive(Clone, Debug)]
pub struct Policy {
    pub id: Uuid,
    pub apps: AppSelector,
    pub scope_group: Uuid,
    pub access_right: AccessRight,
    pub description: String,
}

#[derive(Clone, Debug, Default)]
pub struct Group {
    pub address: String,
    pub mailboxes: HashSet<String>,
    pub subgroups: Vec<Uuid>,
}

/// Groups and their members. Membership is transitive, as Exchange counts members of nested groups.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    pub groups: HashMap<Uuid, Group>,
}

impl Directory {
    /// Whether `mailbox` (a canonical key) is in `group`, directly or through nested groups.
    /// A cycle cannot loop: each group is visited once.
    pub fn contains(&self, group: Uuid, mailbox: &str) -> bool {
        let mut seen = HashSet::new();
        let mut stack = vec![group];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(g) = self.groups.get(&id) else {
                continue;
            };
            if g.mailboxes.contains(mailbox) {
                return true;
            }
            stack.extend(g.subgroups.iter().copied());
        }
        false
    }

    pub fn address(&self, group: Uuid) -> &str {
        self.groups.get(&group).map_or("(deleted group)", |g| g.address.as_str())
    }
}

/// Everything a decision needs, held in memory and replaced whole when the mirror changes.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub policies: Vec<Policy>,
    pub directory: Directory,
}
