//! `mailgate audit …`: operations on the audit log itself.

use clap::Subcommand;
use sqlx::PgPool;

use super::audit_verify::VerifyArgs;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit log against its hash chain; exits non-zero naming each row or link that was changed.
    /// Needs only read access (the service role will do).
    Verify(VerifyArgs),
}

impl AuditCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Verify(args) => args.run(pool).await,
        }
    }
}
