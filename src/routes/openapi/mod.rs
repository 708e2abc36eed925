//! The OpenAPI document: generated from the handlers' annotations, committed as openapi/openapi.json.

mod refusals;

use std::sync::Arc;

use axum::http::header;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::access::Routes;
use crate::auth::Role;
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
    complete(&mut doc);
    doc
}

/// What the handlers' annotations do not say themselves: the shared refusals and the send request's cross-field
/// rules. Both the printed and the served document go through it, so they are the same document.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    annotate_refusals(doc);
    if let Some(components) = doc.components.as_mut() {
        crate::domain::message::schema::add_rules(components);
    }
}

/// `GET /openapi.json`, for anyone: the document as this instance serves it.
pub fn served(json: Arc<String>) -> Routes {
    Routes::new().public_get("/openapi.json", move || {
        let doc = json.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()) }
    })
}

/// Writes a declaration's roles into its operation (see `access::Routes::guarded`), so the document cannot disagree
/// with enforcement: a `security` requirement naming the roles for each kind of credential, and a sentence after
/// the description.
pub fn require_roles(op: &mut Operation, roles: &[Role]) {
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
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

/// Writes the refusals every operation shares (see `refusals`): 401, 403 and 429 where its declaration requires a
/// role. The Graph-shaped operations answer in Graph's error shape and describe their own.
fn annotate_refusals(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.starts_with("/v1.0/") {
            continue;
        }
        let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in ops.into_iter().flatten() {
            let shape = refusals::Shape::of(op, op.security.is_some());
            refusals::add(op, &shape, path.starts_with("/v1/"));
        }
    }
}

pub fn document_json() -> String {
    document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    fn schemas() -> Value {
        let doc: Value = serde_json::from_str(&super::document_json()).expect("json");
        doc["components"]["schemas"].clone()
    }

    /// The rules that relate fields are in the document, or generated clients send what validation refuses.
    #[test]
    fn the_send_request_states_its_cross_field_rules() {
        let s = schemas();
        let rules = s["SendRequest"]["allOf"].as_array().expect("allOf");
        let required = |rule: &Value| -> Vec<Value> {
            rule["anyOf"].as_array().expect("anyOf").iter().map(|alt| alt["required"].clone()).collect()
        };
        assert_eq!(required(&rules[1]), [json!(["to"]), json!(["cc"]), json!(["bcc"])]);
        assert_eq!(required(&rules[2]), [json!(["text"]), json!(["html"]), json!(["text", "html"])]);
        assert_eq!(rules[2]["anyOf"][2]["properties"]["save_to_sent_items"]["enum"], json!([true, null]));
        assert_eq!(rules[0]["additionalProperties"], false);
        assert_eq!(s["AttachmentInput"]["allOf"][1]["anyOf"][1]["required"], json!(["content_id"]));
    }

    #[test]
    fn the_graph_body_is_described_and_closed() {
        let doc: Value = serde_json::from_str(&super::document_json()).expect("json");
        let op = &doc["paths"]["/v1.0/users/{mailbox}/sendMail"]["post"];
        let body = &op["requestBody"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, "#/components/schemas/GraphSendMail");
        let s = schemas();
        assert_eq!(s["GraphSendMail"]["required"], json!(["message"]));
        let message = &s["GraphMessage"]["allOf"];
        assert_eq!(message[0]["additionalProperties"], false);
        assert_eq!(message[1]["anyOf"][0]["required"], json!(["toRecipients"]));
        assert_eq!(s["GraphRecipient"]["required"], json!(["emailAddress"]));
        for status in ["400", "401", "403", "404", "413", "415", "429", "503"] {
            let schema = &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/GraphError", "{status}");
        }
    }
}
