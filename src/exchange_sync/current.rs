//! The mirror as Postgres holds it now, in the same shape as a bundle's desired state.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::state::*;

#[derive(Clone, Debug, FromRow)]
pub struct AppRow {
    pub id: Uuid,
    pub name: String,
    pub entra_app_id: Option<Uuid>,
    pub entra_mail_send: bool,
    pub unrestricted: bool,
    pub roles: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Current {
    pub mirror: MirrorState,
    pub apps: Vec<AppRow>,
    /// The row behind each policy key; a policy that repeats another's key is in `duplicate_policies`.
    pub policy_ids: BTreeMap<PolicyKey, Uuid>,
    pub duplicate_policies: Vec<(PolicyKey, Uuid, String)>,
}

#[derive(FromRow)]
struct PolicyRow {
    id: Uuid,
    all_apps: bool,
    scope_group: Option<String>,
    scope_mailbox: Option<String>,
    access_right: String,
    description: String,
    entra_ids: Vec<Option<Uuid>>,
    names: Vec<Option<String>>,
}

pub async fn load(db: &mut PgConnection) -> Result<Current, sqlx::Error> {
    let mut c = Current {
        apps: sqlx::query_as(
            "SELECT id, name, entra_app_id, entra_mail_send, unrestricted, roles FROM apps ORDER BY name",
        )
        .fetch_all(&mut *db)
        .await?,
        ..Current::default()
    };
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

    let groups: Vec<(String, Option<Uuid>, String, String)> =
        sqlx::query_as("SELECT address, object_id, display_name, recipient_type_details FROM groups")
            .fetch_all(&mut *db)
            .await?;
    for (address, object_id, display_name, recipient_type_details) in groups {
        m.groups.insert(address, GroupState { object_id, display_name, recipient_type_details });
    }

    let members: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT g.address, gm.mailbox, child.address
           FROM group_members gm JOIN groups g ON g.id = gm.group_id
           LEFT JOIN groups child ON child.id = gm.member_group_id",
    )
    .fetch_all(&mut *db)
    .await?;
    for (group, mailbox, child) in members {
        let member = match (mailbox, child) {
            (Some(mb), _) => MemberRef::Mailbox(mb),
            (None, Some(g)) => MemberRef::Group(g),
            (None, None) => continue,
        };
        m.members.insert(MemberKey { group, member }, Present {});
    }

    let policies: Vec<PolicyRow> = sqlx::query_as(
        "SELECT p.id, p.all_apps, g.address AS scope_group, p.scope_mailbox, p.access_right, p.description,
                COALESCE(array_agg(a.entra_app_id ORDER BY a.name) FILTER (WHERE a.id IS NOT NULL), '{}') AS entra_ids,
                COALESCE(array_agg(a.name ORDER BY a.name) FILTER (WHERE a.id IS NOT NULL), '{}') AS names
           FROM access_policies p
           LEFT JOIN groups g ON g.id = p.scope_group_id
           LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
           LEFT JOIN apps a ON a.id = pa.app_id
          GROUP BY p.id, g.address
          ORDER BY p.created_at, p.id",
    )
    .fetch_all(&mut *db)
    .await?;
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

    let sps: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT app_id, object_id, display_name FROM service_principals").fetch_all(&mut *db).await?;
    for (app_id, object_id, display_name) in sps {
        m.service_principals.insert(app_id, ServicePrincipalState { object_id, display_name });
    }

    let scopes: Vec<(String, String)> =
        sqlx::query_as("SELECT name, recipient_filter FROM management_scopes").fetch_all(&mut *db).await?;
    for (name, recipient_filter) in scopes {
        m.scopes.insert(name, ScopeState { recipient_filter });
    }

    let assignments: Vec<(String, Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT ra.name, sp.app_id, ra.role, s.name
           FROM role_assignments ra JOIN service_principals sp ON sp.id = ra.service_principal_id
           LEFT JOIN management_scopes s ON s.id = ra.scope_id",
    )
    .fetch_all(&mut *db)
    .await?;
    for (name, service_principal, role, scope) in assignments {
        m.assignments.insert(name, AssignmentState { service_principal, role, scope });
    }
    Ok(c)
}
