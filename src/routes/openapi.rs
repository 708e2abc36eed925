//! The OpenAPI document: generated from the handlers' annotations, committed as openapi/openapi.json.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "mailgate", description = "Send mail through Microsoft Graph under a local allowlist that mirrors Exchange Online's policies."),
    components(schemas(Problem)),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "messages", description = "Sending mail and reading its outcome"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
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
    super::api().into_openapi()
}

pub fn document_json() -> String {
    document()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
