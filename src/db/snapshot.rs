//! Reads the whole mirror in one consistent view, for the decision snapshot (`policy::load` builds it). A handful of
//! queries over small tables (Exchange allows a few hundred policies); run only when the mirror changes.

use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::directory::RecipientRow;
use crate::domain::policy::{RoleAssignment, ServicePrincipal};

/// An access policy as stored: its scope is a group or a mailbox, its right a name.
#[derive(FromRow)]
pub struct PolicyRow {
    pub id: Uuid,
    pub all_apps: bool,
    pub scope_group_id: Option<Uuid>,
    pub scope_mailbox: Option<String>,
    pub access_right: String,
    pub description: String,
    pub app_ids: Vec<Uuid>,
}

#[derive(FromRow)]
pub struct GroupRow {
    pub id: Uuid,
    pub address: String,
    pub display_name: String,
    pub object_id: Option<Uuid>,
}

/// A group's direct member: a mailbox or another group.
pub struct MemberRow {
    pub group_id: Uuid,
    pub mailbox: Option<String>,
    pub member_group_id: Option<Uuid>,
}

pub struct AppRow {
    pub id: Uuid,
    pub entra_app_id: Option<Uuid>,
    pub has_object_id: bool,
    pub entra_mail_send: bool,
    pub unrestricted: bool,
}

/// A management scope with its recipient filter as stored text.
pub struct ScopeRow {
    pub id: Uuid,
    pub name: String,
    pub recipient_filter: String,
}

/// An (app, mailbox) pair denied locally until `until`.
pub struct CooldownRow {
    pub app_id: Uuid,
    pub mailbox: String,
    pub until: OffsetDateTime,
    pub reason: String,
}

/// The mirror's tables, as they stood at one moment.
pub struct Mirror {
    pub policies: Vec<PolicyRow>,
    pub groups: Vec<GroupRow>,
    pub members: Vec<MemberRow>,
    pub recipients: Vec<RecipientRow>,
    pub apps: Vec<AppRow>,
    pub service_principals: Vec<ServicePrincipal>,
    pub scopes: Vec<ScopeRow>,
    pub assignments: Vec<RoleAssignment>,
    /// Those still in force.
    pub cooldowns: Vec<CooldownRow>,
}

pub async fn read(pool: &PgPool) -> Result<Mirror, sqlx::Error> {
    // One consistent view: an import committing between two of these reads must not yield policies from after it
    // over groups from before it.
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let policies = sqlx::query_as!(
        PolicyRow,
        r#"SELECT p.id, p.all_apps, p.scope_group_id, p.scope_mailbox, p.access_right, p.description,
                  COALESCE(array_agg(pa.app_id) FILTER (WHERE pa.app_id IS NOT NULL), '{}') AS "app_ids!"
             FROM access_policies p LEFT JOIN access_policy_apps pa ON pa.policy_id = p.id
            GROUP BY p.id ORDER BY p.created_at, p.id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let groups = sqlx::query_as!(GroupRow, "SELECT id, address, display_name, object_id FROM groups")
        .fetch_all(&mut *tx)
        .await?;
    let members = sqlx::query_as!(MemberRow, "SELECT group_id, mailbox, member_group_id FROM group_members")
        .fetch_all(&mut *tx)
        .await?;
    let recipients = super::directory::list(&mut *tx).await?;
    let apps = sqlx::query_as!(
        AppRow,
        r#"SELECT id, entra_app_id, entra_object_id IS NOT NULL AS "has_object_id!", entra_mail_send, unrestricted
             FROM apps"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let service_principals =
        sqlx::query_as!(ServicePrincipal, "SELECT id, app_id, object_id, display_name FROM service_principals")
            .fetch_all(&mut *tx)
            .await?;
    let scopes = sqlx::query_as!(ScopeRow, "SELECT id, name, recipient_filter FROM management_scopes")
        .fetch_all(&mut *tx)
        .await?;
    let assignments = sqlx::query_as!(
        RoleAssignment,
        r#"SELECT id, name, service_principal_id AS service_principal, role, scope_id AS scope
             FROM role_assignments ORDER BY name"#
    )
    .fetch_all(&mut *tx)
    .await?;
    let cooldowns =
        sqlx::query_as!(CooldownRow, "SELECT app_id, mailbox, until, reason FROM access_cooldowns WHERE until > now()")
            .fetch_all(&mut *tx)
            .await?;
    Ok(Mirror { policies, groups, members, recipients, apps, service_principals, scopes, assignments, cooldowns })
}
