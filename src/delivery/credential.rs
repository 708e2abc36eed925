//! mailgate's own Graph token, from the credential the settings choose. azure_identity caches the token and
//! refreshes it before it expires, so asking for it on every send costs nothing while it is valid. Each request is
//! counted by result, and its failure marks the token degraded (sends wait in the outbox meanwhile).

use std::sync::{Arc, Mutex};

use azure_core::credentials::{Secret, TokenCredential};
use azure_identity::{
    ClientSecretCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential,
};

use time::OffsetDateTime;

use crate::config::CredentialKind;
use crate::metrics::Metrics;

pub struct GraphToken {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    metrics: Arc<Metrics>,
    /// The expiry of the last token handed out: a different one means the credential fetched a new token.
    last_expiry: Mutex<Option<OffsetDateTime>>,
}

impl GraphToken {
    pub fn from_settings(kind: &CredentialKind, scope: &str, metrics: Arc<Metrics>) -> azure_core::Result<Self> {
        Ok(Self { credential: credential(kind)?, scope: scope.to_owned(), metrics, last_expiry: Mutex::new(None) })
    }

    /// A bearer token for Graph. The error text comes from the credential and holds no secret.
    pub async fn get(&self) -> Result<String, String> {
        match self.credential.get_token(&[self.scope.as_str()], None).await {
            Ok(t) => {
                let previous = self.last_expiry.lock().unwrap_or_else(|e| e.into_inner()).replace(t.expires_on);
                self.metrics.token_request(Some(previous != Some(t.expires_on)));
                Ok(t.token.secret().to_owned())
            }
            Err(e) => {
                self.metrics.token_request(None);
                Err(e.to_string())
            }
        }
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
