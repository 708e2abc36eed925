//! `/ui`: a read-only audit dashboard for operators, a static page compiled into the binary. The page itself is
//! public (it holds no data); everything it shows comes from the audit API, called with the key or token the
//! operator pastes in, which the page keeps in memory only.
//!
//! Every answer here carries a Content-Security-Policy that allows nothing but these files and calls to this
//! origin: no inline script or style, no other origin, no framing. Files are revalidated on every load (`no-cache`
//! with an ETag), so a new binary's page is never mixed with an old script.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::routes::access::Routes;

/// Public: the page holds no data, and its data comes from the audit endpoints, with the auditor's credential.
pub fn routes() -> Routes {
    Routes::new().public_get("/ui", page).public_get("/ui/{file}", asset)
}

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

struct File {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
    etag: String,
}

impl File {
    fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
        Self { name, content_type, body, etag }
    }
}

const JS: &str = "text/javascript; charset=utf-8";

static INDEX: LazyLock<File> =
    LazyLock::new(|| File::new("index.html", "text/html; charset=utf-8", include_str!("assets/index.html")));

static ASSETS: LazyLock<[File; 4]> = LazyLock::new(|| {
    [
        File::new("app.js", JS, include_str!("assets/app.js")),
        File::new("api.js", JS, include_str!("assets/api.js")),
        File::new("chart.js", JS, include_str!("assets/chart.js")),
        File::new("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ]
});

/// `GET /ui`: the page.
pub async fn page(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

/// `GET /ui/{file}`: its scripts and stylesheet.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|f| f.name == name) {
        Some(file) => serve(file, &headers),
        None => ApiError::new(ErrorCode::NotFound, format!("the dashboard has no file `{name}`")).into_response(),
    }
}

fn serve(file: &File, request: &HeaderMap) -> Response {
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == file.etag || tag == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, file.content_type)], file.body).into_response()
    };
    let headers = response.headers_mut();
    let etag = HeaderValue::from_str(&file.etag).unwrap_or(HeaderValue::from_static("\"0\""));
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy forbids inline script and style; a page that used them would break in every browser.
    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let html = INDEX.body.to_lowercase();
        for forbidden in [" style=", "<style", "javascript:"] {
            assert!(!html.contains(forbidden), "index.html contains `{forbidden}`");
        }
        // Event handler attributes: ` onclick=` and the like.
        for (i, _) in html.match_indices(" on") {
            let name: String = html[i + 1..].chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            assert!(!html[i + 1 + name.len()..].starts_with('='), "index.html has a handler attribute `{name}`");
        }
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains(" src=\"/ui/"), "an inline or foreign script: {tag}");
        }
    }

    /// Text from the API (names, mailboxes, details) is set as text only.
    #[test]
    fn the_scripts_never_parse_html() {
        for file in ASSETS.iter().filter(|f| f.content_type == JS) {
            for forbidden in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "localStorage",
                "sessionStorage",
                "document.cookie",
            ] {
                assert!(!file.body.contains(forbidden), "{} uses {forbidden}", file.name);
            }
        }
    }

    #[test]
    fn every_file_the_page_names_is_served() {
        let html = INDEX.body;
        let mut named = 0;
        for (i, _) in html.match_indices("\"/ui/") {
            let rest = &html[i + 5..];
            let name = &rest[..rest.find('"').expect("closing quote")];
            assert!(ASSETS.iter().any(|f| f.name == name), "index.html names /ui/{name}, which is not served");
            named += 1;
        }
        assert_eq!(named, 2, "the stylesheet and the entry script");
        for file in ASSETS.iter().filter(|f| f.content_type == JS) {
            for (i, _) in file.body.match_indices("from \"/ui/") {
                let rest = &file.body[i + 10..];
                let name = &rest[..rest.find('"').expect("closing quote")];
                assert!(ASSETS.iter().any(|f| f.name == name), "{} imports /ui/{name}, which is not served", file.name);
            }
        }
    }

    #[test]
    fn a_matching_etag_is_not_modified() {
        let mut request = HeaderMap::new();
        let first = serve(&INDEX, &request);
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        request.insert(header::IF_NONE_MATCH, etag);
        let again = serve(&INDEX, &request);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
    }
}
