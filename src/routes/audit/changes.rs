//! `GET /v1/audit/changes`: every change to apps, keys and the mirror — who, what, before and after.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::encode_cursor;
use crate::db;
use crate::db::changes::ChangeEvent;
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// apps, api_keys, groups, group_members, recipients, access_policies, access_policy_apps, service_principals,
    /// management_scopes, role_assignments, access_cooldowns.
    #[param(schema_with = object_type)]
    pub object_type: Option<String>,
    /// 1-1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangePage {
    pub changes: Vec<ChangeEvent>,
    pub next_cursor: Option<String>,
}

const TYPES: [&str; 11] = [
    "apps",
    "api_keys",
    "groups",
    "group_members",
    "recipients",
    "access_policies",
    "access_policy_apps",
    "service_principals",
    "management_scopes",
    "role_assignments",
    "access_cooldowns",
];

fn object_type() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(TYPES))
        .into()
}

#[utoipa::path(get, path = "/v1/audit/changes", tag = "audit", params(ChangeParams),
    responses((status = 200, body = ChangePage), (status = 422, body = Problem)))]
pub async fn changes(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<ChangeParams>,
) -> Result<Json<ChangePage>, ApiError> {
    if let Some(t) = &p.object_type
        && !TYPES.contains(&t.as_str())
    {
        return Err(ApiError::invalid("object_type", format!("`{t}` is not one of {}", TYPES.join(", "))));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "`limit` must be between 1 and 1000"));
    }
    let before = p
        .cursor
        .as_deref()
        .map(|c| {
            super::params::decode_cursor(c)
                .ok_or_else(|| ApiError::invalid("cursor", "`cursor` is not one this service issued"))
        })
        .transpose()?;
    let failed = super::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    let mut changes =
        db::changes::list(&mut *tx, p.object_type.as_deref(), before, limit + 1).await.map_err(&failed)?;
    drop(tx);
    let more = changes.len() as i64 > limit;
    changes.truncate(limit as usize);
    let next_cursor = more.then(|| changes.last().map(|c| encode_cursor(c.id))).flatten();
    Ok(Json(ChangePage { changes, next_cursor }))
}
