//! Which credential mailgate uses for its own Graph token.

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid};

settings! {
    /// or `workload-identity`, or `client-secret` (local use: `MAILGATE_TENANT_ID`, `MAILGATE_CLIENT_ID`,
    /// `MAILGATE_CLIENT_SECRET`)
    CREDENTIAL: String = "credential", "MAILGATE_CREDENTIAL", DefaultIs::Value("managed-identity");
    /// a user-assigned identity's client id
    MANAGED_IDENTITY_CLIENT_ID: String = "managed_identity_client_id", "MAILGATE_MANAGED_IDENTITY_CLIENT_ID",
        DefaultIs::Unset(None);
    /// under `client-secret`, the app registration's tenant (required there)
    TENANT_ID: String = "tenant_id", "MAILGATE_TENANT_ID", DefaultIs::Unset(None);
    /// under `client-secret`, the app registration's client id (required there)
    CLIENT_ID: String = "client_id", "MAILGATE_CLIENT_ID", DefaultIs::Unset(None);
    /// under `client-secret`, the app registration's client secret (required there); never logged
    CLIENT_SECRET: SecretString = "client_secret", "MAILGATE_CLIENT_SECRET", DefaultIs::Unset(None);
}

/// How mailgate obtains its own Graph token. Debug shows no client secret: it is a `SecretString`.
#[derive(Clone, Debug)]
pub enum CredentialKind {
    /// System- or user-assigned managed identity (IMDS, or App Service's `IDENTITY_ENDPOINT`).
    ManagedIdentity { client_id: Option<String> },
    /// AKS workload identity, from `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
    /// An app registration's client secret; meant for local use only.
    ClientSecret { tenant_id: String, client_id: String, secret: SecretString },
}

/// Written out because `SecretString` has no `PartialEq` of its own (so that comparing secrets is never implicit).
impl PartialEq for CredentialKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::ManagedIdentity { client_id: a }, Self::ManagedIdentity { client_id: b }) => a == b,
            (Self::WorkloadIdentity, Self::WorkloadIdentity) => true,
            (
                Self::ClientSecret { tenant_id: t1, client_id: c1, secret: s1 },
                Self::ClientSecret { tenant_id: t2, client_id: c2, secret: s2 },
            ) => (t1, c1, s1.expose_secret()) == (t2, c2, s2.expose_secret()),
            _ => false,
        }
    }
}

impl Eq for CredentialKind {}

/// Mailgate's own credential: which one, and where it signs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSettings {
    pub kind: CredentialKind,
    /// Where the credential signs in (workload identity, client secret), when not the SDK's default
    /// (`AZURE_AUTHORITY_HOST`, else the public cloud): set by MAILGATE_ENTRA_AUTHORITY_HOST or a national cloud.
    pub authority: Option<Url>,
}

pub(super) fn credential(raw: &Raw, authority: Option<Url>) -> Result<CredentialSettings, ConfigError> {
    Ok(CredentialSettings { kind: kind(raw)?, authority })
}

fn kind(raw: &Raw) -> Result<CredentialKind, ConfigError> {
    match raw.value(&CREDENTIAL)?.as_str() {
        "managed-identity" => Ok(CredentialKind::ManagedIdentity { client_id: raw.get(&MANAGED_IDENTITY_CLIENT_ID)? }),
        "workload-identity" => Ok(CredentialKind::WorkloadIdentity),
        "client-secret" => Ok(CredentialKind::ClientSecret {
            tenant_id: raw.value(&TENANT_ID)?,
            client_id: raw.value(&CLIENT_ID)?,
            secret: raw.value(&CLIENT_SECRET)?,
        }),
        other => Err(invalid(
            &CREDENTIAL.spec,
            format!("`{other}`: expected managed-identity, workload-identity or client-secret"),
        )),
    }
}
