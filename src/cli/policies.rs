//! `mailgate policies …`: the local counterparts of New-, Get-, Remove- and Test-ApplicationAccessPolicy
//! (and, for `test`, Test-ServicePrincipalAuthorization).

use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::admin::Actor;
use crate::admin::policies::{self, PolicyInput};
use crate::db;
use crate::domain::Mailbox;
use crate::policy::{Access, PolicyCache, decide};

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Create a policy (New-ApplicationAccessPolicy).
    New {
        /// An app name or Entra app id; repeat or separate with commas for several; `*` for every app.
        #[arg(long, required = true, value_delimiter = ',')]
        app: Vec<String>,
        /// The mail-enabled security group (or user mailbox) that scopes the policy.
        #[arg(long)]
        scope_group: String,
        /// RestrictAccess or DenyAccess.
        #[arg(long)]
        access_right: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List policies.
    List,
    /// Remove a policy by id.
    Remove { id: Uuid },
    /// Decide one app and mailbox. Prints Granted or Denied first, then why, then everything considered.
    Test {
        #[arg(long)]
        app: String,
        #[arg(long)]
        mailbox: String,
    },
}

impl PoliciesCommand {
    pub async fn run(self, pool: &PgPool, allow_unknown_mailboxes: bool) -> anyhow::Result<()> {
        let actor = Actor::cli();
        match self {
            Self::New { app, scope_group, access_right, description } => {
                let input = PolicyInput { apps: app, scope: scope_group, access_right, description };
                let p = policies::create(pool, &actor, &input).await?;
                let apps = if p.all_apps { "*".to_owned() } else { p.apps.join(", ") };
                println!("created policy {}: {} on {} for {apps}", p.id, p.access_right, p.scope);
            }
            Self::List => {
                for p in db::policies::list(pool).await? {
                    let apps = if p.all_apps { "*".to_owned() } else { p.apps.join(",") };
                    println!("{}\t{}\t{}\t{}\t{}", p.id, p.access_right, apps, p.scope, p.description);
                }
            }
            Self::Remove { id } => {
                policies::remove(pool, &actor, id).await?;
                println!("removed policy {id}");
            }
            Self::Test { app, mailbox } => {
                let app = super::app(pool, &app).await?;
                let mailbox = Mailbox::parse(&mailbox).map_err(|e| anyhow::anyhow!("--mailbox: {e}"))?;
                // Decided as `serve` decides, with the same reading of unknown mailboxes.
                let snapshot = PolicyCache::new(allow_unknown_mailboxes).get(pool).await?;
                let d = decide(&snapshot, app.id, &app.name, &mailbox.key());
                println!("{}", if d.access == Access::Granted { "Granted" } else { "Denied" });
                println!("{}", d.reason);
                for c in &d.considered {
                    let mark = if c.matched { "+" } else { "-" };
                    let id = c.id.map(|i| format!(" {i}")).unwrap_or_default();
                    println!("  {mark} {:?}{id} {}: {}", c.kind, c.name, c.why);
                }
            }
        }
        Ok(())
    }
}
