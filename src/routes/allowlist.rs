//! `/v1/access`: ask the allowlist "may app X send as mailbox Y, and why?", see which apps nothing scopes, and see
//! where it drifted from Exchange.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;

use crate::admin::apps;
use crate::auth::Role::{Admin, AuditRead};
use crate::db;
use crate::db::drift::DriftEvent;
use crate::domain::Mailbox;
use crate::error::{ApiError, Problem};
use crate::policy::scoping::AppScope;
use crate::policy::{Decision, decide};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::routes::query::StrictQuery;
use crate::state::AppState;

/// "May app X send as mailbox Y, and why?" — for those who manage or audit the allowlist.
pub fn routes() -> Routes {
    Routes::new()
        .guarded(&[Admin, AuditRead], routes!(test))
        .guarded(&[Admin, AuditRead], routes!(drift))
        .guarded(&[Admin, AuditRead], routes!(apps))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessTest {
    /// An app name or Entra app id.
    #[schema(schema_with = crate::admin::schema::app)]
    pub app: String,
    /// A mailbox address or object id.
    #[schema(schema_with = crate::admin::schema::mailbox)]
    pub mailbox: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTestResult {
    pub app: String,
    pub mailbox: String,
    /// `Granted` or `Denied`, as Test-ApplicationAccessPolicy's AccessCheckResult.
    pub access_check_result: String,
    pub decision: Decision,
}

/// Decide one app and mailbox as Exchange would — both Test cmdlets in one — with every policy and assignment considered.
#[utoipa::path(post, path = "/v1/access/test", tag = "access", request_body = AccessTest,
    responses((status = 200, body = AccessTestResult), (status = 422, body = Problem)))]
pub async fn test(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AccessTest>,
) -> Result<Json<AccessTestResult>, ApiError> {
    let app = apps::get(&state.pool, &input.app)
        .await
        .map_err(|_| crate::admin::AdminError::reference("app", format!("no app named `{}`", input.app)))?;
    let mailbox =
        Mailbox::parse(&input.mailbox).map_err(|e| ApiError::invalid("mailbox", format!("`mailbox`: {e}")))?;
    let snapshot = state.policy.get_for_app(&state.pool, app.id).await?;
    let decision = decide(&snapshot, app.id, &app.name, &mailbox.key());
    Ok(Json(AccessTestResult {
        app: app.name,
        mailbox: decision.mailbox.clone(),
        access_check_result: format!("{:?}", decision.access),
        decision,
    }))
}

/// How an app's sending is scoped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeState {
    /// An access policy or role assignment of its own names it: it sends where they allow.
    Scoped,
    /// Nothing of its own names it, and an admin marked it unrestricted: it may send as every mailbox no access
    /// policy denies.
    Unrestricted,
    /// Nothing of its own names it: it sends as no mailbox (`unscoped_app`).
    Unscoped,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppScopeView {
    pub app: String,
    pub scope: ScopeState,
    /// The app's roles in mailgate: only one holding `Mail.Send` sends at all.
    pub roles: Vec<String>,
    /// Marked unrestricted by an admin (also shown for a scoped app, whose own policies then narrow it).
    pub unrestricted: bool,
    /// Its Entra identity holds the tenant-wide Entra Mail.Send grant.
    pub entra_mail_send: bool,
    /// Access policies that name the app by itself.
    pub policies: Vec<Uuid>,
    /// Role assignments with a sending role held by its service principal.
    pub role_assignments: Vec<String>,
}

/// Every app, with what scopes its sending: unrestricted apps may send as every mailbox no policy denies, unscoped
/// apps send as no mailbox.
#[utoipa::path(get, path = "/v1/access/apps", tag = "access", responses((status = 200, body = Vec<AppScopeView>)))]
pub async fn apps(State(state): State<AppState>) -> Result<Json<Vec<AppScopeView>>, ApiError> {
    let apps = db::apps::list(&state.pool).await?;
    let snapshot = state.policy.get_for_apps(&state.pool, apps.iter().map(|app| app.id)).await?;
    let views = apps
        .into_iter()
        .map(|app| {
            let scope = AppScope::lookup(&snapshot, app.id);
            let state = match (scope.is_scoped(), app.unrestricted) {
                (true, _) => ScopeState::Scoped,
                (false, true) => ScopeState::Unrestricted,
                (false, false) => ScopeState::Unscoped,
            };
            AppScopeView {
                app: app.name,
                scope: state,
                roles: app.roles,
                unrestricted: app.unrestricted,
                entra_mail_send: app.entra_mail_send,
                policies: scope.policies,
                role_assignments: scope.assignments,
            }
        })
        .collect();
    Ok(Json(views))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DriftParams {
    /// RFC 3339; events at or after.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// 1-1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Pairs the mirror granted but Exchange refused (403 ErrorAccessDenied), newest first.
#[utoipa::path(get, path = "/v1/access/drift", tag = "access", params(DriftParams),
    responses((status = 200, body = Vec<DriftEvent>), (status = 422, body = Problem)))]
pub async fn drift(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<DriftParams>,
) -> Result<Json<Vec<DriftEvent>>, ApiError> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "`limit` must be between 1 and 1000"));
    }
    let since = p
        .since
        .as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| ApiError::invalid("since", "`since` must be an RFC 3339 time"))
        })
        .transpose()?;
    // Read where the audit log is read (the dashboard shows it beside the log).
    let failed = crate::routes::audit::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    Ok(Json(db::drift::list(&mut *tx, since, limit).await.map_err(&failed)?))
}
