//! The `mailgate` command line: serving, migrations, the admin operations on the policy mirror, and the audit log's
//! upkeep.

mod apps;
mod audit;
mod audit_verify;
mod exchange_sync;
mod groups;
mod keys;
mod policies;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::config::Settings;
use crate::{db, startup, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "mailgate",
    version,
    about = "Send mail through Microsoft Graph under an Exchange-mirroring allowlist"
)]
pub struct Cli {
    /// A TOML file of settings; MAILGATE_* environment variables override it.
    #[arg(long, global = true, env = "MAILGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and the delivery workers.
    Serve,
    /// Apply database migrations.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Registered caller apps.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// API keys for apps.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Mail-enabled security groups that scope policies.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// Application access policies.
    #[command(subcommand)]
    Policies(policies::PoliciesCommand),
    /// Import the mirror from Exchange Online's output, or export it as PowerShell.
    #[command(subcommand)]
    Sync(exchange_sync::SyncCommand),
    /// The audit log: verify it against its hash chain, drop months past the retention.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        println!("{}", crate::routes::openapi::document_json());
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    if let Command::Serve = cli.command {
        let telemetry = telemetry::init_with_otlp(settings.telemetry.log_format)?;
        let served = startup::serve(settings).await;
        // The last spans are flushed before the process exits; the flush blocks, so off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
        return served;
    }
    telemetry::init(settings.telemetry.log_format);
    match cli.command {
        Command::Serve => Ok(()),
        Command::Migrate => {
            let (url, setting) = settings.migration_url();
            db::migrate::migrate(url, &setting, &db::Auth::from_settings(&settings)?).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => Ok(()),
        Command::Apps(c) => c.run(&connect(&settings).await?, crate::admin::apps::home_tenant(&settings)).await,
        Command::Keys(c) => c.run(&connect(&settings).await?).await,
        Command::Groups(c) => c.run(&connect(&settings).await?).await,
        Command::Policies(c) => c.run(&connect(&settings).await?, settings.delivery.allow_unknown_mailboxes).await,
        Command::Sync(c) => c.run(&connect(&settings).await?, crate::admin::apps::home_tenant(&settings)).await,
        Command::Audit(c) => c.run(&settings).await,
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let auth = db::Auth::from_settings(settings)?;
    db::connect(settings.db.url.expose_secret(), settings.db.max_connections, &auth)
        .await
        .context("connecting to DATABASE_URL")
}

/// Finds an app by name or Entra app id, with an error that says which.
async fn app(pool: &PgPool, name: &str) -> anyhow::Result<db::apps::App> {
    crate::admin::apps::get(pool, name).await.context("see `mailgate apps list`")
}
