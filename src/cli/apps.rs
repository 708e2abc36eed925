//! `mailgate apps …`

use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::admin::apps::{self, AppChange, AppInput};
use crate::db;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register a caller app. It sends as no mailbox until an access policy or role assignment of its own names it
    /// (`mailgate policies new --app NAME …`), or it is registered with --unrestricted.
    Create {
        /// Lower-case letters, digits, `.`, `_` and `-`.
        name: String,
        /// The app's Entra application (client) id, the id Exchange policies and tokens name.
        #[arg(long)]
        entra_app_id: Option<Uuid>,
        /// The tenant the app's Entra identity belongs to; only its tokens speak for the app. Default:
        /// MAILGATE_ENTRA_TENANT_ID.
        #[arg(long)]
        entra_tenant_id: Option<Uuid>,
        /// The app's service principal object id (`oid` in its tokens).
        #[arg(long)]
        entra_object_id: Option<Uuid>,
        /// Roles for the app's API keys, comma-separated: Mail.Send, Audit.Read, Admin. Default Mail.Send.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// The app's Entra identity holds the tenant-wide Entra Mail.Send grant, which access policies constrain.
        #[arg(long)]
        entra_mail_send: bool,
        /// Let the app send as every mailbox its access policies do not exclude, with no policy of its own
        /// (Exchange's unscoped behaviour). Logged as a warning at every start of `serve`.
        #[arg(long)]
        unrestricted: bool,
    },
    /// Change an app: whether it is unrestricted, whether its Entra identity holds the tenant-wide grant, its
    /// tenant. Fields not given stay as they are.
    Change {
        /// The app's name or Entra app id.
        name: String,
        /// true: the app may send as every mailbox its access policies do not exclude, with no policy of its own;
        /// false: with none of its own it sends as no mailbox.
        #[arg(long)]
        unrestricted: Option<bool>,
        /// Whether the app's Entra identity holds the tenant-wide Entra Mail.Send grant.
        #[arg(long)]
        entra_mail_send: Option<bool>,
        /// The tenant the app's Entra identity belongs to.
        #[arg(long)]
        entra_tenant_id: Option<Uuid>,
    },
    /// List registered apps.
    List,
}

impl AppsCommand {
    pub async fn run(self, pool: &PgPool, home_tenant: Option<Uuid>) -> anyhow::Result<()> {
        match self {
            Self::Create {
                name,
                entra_app_id,
                entra_tenant_id,
                entra_object_id,
                roles,
                entra_mail_send,
                unrestricted,
            } => {
                let input = AppInput {
                    name,
                    entra_app_id,
                    entra_tenant_id,
                    entra_object_id,
                    roles,
                    entra_mail_send: Some(entra_mail_send),
                    unrestricted: Some(unrestricted),
                };
                let app = apps::create(pool, &crate::admin::Actor::cli(), &input, home_tenant).await?;
                println!("created app {} ({}) with roles {}", app.name, app.id, app.roles.join(","));
                if app.unrestricted {
                    println!(
                        "warning: app {} is unrestricted: it may send as every mailbox no access policy denies it",
                        app.name
                    );
                } else {
                    println!(
                        "app {} sends as no mailbox until an access policy or role assignment of its own names it: \
                         mailgate policies new --app {} --scope-group GROUP --access-right RestrictAccess",
                        app.name, app.name
                    );
                }
                Ok(())
            }
            Self::Change { name, unrestricted, entra_mail_send, entra_tenant_id } => {
                let change = AppChange {
                    entra_app_id: None,
                    entra_tenant_id,
                    entra_object_id: None,
                    roles: None,
                    entra_mail_send,
                    unrestricted,
                };
                let app = apps::change(pool, &crate::admin::Actor::cli(), &name, &change, home_tenant).await?;
                println!(
                    "changed app {}: entra-mail-send={} unrestricted={}",
                    app.name, app.entra_mail_send, app.unrestricted
                );
                Ok(())
            }
            Self::List => {
                for app in db::apps::list(pool).await? {
                    let id = |v: Option<Uuid>| v.map(|id| id.to_string()).unwrap_or_else(|| "-".into());
                    // An Entra app registered before tenants were recorded belongs to mailgate's own tenant.
                    let tenant = match app.entra_tenant_id {
                        None if app.entra_app_id.is_some() || app.entra_object_id.is_some() => "home".to_owned(),
                        t => id(t),
                    };
                    println!(
                        "{}\t{}\tentra-app-id={}\troles={}\tentra-tenant-id={tenant}\tentra-mail-send={}\tunrestricted={}",
                        app.name,
                        app.id,
                        id(app.entra_app_id),
                        app.roles.join(","),
                        app.entra_mail_send,
                        app.unrestricted
                    );
                }
                Ok(())
            }
        }
    }
}
