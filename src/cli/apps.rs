//! `mailgate apps …`

use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::admin::apps::{self, AppInput};
use crate::db;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register a caller app.
    Create {
        /// Lower-case letters, digits, `.`, `_` and `-`.
        name: String,
        /// The app's Entra application (client) id, the id Exchange policies and tokens name.
        #[arg(long)]
        entra_app_id: Option<Uuid>,
        /// The tenant the Entra app id belongs to (any allowed tenant when absent).
        #[arg(long)]
        entra_tenant_id: Option<Uuid>,
        /// The app's service principal object id (`oid` in its tokens).
        #[arg(long)]
        entra_object_id: Option<Uuid>,
        /// Roles for the app's API keys, comma-separated: Mail.Send, Audit.Read, Admin. Default Mail.Send.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    /// List registered apps.
    List,
}

impl AppsCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Create { name, entra_app_id, entra_tenant_id, entra_object_id, roles } => {
                let input = AppInput { name, entra_app_id, entra_tenant_id, entra_object_id, roles };
                let app = apps::create(pool, &crate::admin::Actor::cli(), &input).await?;
                println!("created app {} ({}) with roles {}", app.name, app.id, app.roles.join(","));
                Ok(())
            }
            Self::List => {
                for app in db::apps::list(pool).await? {
                    let entra = app.entra_app_id.map(|id| id.to_string()).unwrap_or_else(|| "-".into());
                    println!("{}\t{}\tentra-app-id={}\troles={}", app.name, app.id, entra, app.roles.join(","));
                }
                Ok(())
            }
        }
    }
}
