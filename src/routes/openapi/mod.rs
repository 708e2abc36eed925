//! The OpenAPI document: generated from the handlers' annotations, committed as openapi/openapi.json.

mod refusals;

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::access::{Access, ENDPOINTS};
use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "mailgate", description = "Send mail through Microsoft Graph under a local allowlist that mirrors Exchange Online's policies."),
    components(schemas(Problem)),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "messages", description = "Sending mail and reading its outcome"),
        (name = "audit", description = "The audit log and its statistics"),
        (name = "graph", description = "Graph-compatible sendMail for apps already written against Graph"),
        (name = "access", description = "Asking the allowlist, and where it drifted from Exchange"),
        (name = "admin", description = "Apps and keys (role Admin)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "entra",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An Entra ID access token for mailgate's app registration; roles from its `roles` claim",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A mailgate API key: `Authorization: Bearer mg_…`"))
                    .build(),
            ),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The whole document, as `mailgate openapi` prints it and `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = super::api().into_openapi();
    annotate_access(&mut doc);
    doc
}

/// Writes each operation's roles from the access table, so the document cannot disagree with enforcement, and the
/// refusals every operation shares (see `refusals`). The Graph-shaped operations answer in Graph's error shape and
/// describe their own.
pub fn annotate_access(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops: [(&str, &mut Option<Operation>); 5] = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let rule = ENDPOINTS.iter().find(|e| e.method.as_str() == method && e.path == path);
            let roles: Vec<&str> = match rule.map(|e| &e.access) {
                Some(Access::AnyOf(roles)) => roles.iter().map(|r| r.as_str()).collect(),
                Some(Access::Public) | None => Vec::new(),
            };
            if !path.starts_with("/v1.0/") {
                let shape = refusals::Shape::of(op, !roles.is_empty());
                refusals::add(op, &shape, path.starts_with("/v1/"));
            }
            if roles.is_empty() {
                continue;
            }
            op.security = Some(vec![
                SecurityRequirement::new("api_key", roles.clone()),
                SecurityRequirement::new("entra", roles.clone()),
            ]);
            let note = format!("Requires the role {}.", roles.join(" or "));
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
}

pub fn document_json() -> String {
    document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
