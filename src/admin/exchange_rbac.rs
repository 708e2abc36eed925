//! RBAC for Applications: New-ServicePrincipal, New-ManagementScope, New-ManagementRoleAssignment and their removal.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Actor, AdminError, is_unique_violation};
use crate::db;
use crate::db::exchange_rbac::{AssignmentRow, ScopeRow, ServicePrincipalRow};
use crate::error::ErrorCode;
use crate::policy::model::RBAC_ROLES as ROLES;
use crate::policy::opath::Filter;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalInput {
    pub app_id: Uuid,
    pub object_id: Uuid,
    #[serde(default)]
    pub display_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    #[schema(schema_with = crate::admin::schema::rbac_name)]
    pub name: String,
    /// An OPATH recipient filter, e.g. `CustomAttribute1 -eq 'mailgate'`.
    #[schema(min_length = 1)]
    pub recipient_restriction_filter: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeChange {
    #[schema(min_length = 1)]
    pub recipient_restriction_filter: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentInput {
    #[schema(schema_with = crate::admin::schema::rbac_name)]
    pub name: String,
    /// The service principal's app id or object id.
    pub app: Uuid,
    #[schema(schema_with = crate::admin::schema::rbac_role)]
    pub role: String,
    /// A management scope's name; absent for organisation-wide.
    pub scope: Option<String>,
}

fn conflict(what: String) -> impl FnOnce(sqlx::Error) -> AdminError {
    move |e| if is_unique_violation(&e) { AdminError::Conflict(what) } else { e.into() }
}

fn name(field: &str, value: &str) -> Result<(), AdminError> {
    if value.trim().is_empty() || value.chars().count() > 256 || value.contains(['\r', '\n']) {
        return Err(AdminError::invalid(
            field,
            format!("`{field}` must be one non-empty line of at most 256 characters"),
        ));
    }
    Ok(())
}

/// Parses a filter, or says where and what is wrong.
pub fn filter(field: &str, text: &str) -> Result<Filter, AdminError> {
    Filter::parse(text).map_err(|e| AdminError::Refused {
        code: ErrorCode::InvalidFilter,
        field: field.to_owned(),
        detail: format!("the filter is invalid at position {}: {}", e.position, e.message),
    })
}

pub async fn create_principal(
    pool: &PgPool,
    actor: &Actor,
    input: &PrincipalInput,
) -> Result<ServicePrincipalRow, AdminError> {
    let mut tx = actor.begin(pool).await?;
    let sp = db::exchange_rbac::create_principal(&mut *tx, input.app_id, input.object_id, &input.display_name)
        .await
        .map_err(conflict(format!(
            "a service principal for app {} or object {} exists",
            input.app_id, input.object_id
        )))?;
    tx.commit().await?;
    Ok(sp)
}

pub async fn remove_principal(pool: &PgPool, actor: &Actor, id: Uuid) -> Result<(), AdminError> {
    let sp = db::exchange_rbac::find_principal(pool, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no service principal {id}")))?;
    let mut tx = actor.begin(pool).await?;
    db::exchange_rbac::remove_principal(&mut *tx, sp.id).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_scope(pool: &PgPool, actor: &Actor, input: &ScopeInput) -> Result<ScopeRow, AdminError> {
    name("name", &input.name)?;
    let parsed = filter("recipient_restriction_filter", &input.recipient_restriction_filter)?;
    let mut tx = actor.begin(pool).await?;
    let scope = db::exchange_rbac::create_scope(&mut *tx, &input.name, &parsed.to_string())
        .await
        .map_err(conflict(format!("a management scope named `{}` exists", input.name)))?;
    tx.commit().await?;
    Ok(scope)
}

pub async fn change_scope(
    pool: &PgPool,
    actor: &Actor,
    scope: &str,
    change: &ScopeChange,
) -> Result<ScopeRow, AdminError> {
    let parsed = filter("recipient_restriction_filter", &change.recipient_restriction_filter)?;
    let mut tx = actor.begin(pool).await?;
    if !db::exchange_rbac::set_scope_filter(&mut *tx, scope, &parsed.to_string()).await? {
        return Err(AdminError::NotFound(format!("no management scope `{scope}`")));
    }
    tx.commit().await?;
    db::exchange_rbac::find_scope(pool, scope)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no management scope `{scope}`")))
}

pub async fn remove_scope(pool: &PgPool, actor: &Actor, scope: &str) -> Result<(), AdminError> {
    let mut tx = actor.begin(pool).await?;
    match db::exchange_rbac::remove_scope(&mut *tx, scope).await {
        Ok(true) => {}
        Ok(false) => return Err(AdminError::NotFound(format!("no management scope `{scope}`"))),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("23503") => {
            return Err(AdminError::Conflict(format!(
                "scope `{scope}` is used by a role assignment; remove that first"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(())
}

pub async fn create_assignment(
    pool: &PgPool,
    actor: &Actor,
    input: &AssignmentInput,
) -> Result<AssignmentRow, AdminError> {
    name("name", &input.name)?;
    if !ROLES.contains(&input.role.as_str()) {
        return Err(AdminError::invalid(
            "role",
            format!("`{}` is not an RBAC for Applications role; one of {}", input.role, ROLES.join(", ")),
        ));
    }
    let sp = db::exchange_rbac::find_principal(pool, input.app).await?.ok_or_else(|| {
        AdminError::reference(
            "app",
            format!("no service principal for {} (create it first, as New-ServicePrincipal)", input.app),
        )
    })?;
    let scope = match &input.scope {
        None => None,
        Some(s) => Some(
            db::exchange_rbac::find_scope(pool, s)
                .await?
                .ok_or_else(|| AdminError::reference("scope", format!("no management scope `{s}`")))?
                .id,
        ),
    };
    let mut tx = actor.begin(pool).await?;
    db::exchange_rbac::create_assignment(&mut *tx, &input.name, sp.id, &input.role, scope)
        .await
        .map_err(conflict(format!("a role assignment named `{}` exists", input.name)))?;
    tx.commit().await?;
    db::exchange_rbac::find_assignment(pool, &input.name).await?.ok_or_else(|| AdminError::NotFound(input.name.clone()))
}

pub async fn remove_assignment(pool: &PgPool, actor: &Actor, assignment: &str) -> Result<(), AdminError> {
    let mut tx = actor.begin(pool).await?;
    if !db::exchange_rbac::remove_assignment(&mut *tx, assignment).await? {
        return Err(AdminError::NotFound(format!("no role assignment `{assignment}`")));
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentChange {
    /// A management scope's name, or null for organisation-wide (Set-ManagementRoleAssignment -CustomResourceScope).
    pub scope: Option<String>,
}

pub async fn get_principal(pool: &PgPool, id: Uuid) -> Result<ServicePrincipalRow, AdminError> {
    db::exchange_rbac::find_principal(pool, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no service principal {id}")))
}

pub async fn get_scope(pool: &PgPool, name: &str) -> Result<ScopeRow, AdminError> {
    db::exchange_rbac::find_scope(pool, name)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no management scope `{name}`")))
}

pub async fn get_assignment(pool: &PgPool, name: &str) -> Result<AssignmentRow, AdminError> {
    db::exchange_rbac::find_assignment(pool, name)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no role assignment `{name}`")))
}

pub async fn change_assignment(
    pool: &PgPool,
    actor: &Actor,
    name: &str,
    change: &AssignmentChange,
) -> Result<AssignmentRow, AdminError> {
    let scope = match &change.scope {
        None => None,
        Some(s) => Some(
            get_scope(pool, s)
                .await
                .map_err(|_| AdminError::reference("scope", format!("no management scope `{s}`")))?
                .id,
        ),
    };
    let mut tx = actor.begin(pool).await?;
    if !db::exchange_rbac::set_assignment_scope(&mut *tx, name, scope).await? {
        return Err(AdminError::NotFound(format!("no role assignment `{name}`")));
    }
    tx.commit().await?;
    get_assignment(pool, name).await
}
