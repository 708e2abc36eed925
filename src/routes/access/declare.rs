//! Routes are declared with their access, in the module that owns their handlers: each `routes!` group goes in
//! through `Routes::guarded` (the roles, any one of which suffices) or `Routes::public`. That one declaration does
//! both jobs: it records the access the guard enforces, and writes the same roles into the operations' OpenAPI
//! `security`. Both are keyed by the path and methods of the handlers' own `#[utoipa::path]`, so no path is written
//! twice.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::get;
use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use super::{Access, Endpoint, Rules};
use crate::auth::Role;
use crate::state::AppState;

/// Routes, each with the access it was declared with. Declaring is the only way in: no route reaches the router
/// through here without its access.
pub struct Routes {
    router: OpenApiRouter<AppState>,
    endpoints: Vec<Endpoint>,
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl Routes {
    pub fn new() -> Self {
        Self { router: OpenApiRouter::default(), endpoints: Vec::new() }
    }

    /// No routes yet; those declared are documented in `openapi`.
    pub fn with_openapi(openapi: OpenApi) -> Self {
        Self { router: OpenApiRouter::with_openapi(openapi), endpoints: Vec::new() }
    }

    /// Documented operations that a caller holding any one of `roles` may call; their documents say so.
    pub fn guarded(self, roles: &'static [Role], routes: UtoipaMethodRouter<AppState>) -> Self {
        assert!(!roles.is_empty(), "an operation no role may call is a mistake: declare at least one role");
        self.declare(Access::AnyOf(roles), routes)
    }

    /// Documented operations that anyone may call.
    pub fn public(self, routes: UtoipaMethodRouter<AppState>) -> Self {
        self.declare(Access::Public, routes)
    }

    /// A `GET` (and so `HEAD`) that anyone may call, left out of the document.
    pub fn public_get<H, T>(mut self, path: &str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.endpoints.push(Endpoint { method: Method::GET, path: path.to_owned(), access: Access::Public });
        self.router = self.router.route(path, get(handler));
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.endpoints.extend(other.endpoints);
        self
    }

    /// Each operation's declared access, in the order declared.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The document of the declared operations, each guarded one's `security` written.
    pub fn openapi(&self) -> &OpenApi {
        self.router.get_openapi()
    }

    pub fn into_openapi(self) -> OpenApi {
        self.router.into_openapi()
    }

    /// The router, and the rules its guard (`access::guard`, a route layer) holds it to.
    pub fn into_router(self) -> (Router<AppState>, Rules) {
        let (router, _) = self.router.split_for_parts();
        (router, Rules::new(self.endpoints))
    }

    fn declare(mut self, access: Access, (schemas, mut paths, methods): UtoipaMethodRouter<AppState>) -> Self {
        for (path, item) in paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                if let Access::AnyOf(roles) = access {
                    crate::routes::openapi::require_roles(operation, roles);
                }
                self.endpoints.push(Endpoint { method, path: path.clone(), access });
            }
        }
        self.router = self.router.routes((schemas, paths, methods));
        self
    }
}

/// The item's operations with their methods, in the order a 405 lists them. An operation under another method
/// would be served but declared nowhere, and so refused by the guard.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::POST, &mut item.post),
        (Method::PUT, &mut item.put),
        (Method::PATCH, &mut item.patch),
        (Method::DELETE, &mut item.delete),
        (Method::OPTIONS, &mut item.options),
        (Method::HEAD, &mut item.head),
        (Method::TRACE, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|operation| (method, operation)))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn every_operation_is_declared_once() {
        let api = crate::routes::api();
        let undocumented = crate::routes::undocumented(Default::default());
        let all: Vec<&Endpoint> = api.endpoints().iter().chain(undocumented.endpoints()).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!(a.method == b.method && a.path == b.path), "{} {} twice", a.method, a.path);
            }
        }
    }

    /// Methods on one path may differ: the declaration is per operation, and so is its `security`.
    #[test]
    fn a_declaration_writes_its_roles_into_its_operations() {
        let routes = crate::routes::messages::routes();
        let doc: Value = serde_json::to_value(routes.openapi()).expect("json");
        let status = &doc["paths"]["/v1/messages/{id}"]["get"];
        let roles = json!(["Mail.Send", "Audit.Read"]);
        assert_eq!(status["security"], json!([{"api_key": roles}, {"entra": roles}]));
        let description = status["description"].as_str().expect("description");
        assert!(description.ends_with("Requires the role Mail.Send or Audit.Read."), "{description}");
        assert_eq!(doc["paths"]["/v1/messages"]["post"]["security"][0]["api_key"], json!(["Mail.Send"]));
        let health: Value = serde_json::to_value(crate::routes::health::routes().openapi()).expect("json");
        assert!(health["paths"]["/healthz"]["get"].get("security").is_none());
    }
}
