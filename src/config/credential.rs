//! Which credential mailgate uses for its own Graph token.

use super::{ConfigError, Raw, invalid};

/// How mailgate obtains its own Graph token.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// System- or user-assigned managed identity (IMDS, or App Service's `IDENTITY_ENDPOINT`).
    ManagedIdentity { client_id: Option<String> },
    /// AKS workload identity, from `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`.
    WorkloadIdentity,
    /// An app registration's client secret; meant for local use only.
    ClientSecret { tenant_id: String, client_id: String, secret: String },
}

impl std::fmt::Debug for CredentialKind {
    // Hand-written so that a client secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ManagedIdentity { client_id } => {
                f.debug_struct("ManagedIdentity").field("client_id", client_id).finish()
            }
            Self::WorkloadIdentity => f.write_str("WorkloadIdentity"),
            Self::ClientSecret { tenant_id, client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("tenant_id", tenant_id)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
        }
    }
}

pub(super) fn credential(raw: &Raw) -> Result<CredentialKind, ConfigError> {
    match raw.get("credential").unwrap_or("managed-identity") {
        "managed-identity" => {
            Ok(CredentialKind::ManagedIdentity { client_id: raw.get("managed_identity_client_id").map(str::to_owned) })
        }
        "workload-identity" => Ok(CredentialKind::WorkloadIdentity),
        "client-secret" => Ok(CredentialKind::ClientSecret {
            tenant_id: raw.required("tenant_id")?,
            client_id: raw.required("client_id")?,
            secret: raw.required("client_secret")?,
        }),
        other => Err(invalid(
            "credential",
            format!("`{other}`: expected managed-identity, workload-identity or client-secret"),
        )),
    }
}
