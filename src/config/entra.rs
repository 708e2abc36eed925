//! Settings for callers' Entra ID tokens: on when a tenant is set.

use std::time::Duration;

use reqwest::Url;

use super::ConfigError;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid, missing};

settings! {
    /// Entra ID tokens for callers ([docs/entra.md](docs/entra.md)): mailgate's tenant (its GUID); setting it turns
    /// them on
    ENTRA_TENANT_ID: String = "entra_tenant_id", "MAILGATE_ENTRA_TENANT_ID", DefaultIs::Unset(None);
    /// the audiences a token may name, comma-separated (`api://mailgate,<mailgate client id>`); required with a tenant
    ENTRA_AUDIENCES: Vec<String> = "entra_audiences", "MAILGATE_ENTRA_AUDIENCES", DefaultIs::Unset(None);
    /// the tenants (GUIDs, comma-separated) whose apps may call
    ENTRA_ALLOWED_TENANTS: Vec<String> = "entra_allowed_tenants", "MAILGATE_ENTRA_ALLOWED_TENANTS",
        DefaultIs::Derived("`MAILGATE_ENTRA_TENANT_ID`");
    /// where tokens are issued and their signing keys published
    ENTRA_AUTHORITY_HOST: Url = "entra_authority_host", "MAILGATE_ENTRA_AUTHORITY_HOST",
        DefaultIs::Derived("the cloud's (`https://login.microsoftonline.com`)");
    /// clock skew allowed on a token's `exp` and `nbf` (at most 600)
    ENTRA_LEEWAY_SECS: u64 = "entra_leeway_secs", "MAILGATE_ENTRA_LEEWAY_SECS", DefaultIs::Value("60");
    /// how often the signing keys are fetched again
    ENTRA_REFRESH_SECS: u64 = "entra_refresh_secs", "MAILGATE_ENTRA_REFRESH_SECS", DefaultIs::Value("3600");
    /// a token signed by a key not yet known fetches the signing keys again, at most this often
    ENTRA_MIN_REFETCH_SECS: u64 = "entra_min_refetch_secs", "MAILGATE_ENTRA_MIN_REFETCH_SECS",
        DefaultIs::Value("30");
}

#[derive(Clone, Debug)]
pub struct EntraSettings {
    pub tenant_id: String,
    pub allowed_tenants: Vec<String>,
    pub audiences: Vec<String>,
    pub authority_host: Url,
    pub leeway: Duration,
    pub refresh_interval: Duration,
    pub min_refetch_interval: Duration,
}

/// Token authentication is on when a tenant is set; it then needs at least one audience.
pub(super) fn entra(raw: &Raw, authority_host: Url) -> Result<Option<EntraSettings>, ConfigError> {
    let Some(tenant_id) = raw.get(&ENTRA_TENANT_ID)? else {
        return Ok(None);
    };
    let is_guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
    if !is_guid(&tenant_id) {
        return Err(invalid(&ENTRA_TENANT_ID.spec, "must be the tenant's GUID"));
    }
    let audiences = raw.get(&ENTRA_AUDIENCES)?.unwrap_or_default();
    if audiences.is_empty() {
        return Err(missing(&ENTRA_AUDIENCES.spec));
    }
    let mut allowed_tenants = raw.get(&ENTRA_ALLOWED_TENANTS)?.unwrap_or_default();
    if let Some(bad) = allowed_tenants.iter().find(|t| !is_guid(t)) {
        return Err(invalid(&ENTRA_ALLOWED_TENANTS.spec, format!("`{bad}` is not a tenant GUID")));
    }
    if allowed_tenants.is_empty() {
        allowed_tenants.push(tenant_id.clone());
    }
    let leeway = raw.value(&ENTRA_LEEWAY_SECS)?;
    if leeway > 600 {
        return Err(invalid(&ENTRA_LEEWAY_SECS.spec, "must be at most 600"));
    }
    let refresh = raw.value(&ENTRA_REFRESH_SECS)?;
    let refetch = raw.value(&ENTRA_MIN_REFETCH_SECS)?;
    if refresh == 0 || refetch == 0 {
        return Err(invalid(&ENTRA_REFRESH_SECS.spec, "refresh intervals must be above 0"));
    }
    Ok(Some(EntraSettings {
        tenant_id,
        allowed_tenants,
        audiences,
        authority_host,
        leeway: Duration::from_secs(leeway),
        refresh_interval: Duration::from_secs(refresh),
        min_refetch_interval: Duration::from_secs(refetch),
    }))
}
