//! The credential of mailgate's own identity, built from the settings: Graph and, under MAILGATE_DB_AUTH=entra, the
//! database each build one from it, so it sits below both.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::ClientOptions;
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use reqwest::Url;
use secrecy::ExposeSecret;

use super::CredentialKind;

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
            ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(secret.expose_secret().to_owned()),
                Some(options),
            )?
        }
    })
}

/// The SDK's cloud configuration for an authority host (no trailing slash: the SDK appends `/{tenant}/…`).
fn cloud_of(authority: &Url) -> Arc<CloudConfiguration> {
    let mut custom = CustomConfiguration::default();
    custom.authority_host = authority.as_str().trim_end_matches('/').to_owned();
    Arc::new(custom.into())
}
