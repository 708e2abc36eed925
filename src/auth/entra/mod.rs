//! Validation of the Entra ID access tokens that calling apps present, with a cache of the
//! tenant's signing keys (JWKS).
//!
//! Tokens must be RS256, signed by a key in the tenant's JWKS, unexpired, issued to one of the
//! configured audiences by one of the allowed tenants, with the issuer that tenant and token
//! version imply, as the authority's OpenID metadata names it (public cloud: v1
//! `https://sts.windows.net/{tid}/`, v2 `https://login.microsoftonline.com/{tid}/v2.0`).

mod claims;
mod error;
mod jwk;
mod jwks;
mod validate;

use std::sync::{Arc, Weak};
use std::time::Duration;

pub use claims::{EntraIdentity, Issuers, TokenVersion};
pub use error::TokenError;
pub use jwks::JwksStatus;

use claims::ClaimRules;
use jwks::JwksCache;

/// The public Entra ID authority.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Floor for the periodic refresh's sleep, so a zero interval cannot spin.
const MIN_REFRESH_WAIT: Duration = Duration::from_millis(250);

/// Settings for [`EntraValidator`].
#[derive(Debug, Clone)]
pub struct EntraConfig {
    /// The home tenant (GUID); its metadata names the JWKS.
    pub tenant_id: String,
    /// Tenant ids (`tid`) accepted; empty means just `tenant_id`.
    pub allowed_tenants: Vec<String>,
    /// Accepted `aud` values: mailgate's client id and App ID URI (e.g. `api://mailgate`).
    pub audiences: Vec<String>,
    /// Where metadata is fetched from; tests point it at loopback http.
    pub authority_host: reqwest::Url,
    /// Leeway for `exp` and `nbf`.
    pub leeway: Duration,
    /// How often the JWKS is refreshed by [`EntraValidator::spawn_refresh`].
    pub refresh_interval: Duration,
    /// A token with an unknown `kid` refetches the JWKS at most once per this.
    pub min_refetch_interval: Duration,
}

impl EntraConfig {
    /// The defaults: allowed tenants = [tenant_id], the public authority, 60 s leeway, hourly
    /// refresh, unknown-kid refetch at most every 30 s.
    pub fn new(tenant_id: impl Into<String>, audiences: Vec<String>) -> Self {
        let tenant_id = tenant_id.into();
        Self {
            allowed_tenants: vec![tenant_id.clone()],
            tenant_id,
            audiences,
            authority_host: default_authority_host(),
            leeway: Duration::from_secs(60),
            refresh_interval: Duration::from_secs(3600),
            min_refetch_interval: Duration::from_secs(30),
        }
    }

    /// `{authority}/{tenant}/v2.0/.well-known/openid-configuration`
    fn metadata_url(&self) -> Result<reqwest::Url, String> {
        let tenant = &self.tenant_id;
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c)) {
            return Err(format!("tenant id `{tenant}` is not a GUID or domain name"));
        }
        let base = self.authority_host.as_str().trim_end_matches('/');
        reqwest::Url::parse(&format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"))
            .map_err(|e| format!("bad authority host {base}: {e}"))
    }
}

fn default_authority_host() -> reqwest::Url {
    match reqwest::Url::parse(DEFAULT_AUTHORITY_HOST) {
        Ok(url) => url,
        Err(_) => unreachable!("the default authority host is a valid URL"),
    }
}

/// Validates callers' Entra ID access tokens. Cheap to clone.
#[derive(Clone)]
pub struct EntraValidator {
    inner: Arc<Inner>,
}

struct Inner {
    tenant_id: String,
    allowed_tenants: Vec<String>,
    audiences: Vec<String>,
    leeway_secs: u64,
    refresh_interval: Duration,
    min_refetch_interval: Duration,
    jwks: JwksCache,
}

impl std::fmt::Debug for EntraValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraValidator")
            .field("allowed_tenants", &self.inner.allowed_tenants)
            .field("audiences", &self.inner.audiences)
            .field("status", &self.status())
            .finish()
    }
}

impl EntraValidator {
    /// Builds the validator and fetches metadata and keys once. A failure is logged and
    /// leaves the validator not ready (see [`EntraValidator::status`]); it retries on demand
    /// and from [`EntraValidator::spawn_refresh`].
    pub async fn new(config: EntraConfig, http: reqwest::Client) -> Self {
        let metadata_url = config.metadata_url();
        let allowed_tenants =
            if config.allowed_tenants.is_empty() { vec![config.tenant_id.clone()] } else { config.allowed_tenants };
        let inner = Inner {
            tenant_id: config.tenant_id.clone(),
            allowed_tenants,
            audiences: config.audiences,
            leeway_secs: config.leeway.as_secs(),
            refresh_interval: config.refresh_interval,
            min_refetch_interval: config.min_refetch_interval,
            jwks: JwksCache::new(http, metadata_url, config.tenant_id, config.min_refetch_interval),
        };
        if let Err(error) = inner.jwks.refresh().await {
            tracing::error!(%error, "Entra ID signing keys unavailable at start; tokens are refused until a refresh succeeds");
        }
        Self { inner: Arc::new(inner) }
    }

    /// Validates a bearer token and says who the caller is.
    pub async fn validate(&self, token: &str) -> Result<EntraIdentity, TokenError> {
        let validator = validate::Validator {
            jwks: &self.inner.jwks,
            rules: ClaimRules { allowed_tenants: &self.inner.allowed_tenants, audiences: &self.inner.audiences },
            leeway_secs: self.inner.leeway_secs,
        };
        validator.validate(token).await
    }

    /// Refreshes the keys every `refresh_interval` (every `min_refetch_interval` while none
    /// are held or the last refresh failed). Ends when the validator is dropped.
    pub fn spawn_refresh(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut wait = self.inner.next_wait(true);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let ok = inner.jwks.refresh().await.is_ok();
                wait = inner.next_wait(ok);
            }
        })
    }

    /// The home tenant (GUID), whose objects an app registered without a tenant belongs to.
    pub fn home_tenant(&self) -> &str {
        &self.inner.tenant_id
    }

    /// The key cache's health, for readiness probes: ready when `keys > 0`.
    pub fn status(&self) -> JwksStatus {
        self.inner.jwks.status()
    }

    /// Cheap, no crypto: three base64url segments whose first decodes to JSON with an `alg`.
    /// Tells JWTs apart from API keys.
    pub fn looks_like_jwt(token: &str) -> bool {
        claims::looks_like_jwt(token)
    }
}

impl Inner {
    fn next_wait(&self, last_ok: bool) -> Duration {
        let wait = if last_ok && self.jwks.status().is_ready() {
            self.refresh_interval
        } else {
            self.min_refetch_interval.min(self.refresh_interval)
        };
        wait.max(MIN_REFRESH_WAIT)
    }
}
