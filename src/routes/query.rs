//! Query strings, read strictly. Every API operation takes only the parameters its document declares: another
//! name, a name given twice, a value of the wrong type, text that is not UTF-8 or holds U+0000 is refused with 422
//! `invalid_field` naming the parameter, so a typo never quietly means the default (`apply=ture` a dry run).
//!
//! Two parts: `StrictQuery<T>`, the extractor the handlers that take parameters use, and `refuse_undeclared`, the
//! route layer that refuses any parameter an operation does not declare, on every operation in the document,
//! with the names taken from the document itself.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{OpenApi, RefOr};

use crate::error::ApiError;

/// The query parameters of `T` (a struct with `#[serde(deny_unknown_fields)]`), or a 422 naming the one at fault.
pub struct StrictQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or("")).map(StrictQuery)
    }
}

/// Reads a query string into `T`.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in pairs(query)? {
        if value.contains('\0') || name.contains('\0') {
            return Err(invalid(&name, "must not contain U+0000"));
        }
        // serde notices a name given twice but does not say which; say it here, the same for every parameter.
        if seen.contains(&name) {
            return Err(invalid(&name, "given more than once"));
        }
        seen.push(name);
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let unknown = message.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next());
        match unknown {
            Some(name) => unknown_parameter(name, &[]),
            None if path != "." => invalid(&path, &message),
            None => ApiError::invalid("query", format!("the query string does not fit this operation: {message}")),
        }
    })
}

/// Each `name=value` pair, percent-decoded; text that is not UTF-8 is refused rather than read with U+FFFD in it.
fn pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let decode = |text: &str| {
        let plus_as_space = text.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().map(|s| s.into_owned())
    };
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(name).map_err(|_| ApiError::invalid("query", "a query parameter's name is not UTF-8"))?;
        let value = decode(value).map_err(|_| invalid(&name, "not UTF-8 text"))?;
        out.push((name, value));
    }
    Ok(out)
}

fn invalid(name: &str, problem: &str) -> ApiError {
    ApiError::invalid(name, format!("query parameter `{name}`: {problem}"))
}

fn unknown_parameter(name: &str, declared: &[String]) -> ApiError {
    let takes = if declared.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = declared.iter().map(|d| format!("`{d}`")).collect();
        format!("; it takes {}", names.join(", "))
    };
    ApiError::invalid(name, format!("`{name}` is not a query parameter of this operation{takes}"))
}

/// The query parameters each API operation declares, by method and path template.
#[derive(Debug, Default)]
pub struct Declared(HashMap<(String, String), Vec<String>>);

impl Declared {
    /// Every `/v1` and `/v1.0` operation of the document. Probes, `/metrics`, `/ui` and `/openapi.json` are left
    /// out: orchestrators, scrapers and browsers call them with URLs this service does not choose.
    pub fn from_document(doc: &OpenApi) -> Self {
        let mut map = HashMap::new();
        for (path, item) in doc.paths.paths.iter().filter(|(p, _)| p.starts_with("/v1")) {
            let ops: [(&str, &Option<Operation>); 5] = [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let names = op
                    .parameters
                    .iter()
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
                        _ => None,
                    })
                    .collect();
                map.insert((method.to_owned(), path.clone()), names);
            }
        }
        Self(map)
    }

    fn of(&self, method: &str, path: &str) -> Option<&[String]> {
        let method = if method == "HEAD" { "GET" } else { method };
        self.0.get(&(method.to_owned(), path.to_owned())).map(Vec::as_slice)
    }

    /// The first parameter of `query` that the operation does not declare, refused by name.
    pub fn check(&self, method: &str, path: &str, query: &str) -> Result<(), ApiError> {
        let Some(declared) = self.of(method, path) else { return Ok(()) };
        for (name, _) in pairs(query)? {
            if !declared.contains(&name) {
                return Err(unknown_parameter(&name, declared));
            }
        }
        Ok(())
    }
}

/// Refuses a parameter the operation does not declare, after authentication (the route layer outside this one)
/// and before the handler reads anything. The Graph-shaped operation answers in Graph's error shape.
pub async fn refuse_undeclared(declared: Arc<Declared>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let query = request.uri().query().unwrap_or("");
    match declared.check(request.method().as_str(), &route, query) {
        Ok(()) => next.run(request).await,
        Err(e) if route.starts_with("/v1.0/") => {
            let request_id = crate::routes::request_id::RequestId::of(request.headers());
            crate::routes::graph::error::respond(e, request_id)
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde::Deserialize;

    use crate::error::ErrorCode;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[serde(default)]
        apply: bool,
        limit: Option<i64>,
        app: Option<String>,
    }

    fn refused(query: &str) -> (String, String) {
        let e = parse::<Params>(query).expect_err(query);
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField), "{query}");
        (e.field.unwrap_or_default(), e.detail)
    }

    #[test]
    fn values_of_their_type_are_read() {
        assert_eq!(parse::<Params>("").expect("empty"), Params { apply: false, limit: None, app: None });
        let p = parse::<Params>("apply=true&limit=5&app=a%20b+c").expect("all");
        assert_eq!(p, Params { apply: true, limit: Some(5), app: Some("a b c".to_owned()) });
        assert!(!parse::<Params>("apply=false").expect("false").apply);
    }

    #[test]
    fn each_refusal_names_the_parameter() {
        for (query, field) in [
            ("apply=yes", "apply"),
            ("apply=1", "apply"),
            ("apply", "apply"),
            ("apply=True", "apply"),
            ("limit=abc", "limit"),
            ("limit=", "limit"),
            ("limit=1&limit=2", "limit"),
            ("app=a&app=b", "app"),
            ("app=%00", "app"),
            ("app=%FF", "app"),
            ("aply=true", "aply"),
            ("apply=true&Limit=3", "Limit"),
        ] {
            let (got, detail) = refused(query);
            assert_eq!(got, field, "{query}: {detail}");
            assert!(detail.contains(&format!("`{field}`")), "{query}: {detail}");
        }
    }

    #[test]
    fn undeclared_parameters_are_refused_by_the_document() {
        let doc = crate::routes::openapi::document();
        let declared = Declared::from_document(&doc);
        assert!(declared.check("POST", "/v1/admin/import", "apply=true").is_ok());
        assert!(declared.check("GET", "/v1/audit", "limit=3&format=csv").is_ok());
        assert!(declared.check("HEAD", "/v1/audit", "limit=3").is_ok());
        let e = declared.check("POST", "/v1/messages", "dry_run=1").expect_err("undeclared");
        assert_eq!(e.field.as_deref(), Some("dry_run"));
        let e = declared.check("GET", "/v1/audit/stats", "app=x&limit=3").expect_err("not here");
        assert_eq!(e.field.as_deref(), Some("limit"));
        assert!(e.detail.contains("`since`"), "{}", e.detail);
        // Outside the API: not this layer's to judge.
        assert!(declared.check("GET", "/healthz", "probe=1").is_ok());
    }
}
