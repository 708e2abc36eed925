//! `mailgate keys …`

use clap::Subcommand;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::auth::ApiKey;
use crate::db;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a key for an app. The key is printed once, alone on the last line.
    Create {
        app: String,
        /// Make the key expire after this many days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// Revoke a key by its id, its prefix, or the key itself.
    Revoke { key: String },
    /// List keys (never their secrets).
    List { app: Option<String> },
}

impl KeysCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Create {
                app,
                expires_in_days,
            } => {
                let app = super::app(pool, &app).await?;
                let key = ApiKey::generate();
                let expires = expires_in_days
                    .map(|d| OffsetDateTime::now_utc() + time::Duration::days(d.into()));
                let id = db::keys::insert(pool, app.id, &key, expires).await?;
                println!(
                    "key {id} for app {} (prefix {}); it is shown only now:",
                    app.name,
                    key.prefix()
                );
                println!("{}", key.reveal());
                Ok(())
            }
            Self::Revoke { key } => {
                let n = db::keys::revoke(pool, &key).await?;
                anyhow::ensure!(n > 0, "no active key matches `{}`", shorten(&key));
                println!("revoked {n} key(s)");
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
    if key.starts_with("mg_") && key.len() > 16 {
        format!("{}…", &key[..16])
    } else {
        key.to_owned()
    }
}
