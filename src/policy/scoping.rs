//! mailgate's own rule beside Exchange's: an app sends only where something of its own scopes it, and the grant that
//! access policies constrain.
//!
//! In Exchange an app that holds the tenant-wide Mail.Send grant and has no policy of its own may send as every
//! mailbox. mailgate refuses such an app (`unscoped_app`) unless an admin marked it `unrestricted`: only an access
//! policy that names the app itself (a policy for every app, `*`, does not) or a sending role assignment of its own
//! service principal scopes it. Sources: docs/policy-model.md.

use uuid::Uuid;

use super::decide::{Consideration, ConsideredKind};
use super::model::{AppGrants, AppSelector, RoleAssignment, SENDING_ROLES, Snapshot};

/// What names an app by itself.
#[derive(Clone, Debug, Default)]
pub struct AppScope {
    /// Access policies that list the app (not `*`).
    pub policies: Vec<Uuid>,
    /// Role assignments with a sending role held by the app's service principal, by name.
    pub assignments: Vec<String>,
}

impl AppScope {
    /// The app's own scope, given the role assignments of its service principal(s) (as `exchange_rbac::evaluate` found them).
    pub fn of<'a>(snapshot: &Snapshot, app: Uuid, assignments: impl IntoIterator<Item = &'a RoleAssignment>) -> Self {
        let policies = snapshot
            .policies
            .iter()
            .filter(|p| matches!(&p.apps, AppSelector::Apps(apps) if apps.contains(&app)))
            .map(|p| p.id)
            .collect();
        let assignments = assignments
            .into_iter()
            .filter(|a| SENDING_ROLES.contains(&a.role.as_str()))
            .map(|a| a.name.clone())
            .collect();
        Self { policies, assignments }
    }

    /// The app's own scope, looking up its service principal(s) in the snapshot.
    pub fn lookup(snapshot: &Snapshot, app: Uuid) -> Self {
        let grants = snapshot.apps.get(&app).cloned().unwrap_or_default();
        let principals: Vec<Uuid> = match grants.entra_app_id {
            Some(app_id) => {
                snapshot.service_principals.iter().filter(|sp| sp.app_id == app_id).map(|sp| sp.id).collect()
            }
            None => Vec::new(),
        };
        Self::of(snapshot, app, snapshot.assignments.iter().filter(|a| principals.contains(&a.service_principal)))
    }

    pub fn is_scoped(&self) -> bool {
        !self.policies.is_empty() || !self.assignments.is_empty()
    }

    pub fn consideration(&self, app_name: &str, unrestricted: bool) -> Consideration {
        let mut names: Vec<String> = self.policies.iter().map(|id| format!("access policy {id}")).collect();
        names.extend(self.assignments.iter().map(|a| format!("role assignment {a}")));
        let why = match (self.is_scoped(), unrestricted) {
            (true, false) => format!("{} names app {app_name} by itself", names.join(", ")),
            (true, true) => {
                format!("{} names app {app_name} by itself; it is also marked unrestricted", names.join(", "))
            }
            (false, true) => format!(
                "nothing of its own scopes app {app_name}, but an admin marked it unrestricted: it may send as every \
                 mailbox its access policies do not exclude"
            ),
            (false, false) => format!(
                "no access policy or role assignment names app {app_name} by itself (a policy for every app, `*`, \
                 does not count)"
            ),
        };
        Consideration {
            kind: ConsideredKind::AppScope,
            id: None,
            name: "the app's own scope".into(),
            matched: self.is_scoped() || unrestricted,
            why,
        }
    }
}

/// Why an app that nothing scopes is refused, and how to scope it.
pub fn unscoped_reason(app_name: &str) -> String {
    format!(
        "app {app_name} is named by no access policy or role assignment of its own (a policy for every app, `*`, does \
         not count), so it may send as no mailbox. Scope it: `mailgate policies new --app {app_name} --scope-group \
         GROUP --access-right RestrictAccess` (POST /v1/admin/policies), or, for an app with an Entra app id, a role \
         assignment of RBAC for Applications (POST /v1/admin/role-assignments). Only to let it send as every mailbox \
         no policy denies: `mailgate apps change {app_name} --unrestricted true` \
         (PATCH /v1/admin/apps/{app_name} {{\"unrestricted\": true}})"
    )
}

/// Where the grant that access policies constrain comes from, if the app holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Entra gave the app's identity the tenant-wide Mail.Send permission.
    Entra,
    /// An admin marked the app unrestricted.
    Unrestricted,
    /// The app has no Entra identity: Exchange holds nothing for it, and its registration in mailgate stands for the
    /// grant, so its own access policies alone decide.
    Registration,
    /// An app with an Entra identity that Entra did not give the grant.
    None,
}

impl Grant {
    pub fn of(app: &AppGrants) -> Self {
        if app.unrestricted {
            Self::Unrestricted
        } else if app.has_entra_identity && app.entra_mail_send {
            Self::Entra
        } else if app.has_entra_identity {
            Self::None
        } else {
            Self::Registration
        }
    }

    pub fn is_held(self) -> bool {
        self != Self::None
    }

    pub fn consideration(self, app_name: &str) -> Consideration {
        let why = match self {
            Grant::Entra => "the app's Entra identity holds it; access policies constrain it".to_owned(),
            Grant::Unrestricted => {
                format!("app {app_name} is marked unrestricted, which gives it the grant; access policies constrain it")
            }
            Grant::Registration => format!(
                "app {app_name} has no Entra identity: its registration in mailgate stands for the grant, and its own \
                 access policies constrain it"
            ),
            Grant::None => "the app's Entra identity does not hold it".to_owned(),
        };
        Consideration {
            kind: ConsideredKind::EntraGrant,
            id: None,
            name: "tenant-wide Mail.Send".into(),
            matched: self.is_held(),
            why,
        }
    }
}
