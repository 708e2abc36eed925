//! mailgate's own Graph token, from the credential the settings choose. azure_identity caches the token and
//! refreshes it before it expires, so asking for it on every send costs nothing while it is valid. Each request is
//! counted by result, and its failure marks the token degraded (sends wait in the outbox meanwhile).

use std::sync::{Arc, Mutex};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use reqwest::Url;

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
    /// `authority`: where the credential signs in, when not the SDK's default (see `credential`).
    pub fn from_settings(
        kind: &CredentialKind,
        authority: Option<&Url>,
        scope: &str,
        metrics: Arc<Metrics>,
    ) -> azure_core::Result<Self> {
        Ok(Self {
            credential: credential(kind, authority)?,
            scope: scope.to_owned(),
            metrics,
            last_expiry: Mutex::new(None),
        })
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
///
/// `authority`: the Entra authority workload identity and a client secret sign in at (MAILGATE_ENTRA_AUTHORITY_HOST,
/// or a national cloud's); None leaves the SDK's choice, `AZURE_AUTHORITY_HOST` (which AKS's workload identity
/// webhook sets for its cluster's cloud), else the public cloud. A managed identity asks the endpoint of the host it
/// runs on, which serves its own cloud's tokens: no authority is involved.
pub fn credential(kind: &CredentialKind, authority: Option<&Url>) -> azure_core::Result<Arc<dyn TokenCredential>> {
    let client_options = || ClientOptions { cloud: authority.map(cloud_of), ..Default::default() };
    Ok(match kind {
        CredentialKind::ManagedIdentity { client_id } => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            ManagedIdentityCredential::new(Some(options))?
        }
        CredentialKind::WorkloadIdentity => {
            let mut options = WorkloadIdentityCredentialOptions::default();
            options.credential_options.client_options = client_options();
            WorkloadIdentityCredential::new(Some(options))?
        }
        CredentialKind::ClientSecret { tenant_id, client_id, secret } => {
            let options = ClientSecretCredentialOptions { client_options: client_options() };
            ClientSecretCredential::new(tenant_id, client_id.clone(), Secret::new(secret.clone()), Some(options))?
        }
    })
}

/// The SDK's cloud configuration for an authority host (no trailing slash: the SDK appends `/{tenant}/…`).
fn cloud_of(authority: &Url) -> Arc<CloudConfiguration> {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = authority.as_str().trim_end_matches('/').to_owned();
    Arc::new(custom.into())
}
