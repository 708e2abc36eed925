//! The access every route declared, by method and path template: what the guard holds each request to.

use axum::http::Method;

use super::{Access, Endpoint, known};
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Default)]
pub struct Rules(Vec<Endpoint>);

impl Rules {
    pub(super) fn new(endpoints: Vec<Endpoint>) -> Self {
        Self(endpoints)
    }

    /// The access the route declared for the method; HEAD is answered by the GET handler, so it follows GET's.
    /// Default deny: a method the path does not declare is 405, and a path declared for no method at all is a bug
    /// (500) that nobody may call.
    pub fn access(&self, method: &Method, route: &str) -> Result<Access, ApiError> {
        let answered_by = if method == Method::HEAD { &Method::GET } else { method };
        match self.0.iter().find(|e| e.method == answered_by && e.path == route) {
            Some(endpoint) => Ok(endpoint.access),
            None => Err(self.method_not_allowed(method, route)),
        }
    }

    /// 405 for a method the path does not serve; a path declared nowhere is a bug (500).
    /// The `Allow` header is added by the router, which knows the methods it serves.
    fn method_not_allowed(&self, method: &Method, route: &str) -> ApiError {
        let mut served: Vec<&str> = self.0.iter().filter(|e| e.path == route).map(|e| e.method.as_str()).collect();
        if served.is_empty() {
            return ApiError::internal(format!("no access rule for {} {route}", known(method)));
        }
        if served.contains(&"GET") {
            served.push("HEAD");
        }
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{route} does not take {}; it takes {}", known(method), served.join(", ")),
        )
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::auth::Role;

    fn rules() -> Rules {
        let endpoint = |method, path: &str, access| Endpoint { method, path: path.to_owned(), access };
        Rules::new(vec![
            endpoint(Method::GET, "/v1/things", Access::AnyOf(&[Role::AuditRead])),
            endpoint(Method::POST, "/v1/things", Access::AnyOf(&[Role::Admin])),
            endpoint(Method::GET, "/open", Access::Public),
        ])
    }

    #[test]
    fn each_method_has_its_own_access_and_head_follows_get() {
        let rules = rules();
        assert_eq!(rules.access(&Method::GET, "/v1/things").expect("get"), Access::AnyOf(&[Role::AuditRead]));
        assert_eq!(rules.access(&Method::HEAD, "/v1/things").expect("head"), Access::AnyOf(&[Role::AuditRead]));
        assert_eq!(rules.access(&Method::POST, "/v1/things").expect("post"), Access::AnyOf(&[Role::Admin]));
        assert_eq!(rules.access(&Method::GET, "/open").expect("public"), Access::Public);
    }

    #[test]
    fn a_method_not_declared_is_405_naming_those_that_are() {
        let e = rules().access(&Method::DELETE, "/v1/things").expect_err("undeclared method");
        assert_eq!((e.status, e.code), (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed));
        assert_eq!(e.detail, "/v1/things does not take DELETE; it takes GET, POST, HEAD");
    }

    /// Fail closed: a route the router serves but no declaration names is refused to everyone.
    #[test]
    fn a_route_declared_nowhere_is_refused() {
        let e = rules().access(&Method::GET, "/v1/forgotten").expect_err("undeclared route");
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
