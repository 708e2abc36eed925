//! The tenant's signing keys: discovered through OpenID metadata, cached, refreshed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::DecodingKey;
use reqwest::Url;
use serde::de::DeserializeOwned;

use super::claims::Issuers;
use super::error::{TokenError, sanitize};
use super::jwk::{JwkSet, Metadata, ParsedKeys};

/// Time allowed for one metadata or JWKS request, body included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest metadata or JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// The signing-key cache's health, for readiness probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksStatus {
    /// Usable RSA signing keys held.
    pub keys: usize,
    /// When keys were last fetched successfully.
    pub last_success: Option<SystemTime>,
    /// The most recent fetch failure, cleared by a success.
    pub last_error: Option<String>,
}

impl JwksStatus {
    /// Ready when at least one signing key is held.
    pub fn is_ready(&self) -> bool {
        self.keys > 0
    }
}

/// How the token names its key: `kid`, or `x5t` when it has no `kid`.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyId<'a> {
    Kid(&'a str),
    X5t(&'a str),
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    kid_by_x5t: HashMap<String, String>,
    last_success: Option<SystemTime>,
    last_error: Option<String>,
}

/// Held while a fetch is in flight, so that only one runs at a time.
#[derive(Default)]
struct FetchGate {
    last_attempt: Option<Instant>,
    jwks_uri: Option<Url>,
}

pub(super) struct JwksCache {
    http: reqwest::Client,
    metadata_url: Result<Url, String>,
    /// The tenant the metadata is of, made a placeholder in its issuers.
    tenant_id: String,
    issuers: RwLock<Arc<Issuers>>,
    min_refetch_interval: Duration,
    keys: RwLock<KeySet>,
    gate: tokio::sync::Mutex<FetchGate>,
}

impl JwksCache {
    pub(super) fn new(
        http: reqwest::Client,
        metadata_url: Result<Url, String>,
        tenant_id: String,
        min_refetch_interval: Duration,
    ) -> Self {
        Self {
            http,
            metadata_url,
            tenant_id,
            issuers: RwLock::new(Arc::default()),
            min_refetch_interval,
            keys: RwLock::new(KeySet::default()),
            gate: tokio::sync::Mutex::new(FetchGate::default()),
        }
    }

    pub(super) fn status(&self) -> JwksStatus {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        JwksStatus { keys: keys.by_kid.len(), last_success: keys.last_success, last_error: keys.last_error.clone() }
    }

    /// The issuers the metadata last named.
    pub(super) fn issuers(&self) -> Arc<Issuers> {
        self.issuers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn lookup(&self, id: KeyId<'_>) -> Option<Arc<DecodingKey>> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let kid = match id {
            KeyId::Kid(kid) => kid,
            KeyId::X5t(x5t) => keys.kid_by_x5t.get(x5t)?.as_str(),
        };
        keys.by_kid.get(kid).cloned()
    }

    /// Finds the key; an unknown one triggers a refetch unless the last fetch attempt (of any
    /// kind) is younger than `min_refetch_interval`. Only one fetch runs at a time; concurrent
    /// callers wait for it and then look again, so forged kids cannot multiply fetches.
    pub(super) async fn key_for(&self, id: KeyId<'_>) -> Result<Arc<DecodingKey>, TokenError> {
        if let Some(key) = self.lookup(id) {
            return Ok(key);
        }
        {
            let mut gate = self.gate.lock().await;
            if let Some(key) = self.lookup(id) {
                return Ok(key);
            }
            let due = gate.last_attempt.is_none_or(|at| at.elapsed() >= self.min_refetch_interval);
            if due {
                tracing::debug!("token names an unknown signing key; refetching the JWKS");
                // A failure is recorded in the status and logged by `refresh_locked`.
                let _ = self.refresh_locked(&mut gate).await;
            }
        }
        if let Some(key) = self.lookup(id) {
            return Ok(key);
        }
        if self.status().keys == 0 {
            return Err(TokenError::KeysUnavailable);
        }
        let (KeyId::Kid(name) | KeyId::X5t(name)) = id;
        Err(TokenError::UnknownSigningKey(sanitize(name)))
    }

    /// Fetches metadata and keys now (waiting for any fetch in flight first).
    pub(super) async fn refresh(&self) -> Result<usize, String> {
        let mut gate = self.gate.lock().await;
        self.refresh_locked(&mut gate).await
    }

    async fn refresh_locked(&self, gate: &mut FetchGate) -> Result<usize, String> {
        gate.last_attempt = Some(Instant::now());
        let outcome = self.fetch(gate).await;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(parsed) => {
                let count = parsed.by_kid.len();
                keys.by_kid = parsed.by_kid;
                keys.kid_by_x5t = parsed.kid_by_x5t;
                keys.last_success = Some(SystemTime::now());
                keys.last_error = None;
                tracing::debug!(keys = count, "loaded Entra ID signing keys");
                Ok(count)
            }
            Err(error) => {
                tracing::warn!(%error, kept = keys.by_kid.len(), "could not refresh Entra ID signing keys");
                keys.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    async fn fetch(&self, gate: &mut FetchGate) -> Result<ParsedKeys, String> {
        let metadata_url = self.metadata_url.clone()?;
        let jwks_uri = match gate.jwks_uri.clone() {
            Some(uri) => uri,
            None => {
                let metadata: Metadata = self.get_json(&metadata_url).await?;
                let uri =
                    Url::parse(&metadata.jwks_uri).map_err(|e| format!("OpenID metadata has a bad jwks_uri: {e}"))?;
                if uri.scheme() != "https" && uri.scheme() != metadata_url.scheme() {
                    return Err(format!("OpenID metadata's jwks_uri {uri} is not https"));
                }
                let issuers = Issuers {
                    v1: self.v1_issuer(&metadata_url).await?,
                    v2: metadata.issuer.map(|iss| Issuers::template(&iss, &self.tenant_id)),
                };
                *self.issuers.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(issuers);
                gate.jwks_uri = Some(uri.clone());
                uri
            }
        };
        let set: JwkSet = match self.get_json(&jwks_uri).await {
            Ok(set) => set,
            Err(error) => {
                // Rediscover next time, in case the keys moved.
                gate.jwks_uri = None;
                return Err(error);
            }
        };
        let parsed = set.usable_keys();
        if parsed.by_kid.is_empty() {
            return Err(format!("the JWKS at {jwks_uri} has no usable RSA signing keys"));
        }
        Ok(parsed)
    }

    /// The v1 tokens' issuer, from the v1 metadata beside the v2 one (`{authority}/{tenant}/.well-known/…`): each
    /// cloud names its own (`https://sts.windows.net/…` in the public cloud and the US government's).
    async fn v1_issuer(&self, v2_metadata: &Url) -> Result<Option<String>, String> {
        let url = Url::parse(&v2_metadata.as_str().replace("/v2.0/.well-known/", "/.well-known/"))
            .map_err(|e| format!("v1 metadata URL: {e}"))?;
        let metadata: Metadata = self.get_json(&url).await?;
        Ok(metadata.issuer.map(|iss| Issuers::template(&iss, &self.tenant_id)))
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, String> {
        let mut response =
            self.http.get(url.clone()).timeout(FETCH_TIMEOUT).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_DOCUMENT {
                return Err(format!("GET {url}: response exceeds {MAX_DOCUMENT} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: bad JSON: {e}"))
    }
}
