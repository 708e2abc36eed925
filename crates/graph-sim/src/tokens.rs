//! The tokens the managed identity endpoint issued, each for one resource (its audience), and how a bearer token
//! checks out against Graph's.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::state::unix_now;

/// Graph's application id, which a token may name as its audience instead of Graph's URL.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

#[derive(Debug, Clone)]
struct TokenInfo {
    app_id: String,
    expires_on: u64,
    /// The resource it was issued for, as `resource_key` spells it.
    resource: String,
}

/// The result of checking a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// No `Authorization: Bearer ...` header.
    Missing,
    /// A token this simulator never issued.
    Unknown,
    /// Issued to this app id, but expired.
    Expired(String),
    /// Issued and valid, but for another resource (this one) than Graph: a wrong scope, or the database's token.
    WrongAudience(String),
    /// Issued to this app id for Graph, and still valid.
    Valid(String),
}

#[derive(Default)]
struct Inner {
    tokens: HashMap<String, TokenInfo>,
    /// Resource → the token every request for it gets, so that a test can make it a database role's password.
    pinned: HashMap<String, String>,
    /// Resource → tokens issued for it.
    issued_for: HashMap<String, u64>,
}

pub struct TokenStore {
    ttl: Duration,
    graph: String,
    inner: Mutex<Inner>,
}

/// A resource as the endpoint sees it: a scope's `/.default` and a trailing slash do not make another resource.
pub fn resource_key(resource: &str) -> String {
    let r = resource.trim();
    r.strip_suffix("/.default").unwrap_or(r).trim_end_matches('/').to_owned()
}

impl TokenStore {
    pub fn new(ttl: Duration, graph_resource: &str) -> Self {
        Self { ttl, graph: resource_key(graph_resource), inner: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issue a token to `app_id` for `resource`: the pinned one if a test pinned one, else a fresh opaque one.
    /// Returns the token and its expiry (unix seconds).
    pub fn issue_for(&self, app_id: &str, resource: &str) -> (String, u64) {
        let resource = resource_key(resource);
        let mut inner = self.lock();
        *inner.issued_for.entry(resource.clone()).or_default() += 1;
        let token =
            inner.pinned.get(&resource).cloned().unwrap_or_else(|| format!("sim-{}", uuid::Uuid::new_v4().simple()));
        let expires_on = unix_now() + self.ttl.as_secs();
        inner.tokens.insert(token.clone(), TokenInfo { app_id: app_id.to_string(), expires_on, resource });
        (token, expires_on)
    }

    /// From now on every token request for `resource` gets `token` (None: fresh tokens again).
    pub fn pin(&self, resource: &str, token: Option<String>) {
        let resource = resource_key(resource);
        let mut inner = self.lock();
        match token {
            Some(t) => inner.pinned.insert(resource, t),
            None => inner.pinned.remove(&resource),
        };
    }

    /// How many tokens were issued for `resource` so far.
    pub fn issued_for(&self, resource: &str) -> u64 {
        self.lock().issued_for.get(&resource_key(resource)).copied().unwrap_or(0)
    }

    /// Check an `Authorization` header value (`Bearer <token>`) as Graph does.
    pub fn check(&self, authorization: Option<&str>) -> TokenCheck {
        let token = authorization
            .map(str::trim)
            .and_then(|a| a.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return TokenCheck::Missing;
        };
        match self.lock().tokens.get(token) {
            None => TokenCheck::Unknown,
            Some(info) if info.expires_on <= unix_now() => TokenCheck::Expired(info.app_id.clone()),
            Some(info)
                if !info.resource.eq_ignore_ascii_case(&self.graph)
                    && !info.resource.eq_ignore_ascii_case(GRAPH_APP_ID) =>
            {
                TokenCheck::WrongAudience(info.resource.clone())
            }
            Some(info) => TokenCheck::Valid(info.app_id.clone()),
        }
    }
}
