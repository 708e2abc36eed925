//! Makes the mirror match a bundle: the diff is computed and executed inside one transaction, so the changes are
//! exactly the ones reported, and a failure changes nothing.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::diff::{Diff, diff};
use super::report::Report;
use super::state::*;
use super::{Desired, current};
use crate::admin::AdminError;
use crate::db;

pub use crate::db::exchange_import::IMPORT_LOCK;

/// Computes the diff; with `apply`, makes it and records `actor` on every change. Without, changes nothing.
pub async fn import(pool: &PgPool, desired: &Desired, actor: &str, apply: bool) -> Result<Report, AdminError> {
    let mut tx = pool.begin().await?;
    db::exchange_import::begin_import(&mut tx, actor).await?;
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

async fn execute(conn: &mut PgConnection, d: &Diff, home_tenant: Option<Uuid>) -> Result<(), sqlx::Error> {
    for (_, a) in &d.apps.added {
        let app = db::apps::NewApp {
            name: &a.name,
            entra_app_id: Some(a.entra_app_id),
            entra_tenant_id: home_tenant,
            entra_mail_send: a.entra_mail_send,
            ..db::apps::NewApp::default()
        };
        db::apps::create(&mut *conn, &app).await?;
    }
    for (_, _, a) in &d.apps.changed {
        db::apps::set_entra_mail_send(&mut *conn, a.entra_app_id, a.entra_mail_send).await?;
    }

    // Removals first, dependents before what they name.
    // A changed assignment is replaced: it may move to a scope or service principal that is added below.
    for name in d.assignments.removed.iter().map(|(k, _)| k).chain(d.assignments.changed.iter().map(|(k, _, _)| k)) {
        db::exchange_rbac::remove_assignment(&mut *conn, name).await?;
    }
    for (key, _) in &d.policies.removed {
        db::policies::remove(&mut *conn, d.policy_ids[key]).await?;
    }
    for (m, _) in &d.members.removed {
        let (mailbox, child) = member_columns(&m.member);
        db::groups::delete_member(&mut *conn, &m.group, mailbox, child).await?;
    }
    for (name, _) in &d.scopes.removed {
        db::exchange_rbac::remove_scope(&mut *conn, name).await?;
    }
    for (app_id, _) in &d.service_principals.removed {
        db::exchange_rbac::remove_principal_by_app_id(&mut *conn, *app_id).await?;
    }
    for (address, _) in &d.groups.removed {
        db::groups::remove(&mut *conn, address).await?;
    }
    for (address, _) in &d.recipients.removed {
        db::directory::remove(&mut *conn, address).await?;
    }

    for (address, r) in d.recipients.upserts() {
        let row = db::directory::RecipientRow {
            address: address.clone(),
            object_id: r.object_id,
            user_principal_name: r.user_principal_name.clone(),
            recipient_type: r.recipient_type.clone(),
            recipient_type_details: r.recipient_type_details.clone(),
            display_name: r.display_name.clone(),
            properties: sqlx::types::Json(r.properties.clone()),
            email_addresses: r.email_addresses.clone(),
        };
        db::directory::upsert(&mut *conn, &row).await?;
    }
    for (address, g) in d.groups.upserts() {
        db::groups::upsert(&mut *conn, address, g.object_id, &g.display_name, &g.recipient_type_details).await?;
    }
    for (m, _) in &d.members.added {
        let (mailbox, child) = member_columns(&m.member);
        db::groups::insert_member(&mut *conn, &m.group, mailbox, child).await?;
    }
    for (key, p) in &d.policies.added {
        let (group, mailbox) = match &key.scope {
            Scope::Group(g) => (Some(g.as_str()), None),
            Scope::Mailbox(m) => (None, Some(m.as_str())),
        };
        let ids: Option<Vec<Uuid>> = match &key.apps {
            AppSet::All => None,
            AppSet::Apps(apps) => {
                Some(apps.iter().filter_map(|a| if let PolicyApp::Entra(id) = a { Some(*id) } else { None }).collect())
            }
        };
        let all_apps = key.apps == AppSet::All;
        db::policies::create_by_names(
            &mut *conn,
            all_apps,
            ids.as_deref(),
            group,
            mailbox,
            &key.access_right,
            &p.description,
        )
        .await?;
    }
    for (key, _, p) in &d.policies.changed {
        db::policies::set_description(&mut *conn, d.policy_ids[key], &p.description).await?;
    }
    for (app_id, sp) in d.service_principals.upserts() {
        db::exchange_rbac::upsert_principal(&mut *conn, *app_id, sp.object_id, &sp.display_name).await?;
    }
    for (name, s) in d.scopes.upserts() {
        db::exchange_rbac::upsert_scope(&mut *conn, name, &s.recipient_filter).await?;
    }
    for (name, a) in d.assignments.upserts() {
        db::exchange_rbac::create_assignment_by_names(
            &mut *conn,
            name,
            a.service_principal,
            &a.role,
            a.scope.as_deref(),
        )
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
