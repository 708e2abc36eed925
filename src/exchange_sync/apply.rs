//! Makes the mirror match a bundle: the diff is computed and executed inside one transaction, so the changes are
//! exactly the ones reported, and a failure changes nothing.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::diff::{Diff, diff};
use super::report::Report;
use super::state::*;
use super::{Desired, current};
use crate::admin::AdminError;

/// The advisory lock key that serializes imports: two at once would each diff against a state the other is changing.
/// Imports alone take it; delivery takes no advisory lock, so an import (even a dry run) never holds up sends.
pub const IMPORT_LOCK: i64 = 0x6d67_2d69_6d70_6f72; // "mg-impor"

/// Computes the diff; with `apply`, makes it and records `actor` on every change. Without, changes nothing.
pub async fn import(pool: &PgPool, desired: &Desired, actor: &str, apply: bool) -> Result<Report, AdminError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('mailgate.actor', $1, true)").bind(actor).execute(&mut *tx).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORT_LOCK).execute(&mut *tx).await?;
    let current = current::load(&mut tx).await?;
    let d = diff(desired, &current);
    if !apply {
        tx.rollback().await?;
        return Ok(d.report(false));
    }
    execute(&mut tx, &d, desired.home_tenant).await?;
    tx.commit().await?;
    Ok(d.report(true))
}

