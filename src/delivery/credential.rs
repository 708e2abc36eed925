//! mailgate's own Graph token, from the credential the settings choose. azure_identity caches the token and
//! refreshes it before it expires, so asking for it on every send costs nothing while it is valid. Each request is
//! counted by result, and its failure marks the token degraded (sends wait in the outbox meanwhile).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use reqwest::Url;
use time::OffsetDateTime;

use crate::config::CredentialKind;
use crate::config::identity::credential;
use crate::metrics::Metrics;

pub struct GraphToken {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    metrics: Arc<Metrics>,
    /// The expiry of the last token handed out: a different one means the credential fetched a new token.
    last_expiry: Mutex<Option<OffsetDateTime>>,
    /// How the last request for a token went: None before the first, else its error text.
    health: Mutex<Option<Result<(), String>>>,
}

impl GraphToken {
    /// `authority`: where the credential signs in, when not the SDK's default (see `config::identity::credential`).
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
            health: Mutex::new(None),
        })
    }

    /// A bearer token for Graph. The error text comes from the credential and holds no secret.
    pub async fn get(&self) -> Result<String, String> {
        match self.credential.get_token(&[self.scope.as_str()], None).await {
            Ok(t) => {
                let previous = self.last_expiry.lock().unwrap_or_else(|e| e.into_inner()).replace(t.expires_on);
                self.metrics.token_request(Some(previous != Some(t.expires_on)));
                *self.health.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ok(()));
                Ok(t.token.secret().to_owned())
            }
            Err(e) => {
                self.metrics.token_request(None);
                *self.health.lock().unwrap_or_else(|e| e.into_inner()) = Some(Err(e.to_string()));
                Err(e.to_string())
            }
        }
    }

    /// How the last request for a token went (None before the first), for `/readyz`: read, never fetched, so that
    /// probes cannot hammer a failing token endpoint.
    pub fn health(&self) -> Option<Result<(), String>> {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Asks for the token at once and then for as long as the process runs, so that its health is known without a
    /// send: every five minutes while it comes (the credential answers from its cache until the token nears expiry),
    /// and after a failure again after 1 s, 2 s, 4 s … up to a minute.
    pub async fn keep_checked(self: std::sync::Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.get()).await {
                Ok(Ok(_)) => failures = 0,
                Ok(Err(_)) => failures = failures.saturating_add(1),
                Err(_) => {
                    self.metrics.token_request(None);
                    *self.health.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Err("the token request timed out".to_owned()));
                    failures = failures.saturating_add(1);
                }
            }
            let wait = match failures {
                0 => Duration::from_secs(300),
                n => Duration::from_secs(1u64 << (n - 1).min(6)).min(Duration::from_secs(60)),
            };
            tokio::time::sleep(wait).await;
        }
    }
}
