//! `mailgate sync …`: import the mirror from an Exchange bundle, or export it as PowerShell.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::exchange_sync;

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Compare a bundle written by deploy/exo/Export-MailgateBundle.ps1 with the mirror; print the diff.
    /// Without --apply nothing is changed.
    Import {
        file: PathBuf,
        /// Make the mirror match the bundle (in one transaction).
        #[arg(long)]
        apply: bool,
    },
    /// Print the PowerShell that would create the mirror's state in Exchange Online.
    Export,
}

impl SyncCommand {
    pub async fn run(self, pool: &PgPool, home_tenant: Option<Uuid>) -> anyhow::Result<()> {
        match self {
            Self::Import { file, apply } => {
                let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let mut desired = exchange_sync::normalize(&exchange_sync::parse_bundle(&text)?)?;
                desired.home_tenant = home_tenant;
                let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into());
                let report = exchange_sync::import(pool, &desired, &format!("import:{name}"), apply).await?;
                print!("{report}");
                Ok(())
            }
            Self::Export => {
                print!("{}", exchange_sync::export(pool).await?);
                Ok(())
            }
        }
    }
}
