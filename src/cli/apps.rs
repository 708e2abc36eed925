//! `mailgate apps …`

use anyhow::Context;
use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register a caller app.
    Create {
        /// Lower-case letters, digits, `.`, `_` and `-`.
        name: String,
        /// The app's Entra application (client) id, the id Exchange policies name.
        #[arg(long)]
        entra_app_id: Option<Uuid>,
    },
    /// List registered apps.
    List,
}

impl AppsCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Create { name, entra_app_id } => {
                let valid = !name.is_empty()
                    && name.len() <= 63
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                    && name
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric());
                anyhow::ensure!(
                    valid,
                    "app name `{name}` must be 1-63 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit"
                );
                anyhow::ensure!(
                    db::apps::find(pool, &name).await?.is_none(),
                    "an app named `{name}` already exists"
                );
                let app = db::apps::create(pool, &name, entra_app_id)
                    .await
                    .context("creating the app")?;
                println!("created app {} ({})", app.name, app.id);
                Ok(())
            }
            Self::List => {
                for app in db::apps::list(pool).await? {
                    let entra = app
                        .entra_app_id
                        .map(|id| id.to_string())
                        .unwrap_or_else(|| "-".into());
                    println!("{}\t{}\tentra-app-id={}", app.name, app.id, entra);
                }
                Ok(())
            }
        }
    }
}
