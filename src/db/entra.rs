//! Passwordless database connections (MAILGATE_DB_AUTH=entra): on Azure Database for PostgreSQL with Microsoft Entra
//! authentication the password of a new connection is an access token of mailgate's identity. The server checks it
//! only when a connection opens, so open connections outlive the token; new ones need a fresh one. A task per pool
//! fetches the next token well before the current one expires and hands the pool new connect options.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use azure_core::credentials::TokenCredential;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use time::OffsetDateTime;

use crate::config::{DbAuth, Settings};

/// How this process's database connections authenticate.
#[derive(Clone)]
pub enum Auth {
    /// The password the URL carries.
    Password,
    Entra(Arc<EntraPassword>),
}

impl Auth {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match &settings.db.auth {
            DbAuth::Password => Ok(Self::Password),
            DbAuth::Entra { scope } => {
                let credential = crate::config::identity::credential(
                    &settings.credential.kind,
                    settings.credential.authority.as_ref(),
                )
                .context("setting up the credential (MAILGATE_CREDENTIAL) for MAILGATE_DB_AUTH=entra")?;
                Ok(Self::Entra(Arc::new(EntraPassword { credential, scope: scope.clone() })))
            }
        }
    }

    /// Connect options for `url`, with a fresh token as the password under Entra.
    pub async fn options(&self, url: &str) -> anyhow::Result<PgConnectOptions> {
        // PgBouncer refuses start-up parameters it does not know, this one among them (see `super::connect`).
        let base = url.parse::<PgConnectOptions>().context("parsing the database URL")?.extra_float_digits(None);
        match self {
            Self::Password => Ok(base),
            Self::Entra(entra) => Ok(entra.apply(&base).await?.0),
        }
    }
}

/// Access tokens of mailgate's identity for the database's scope.
pub struct EntraPassword {
    credential: Arc<dyn TokenCredential>,
    scope: String,
}

impl EntraPassword {
    /// `base` with a current token as its password, and when that token expires. The error holds the credential's
    /// message, never a token.
    pub(super) async fn apply(&self, base: &PgConnectOptions) -> anyhow::Result<(PgConnectOptions, OffsetDateTime)> {
        let token = self.credential.get_token(&[self.scope.as_str()], None).await.with_context(|| {
            format!("getting an access token for the database (scope {}) from MAILGATE_CREDENTIAL", self.scope)
        })?;
        Ok((base.clone().password(token.token.secret()), token.expires_on))
    }
}

/// Keeps `pool`'s connect options holding a valid token: renews at two thirds of the current token's remaining
/// lifetime, and after a failure retries with backoff (connections already open keep working meanwhile).
pub(super) async fn renew(pool: PgPool, base: PgConnectOptions, entra: Arc<EntraPassword>, expires_on: OffsetDateTime) {
    let mut expires_on = expires_on;
    let mut failures: u32 = 0;
    loop {
        let wait = match failures {
            0 => renew_after(expires_on, OffsetDateTime::now_utc()),
            n => backoff(n),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = pool.close_event() => return,
        }
        match entra.apply(&base).await {
            Ok((options, next)) => {
                pool.set_connect_options(options);
                expires_on = next;
                failures = 0;
                tracing::debug!(expires_on = %next, "database token renewed for new connections");
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                tracing::warn!(
                    error = format!("{err:#}"),
                    failures,
                    expires_on = %expires_on,
                    "could not renew the database token; open connections keep working, new ones use the current \
                     token until it expires"
                );
            }
        }
    }
}

/// Two thirds of what is left of the token's life, at least a second (a token about to expire, or a clock that
/// disagrees, must not make this spin) and at most an hour.
fn renew_after(expires_on: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left = (expires_on - now).max(time::Duration::ZERO);
    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
    (left * 2 / 3).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_two_thirds_of_the_remaining_life() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(renew_after(now + time::Duration::minutes(60), now), Duration::from_secs(40 * 60));
        assert_eq!(renew_after(now + time::Duration::seconds(3), now), Duration::from_secs(2));
        assert_eq!(renew_after(now - time::Duration::seconds(10), now), Duration::from_secs(1));
        assert_eq!(renew_after(now + time::Duration::days(2), now), Duration::from_secs(3600));
    }

    #[test]
    fn retries_back_off_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
