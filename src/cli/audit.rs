//! `mailgate audit …`: operations on the audit log itself: checking it against its hash chain, and its upkeep.

use anyhow::Context;
use clap::Subcommand;

use super::audit_verify::VerifyArgs;
use crate::config::Settings;
use crate::db;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log against its hash chain; exits non-zero naming each row or link that was changed.
    /// Needs only read access (the service role will do).
    Verify(VerifyArgs),
    /// Drop the audit log's month partitions that ended more than the retention ago (whole months, never single
    /// events), with their hash-chain links. Connects as the owner role (MAILGATE_MIGRATION_DATABASE_URL, else
    /// DATABASE_URL): the service role may not drop anything from the audit log.
    Purge {
        /// List what would be dropped, and drop nothing.
        #[arg(long)]
        dry_run: bool,
        /// The retention in days; MAILGATE_AUDIT_RETENTION_DAYS (default 400) unless given.
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=36_500))]
        older_than_days: Option<i32>,
    },
}

impl AuditCommand {
    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        match self {
            Self::Verify(args) => args.run(&super::connect(settings).await?).await,
            Self::Purge { dry_run, older_than_days } => purge(settings, dry_run, older_than_days).await,
        }
    }
}

async fn purge(settings: &Settings, dry_run: bool, older_than_days: Option<i32>) -> anyhow::Result<()> {
    let days = older_than_days.unwrap_or(settings.retention.audit_retention_days);
    let (url, setting) = settings.migration_url();
    let pool = db::connect(url, 2, &db::Auth::from_settings(settings)?)
        .await
        .with_context(|| format!("connecting to {setting} as the owner role"))?;
    let expired = db::audit::drop_partitions(&pool, days, dry_run)
        .await
        .with_context(|| format!("dropping audit partitions as {setting}'s role, which must be the owner role"))?;
    let verb = if dry_run { "would drop" } else { "dropped" };
    for p in &expired {
        println!("{verb} {} (events until {}; {} events)", p.partition, p.range_end, p.events);
    }
    let events: i64 = expired.iter().map(|p| p.events).sum();
    println!("{verb} {} partitions, {events} events, older than {days} days", expired.len());
    pool.close().await;
    Ok(())
}
