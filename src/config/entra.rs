//! Settings for callers' Entra ID tokens: on when a tenant is set.

use std::time::Duration;

use reqwest::Url;

use super::{ConfigError, EntraSettings, Raw, env_name, invalid, list};

/// Token authentication is on when a tenant is set; it then needs at least one audience.
pub(super) fn entra(raw: &Raw, authority_host: Url) -> Result<Option<EntraSettings>, ConfigError> {
    let Some(tenant_id) = raw.get("entra_tenant_id") else {
        return Ok(None);
    };
    let is_guid = |s: &str| uuid::Uuid::parse_str(s).is_ok();
    if !is_guid(tenant_id) {
        return Err(invalid("entra_tenant_id", "must be the tenant's GUID"));
    }
    let audiences = list(raw, "entra_audiences");
    if audiences.is_empty() {
        return Err(ConfigError::Missing { key: "entra_audiences", env: env_name("entra_audiences") });
    }
    let mut allowed_tenants = list(raw, "entra_allowed_tenants");
    if let Some(bad) = allowed_tenants.iter().find(|t| !is_guid(t)) {
        return Err(invalid("entra_allowed_tenants", format!("`{bad}` is not a tenant GUID")));
    }
    if allowed_tenants.is_empty() {
        allowed_tenants.push(tenant_id.to_owned());
    }
    let leeway: u64 = raw.parse("entra_leeway_secs", 60)?;
    if leeway > 600 {
        return Err(invalid("entra_leeway_secs", "must be at most 600"));
    }
    let refresh: u64 = raw.parse("entra_refresh_secs", 3600)?;
    let refetch: u64 = raw.parse("entra_min_refetch_secs", 30)?;
    if refresh == 0 || refetch == 0 {
        return Err(invalid("entra_refresh_secs", "refresh intervals must be above 0"));
    }
    Ok(Some(EntraSettings {
        tenant_id: tenant_id.to_owned(),
        allowed_tenants,
        audiences,
        authority_host,
        leeway: Duration::from_secs(leeway),
        refresh_interval: Duration::from_secs(refresh),
        min_refetch_interval: Duration::from_secs(refetch),
    }))
}
