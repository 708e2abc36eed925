//! The mirror as Postgres holds it now, in the same shape as a bundle's desired state.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;
use uuid::Uuid;

use super::state::*;
use crate::db::exchange_import as read;
pub use crate::db::exchange_import::AppRow;

#[derive(Debug, Default)]
pub struct Current {
    pub mirror: MirrorState,
    pub apps: Vec<AppRow>,
    /// The row behind each policy key; a policy that repeats another's key is in `duplicate_policies`.
    pub policy_ids: BTreeMap<PolicyKey, Uuid>,
    pub duplicate_policies: Vec<(PolicyKey, Uuid, String)>,
}

pub async fn load(db: &mut PgConnection) -> Result<Current, sqlx::Error> {
    let mut c = Current { apps: read::apps(&mut *db).await?, ..Current::default() };
    let m = &mut c.mirror;

    for r in crate::db::directory::list(&mut *db).await? {
        let state = RecipientState {
            object_id: r.object_id,
            user_principal_name: r.user_principal_name,
            recipient_type: r.recipient_type,
            recipient_type_details: r.recipient_type_details,
            display_name: r.display_name,
            properties: r.properties.0,
            email_addresses: r.email_addresses,
        };
        m.recipients.insert(r.address, state);
    }

    let groups = read::groups(&mut *db).await?;
    for g in groups {
        let state = GroupState {
            object_id: g.object_id,
            display_name: g.display_name,
            recipient_type_details: g.recipient_type_details,
        };
        m.groups.insert(g.address, state);
    }

    let members = read::members(&mut *db).await?;
    for r in members {
        let member = match (r.mailbox, r.child) {
            (Some(mb), _) => MemberRef::Mailbox(mb),
            (None, Some(g)) => MemberRef::Group(g),
            (None, None) => continue,
        };
        m.members.insert(MemberKey { group: r.group_address, member }, Present {});
    }

    let policies = read::policies(&mut *db).await?;
    for p in policies {
        let apps = if p.all_apps {
            AppSet::All
        } else {
            let apps = p.entra_ids.iter().zip(&p.names).map(|(id, name)| match id {
                Some(id) => PolicyApp::Entra(*id),
                None => PolicyApp::Local(name.clone().unwrap_or_default()),
            });
            AppSet::Apps(apps.collect::<BTreeSet<_>>())
        };
        let scope = match (p.scope_group, p.scope_mailbox) {
            (Some(g), _) => Scope::Group(g),
            (None, Some(mb)) => Scope::Mailbox(mb),
            (None, None) => continue,
        };
        let key = PolicyKey { apps, scope, access_right: p.access_right };
        if c.policy_ids.contains_key(&key) {
            c.duplicate_policies.push((key, p.id, p.description));
            continue;
        }
        c.policy_ids.insert(key.clone(), p.id);
        m.policies.insert(key, PolicyState { description: p.description });
    }

    let sps = read::service_principals(&mut *db).await?;
    for (app_id, object_id, display_name) in sps {
        m.service_principals.insert(app_id, ServicePrincipalState { object_id, display_name });
    }

    let scopes = read::scopes(&mut *db).await?;
    for (name, recipient_filter) in scopes {
        m.scopes.insert(name, ScopeState { recipient_filter });
    }

    let assignments = read::assignments(&mut *db).await?;
    for a in assignments {
        m.assignments.insert(a.name, AssignmentState { service_principal: a.app_id, role: a.role, scope: a.scope });
    }
    Ok(c)
}