async fn execute(db: &mut PgConnection, d: &Diff, home_tenant: Option<Uuid>) -> Result<(), sqlx::Error> {
    for (_, a) in &d.apps.added {
        sqlx::query(
            "INSERT INTO apps (id, name, entra_app_id, entra_tenant_id, entra_mail_send) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(&a.name)
        .bind(a.entra_app_id)
        .bind(home_tenant)
        .bind(a.entra_mail_send)
        .execute(&mut *db)
        .await?;
    }
    for (_, _, a) in &d.apps.changed {
        sqlx::query("UPDATE apps SET entra_mail_send = $2 WHERE entra_app_id = $1")
            .bind(a.entra_app_id)
            .bind(a.entra_mail_send)
            .execute(&mut *db)
            .await?;
    }

    // Removals first, dependents before what they name.
    // A changed assignment is replaced: it may move to a scope or service principal that is added below.
    for name in d.assignments.removed.iter().map(|(k, _)| k).chain(d.assignments.changed.iter().map(|(k, _, _)| k)) {
        sqlx::query("DELETE FROM role_assignments WHERE name = $1").bind(name).execute(&mut *db).await?;
    }
    for (key, _) in &d.policies.removed {
        sqlx::query("DELETE FROM access_policies WHERE id = $1").bind(d.policy_ids[key]).execute(&mut *db).await?;
    }
    for (m, _) in &d.members.removed {
        let (mailbox, child) = member_columns(&m.member);
        sqlx::query(
            "DELETE FROM group_members WHERE group_id = (SELECT id FROM groups WHERE address = $1)
                AND (mailbox = $2 OR member_group_id = (SELECT id FROM groups WHERE address = $3))",
        )
        .bind(&m.group)
        .bind(mailbox)
        .bind(child)
        .execute(&mut *db)
        .await?;
    }
    for (name, _) in &d.scopes.removed {
        sqlx::query("DELETE FROM management_scopes WHERE name = $1").bind(name).execute(&mut *db).await?;
    }
    for (app_id, _) in &d.service_principals.removed {
        sqlx::query("DELETE FROM service_principals WHERE app_id = $1").bind(app_id).execute(&mut *db).await?;
    }
    for (address, _) in &d.groups.removed {
        sqlx::query("DELETE FROM groups WHERE address = $1").bind(address).execute(&mut *db).await?;
    }
    for (address, _) in &d.recipients.removed {
        sqlx::query("DELETE FROM recipients WHERE address = $1").bind(address).execute(&mut *db).await?;
    }

    for (address, r) in d.recipients.upserts() {
        let row = crate::db::directory::RecipientRow {
            address: address.clone(),
            object_id: r.object_id,
            user_principal_name: r.user_principal_name.clone(),
            recipient_type: r.recipient_type.clone(),
            recipient_type_details: r.recipient_type_details.clone(),
            display_name: r.display_name.clone(),
            properties: sqlx::types::Json(r.properties.clone()),
            email_addresses: r.email_addresses.clone(),
        };
        crate::db::directory::upsert(&mut *db, &row).await?;
    }
    for (address, g) in d.groups.upserts() {
        sqlx::query(
            "INSERT INTO groups (id, address, object_id, display_name, recipient_type_details) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (address) DO UPDATE SET object_id = EXCLUDED.object_id,
                    display_name = EXCLUDED.display_name, recipient_type_details = EXCLUDED.recipient_type_details",
        )
        .bind(Uuid::now_v7())
        .bind(address)
        .bind(g.object_id)
        .bind(&g.display_name)
        .bind(&g.recipient_type_details)
        .execute(&mut *db)
        .await?;
    }
    for (m, _) in &d.members.added {
        let (mailbox, child) = member_columns(&m.member);
        sqlx::query(
            "INSERT INTO group_members (group_id, mailbox, member_group_id)
             SELECT (SELECT id FROM groups WHERE address = $1), $2, (SELECT id FROM groups WHERE address = $3)",
        )
        .bind(&m.group)
        .bind(mailbox)
        .bind(child)
        .execute(&mut *db)
        .await?;
    }
    for (key, p) in &d.policies.added {
        let id = Uuid::now_v7();
        let (group, mailbox) = match &key.scope {
            Scope::Group(g) => (Some(g), None),
            Scope::Mailbox(m) => (None, Some(m)),
        };
        sqlx::query(
            "INSERT INTO access_policies (id, all_apps, scope_group_id, scope_mailbox, access_right, description)
             VALUES ($1, $2, (SELECT id FROM groups WHERE address = $3), $4, $5, $6)",
        )
        .bind(id)
        .bind(key.apps == AppSet::All)
        .bind(group)
        .bind(mailbox)
        .bind(&key.access_right)
        .bind(&p.description)
        .execute(&mut *db)
        .await?;
        if let AppSet::Apps(apps) = &key.apps {
            let ids: Vec<Uuid> =
                apps.iter().filter_map(|a| if let PolicyApp::Entra(id) = a { Some(*id) } else { None }).collect();
            sqlx::query(
                "INSERT INTO access_policy_apps (policy_id, app_id) SELECT $1, id FROM apps WHERE entra_app_id = ANY($2)",
            )
            .bind(id)
            .bind(&ids)
            .execute(&mut *db)
            .await?;
        }
    }
    for (key, _, p) in &d.policies.changed {
        sqlx::query("UPDATE access_policies SET description = $2 WHERE id = $1")
            .bind(d.policy_ids[key])
            .bind(&p.description)
            .execute(&mut *db)
            .await?;
    }
    for (app_id, sp) in d.service_principals.upserts() {
        sqlx::query(
            "INSERT INTO service_principals (id, app_id, object_id, display_name) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app_id) DO UPDATE SET object_id = EXCLUDED.object_id, display_name = EXCLUDED.display_name",
        )
        .bind(Uuid::now_v7())
        .bind(app_id)
        .bind(sp.object_id)
        .bind(&sp.display_name)
        .execute(&mut *db)
        .await?;
    }
    for (name, s) in d.scopes.upserts() {
        sqlx::query(
            "INSERT INTO management_scopes (id, name, recipient_filter) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET recipient_filter = EXCLUDED.recipient_filter",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(&s.recipient_filter)
        .execute(&mut *db)
        .await?;
    }
    for (name, a) in d.assignments.upserts() {
        sqlx::query(
            "INSERT INTO role_assignments (id, name, service_principal_id, role, scope_id)
             VALUES ($1, $2, (SELECT id FROM service_principals WHERE app_id = $3), $4,
                     (SELECT id FROM management_scopes WHERE name = $5))",
        )
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(a.service_principal)
        .bind(&a.role)
        .bind(&a.scope)
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}

fn member_columns(m: &MemberRef) -> (Option<&str>, Option<&str>) {
    match m {
        MemberRef::Mailbox(mb) => (Some(mb.as_str()), None),
        MemberRef::Group(g) => (None, Some(g.as_str())),
    }
}
