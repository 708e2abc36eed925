//! mailgate's own Graph token, from the credential the settings choose. azure_identity caches the token and
//! refreshes it before it expires, so asking for it on every send costs nothing while it is valid.

use std::sync::Arc;

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential,
};

use crate::config::CredentialKind;

pub struct GraphToken {
    credential: Arc<dyn TokenCredential>,
    scope: String,
}

impl GraphToken {
    pub fn from_settings(kind: &CredentialKind, scope: &str) -> azure_core::Result<Self> {
        Ok(Self { credential: credential(kind)?, scope: scope.to_owned() })
    }

    /// A bearer token for Graph. The error text comes from the credential and holds no secret.
    pub async fn get(&self) -> Result<String, String> {
        self.credential
            .get_token(&[self.scope.as_str()], None)
            .await
            .map(|t| t.token.secret().to_owned())
            .map_err(|e| e.to_string())
    }
}

/// The credential MAILGATE_CREDENTIAL names. Graph and, under MAILGATE_DB_AUTH=entra, the database ask the same
/// identity for tokens of their own scopes.
pub fn credential(kind: &CredentialKind) -> azure_core::Result<Arc<dyn TokenCredential>> {
    Ok(match kind {
        CredentialKind::ManagedIdentity { client_id } => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options))?
        }
        CredentialKind::WorkloadIdentity => WorkloadIdentityCredential::new(None)?,
        CredentialKind::ClientSecret { tenant_id, client_id, secret } => {
            ClientSecretCredential::new(tenant_id, client_id.clone(), Secret::new(secret.clone()), None)?
        }
    })
}
