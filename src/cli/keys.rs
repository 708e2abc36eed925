//! `mailgate keys …`

use clap::Subcommand;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::admin::keys::{self, KeyInput};
use crate::db;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key for an app. The key is printed once, alone on the last line.
    Create {
        app: String,
        /// Make the key expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Limit the key to some of its app's roles, comma-separated.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    /// Revoke a key by its id, its prefix, or the key itself.
    Revoke { key: String },
    /// List keys (never their secrets).
    List { app: Option<String> },
}

impl KeysCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Create { app, expires_in_days, roles } => {
                let issued =
                    keys::issue(pool, &crate::admin::Actor::cli(), &app, &KeyInput { expires_in_days, roles }).await?;
                println!("key {} for app {app} (prefix {}); it is shown only now:", issued.id, issued.prefix);
                println!("{}", issued.key);
                Ok(())
            }
            Self::Revoke { key } => {
                keys::revoke(pool, &crate::admin::Actor::cli(), &key)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}: `{}`", shorten(&key)))?;
                println!("revoked");
                Ok(())
            }
            Self::List { app } => {
                let app_id = match app {
                    Some(name) => Some(super::app(pool, &name).await?.id),
                    None => None,
                };
                for k in db::keys::list(pool, app_id).await? {
                    let state = match (k.revoked_at, k.expires_at) {
                        (Some(_), _) => "revoked",
                        (None, Some(e)) if e <= OffsetDateTime::now_utc() => "expired",
                        _ => "active",
                    };
                    println!("{}\t{}\tmg_{}_…\t{}", k.app_name, k.id, k.prefix, state);
                }
                Ok(())
            }
        }
    }
}

/// Never echo a whole key back into a terminal log.
fn shorten(key: &str) -> String {
    // By characters, not bytes: whatever was typed after `mg_` need not be ASCII.
    if key.starts_with("mg_") && key.chars().count() > 16 {
        format!("{}…", key.chars().take(16).collect::<String>())
    } else {
        key.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shortening_a_key_never_splits_a_character() {
        assert_eq!(super::shorten("mg_0123456789ab_secret"), "mg_0123456789ab_…");
        assert_eq!(super::shorten("mg_ééééééééééééééééé"), "mg_ééééééééééééé…");
        assert_eq!(super::shorten("other"), "other");
    }
}
