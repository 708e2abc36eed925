//! `/v1/admin/import` and `/v1/admin/export`: the mirror from and to Exchange Online.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::auth::Role::Admin;
use crate::error::{ApiError, Problem};
use crate::exchange_sync::{self, Bundle, Report};
use crate::routes::access::Routes;
use crate::routes::json_body::ApiJson;
use crate::routes::query::StrictQuery;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().guarded(&[Admin], routes!(import)).guarded(&[Admin], routes!(export))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true` makes the changes; without it, or `false`, the diff is only reported. Any other value is refused.
    #[serde(default)]
    pub apply: bool,
}

/// Compare a bundle from `Export-MailgateBundle.ps1` with the mirror, and with `apply=true` make the mirror match
/// it in one transaction. Import is a full mirror: objects missing from the bundle are removed (apps and keys never).
#[utoipa::path(
    post, path = "/v1/admin/import", tag = "admin", params(ImportParams),
    request_body(content = inline(BundleSchema), description = "The bundle: each key one cmdlet's ConvertTo-Json output"),
    responses(
        (status = 200, body = Report),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "The bundle holds what Exchange would not; `field` names it"),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    StrictQuery(params): StrictQuery<ImportParams>,
    ApiJson(bundle): ApiJson<Bundle>,
) -> Result<Json<Report>, ApiError> {
    let mut desired = exchange_sync::normalize(&bundle)?;
    desired.home_tenant = crate::admin::apps::home_tenant(&state.settings);
    let actor = format!("import:http:{}", caller.app_name);
    Ok(Json(exchange_sync::import(&state.pool, &desired, &actor, params.apply).await?))
}

/// The bundle's outline as `exchange_sync::Bundle` reads it; each cmdlet's own fields are checked when the bundle is normalized.
struct BundleSchema;

impl utoipa::PartialSchema for BundleSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, Type};
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        // One cmdlet's output: an array of objects, one object, or null.
        let output = || -> Schema {
            AnyOfBuilder::new().item(ArrayBuilder::new().items(object())).item(object()).item(null()).into()
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let grants = AnyOfBuilder::new().item(string()).item(ArrayBuilder::new().items(string())).item(null());
        let members = AnyOfBuilder::new().item(object().additional_properties(Some(output()))).item(null());
        let mut bundle = object().additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for key in [
            "ApplicationAccessPolicies",
            "Recipients",
            "ServicePrincipals",
            "ManagementScopes",
            "ManagementRoleAssignments",
        ] {
            bundle = bundle.property(key, output()).required(key);
        }
        bundle.property("GroupMembers", members).required("GroupMembers").property("EntraMailSendGrants", grants).into()
    }
}

impl utoipa::ToSchema for BundleSchema {}

/// The PowerShell that would create the mirror's groups, policies and RBAC assignments in Exchange Online.
#[utoipa::path(
    get, path = "/v1/admin/export", tag = "admin",
    responses((status = 200, body = String, content_type = "text/plain"))
)]
pub async fn export(State(state): State<AppState>) -> Result<Response, ApiError> {
    let script = exchange_sync::export(&state.pool).await?;
    let mut response = script.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}
