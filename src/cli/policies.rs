//! `mailgate policies …`: the local counterparts of New-, Get-, Remove- and Test-ApplicationAccessPolicy.

use anyhow::Context;
use clap::Subcommand;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::db::policies::NewPolicy;
use crate::domain::{EmailAddress, Mailbox};
use crate::policy::{Access, AccessRight, AppSelector, decide};

#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// Create a policy (New-ApplicationAccessPolicy).
    New {
        /// An app name or Entra app id; repeat or separate with commas for several; `*` for every app.
        #[arg(long, required = true, value_delimiter = ',')]
        app: Vec<String>,
        /// The mail-enabled security group that scopes the policy.
        #[arg(long)]
        scope_group: String,
        /// RestrictAccess or DenyAccess.
        #[arg(long)]
        access_right: AccessRight,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List policies.
    List,
    /// Remove a policy by id.
    Remove { id: Uuid },
    /// Decide one app and mailbox (Test-ApplicationAccessPolicy). Prints Granted or Denied first.
    Test {
        #[arg(long)]
        app: String,
        #[arg(long)]
        mailbox: String,
    },
}

impl PoliciesCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::New { app, scope_group, access_right, description } => {
                let apps = if app.iter().any(|a| a == "*") {
                    anyhow::ensure!(app.len() == 1, "`*` stands for every app and cannot be combined with named apps");
                    AppSelector::All
                } else {
                    let mut ids = Vec::new();
                    for name in &app {
                        ids.push(super::app(pool, name).await?.id);
                    }
                    AppSelector::Apps(ids)
                };
                let group = EmailAddress::parse(&scope_group).map_err(|e| anyhow::anyhow!("--scope-group: {e}"))?;
                let group = db::groups::find(pool, group.as_str())
                    .await?
                    .with_context(|| format!("no group {group} (create it with `mailgate groups create`)"))?;
                anyhow::ensure!(!description.contains(['\r', '\n']), "--description must be one line");
                let mut tx = pool.begin().await?;
                let new = NewPolicy { apps: &apps, scope_group_id: group.id, access_right, description: &description };
                let id = db::policies::create(&mut tx, new).await?;
                tx.commit().await?;
                println!("created policy {id}: {access_right} on {} for {}", group.address, app.join(", "));
                Ok(())
            }
            Self::List => {
                for p in db::policies::list(pool).await? {
                    let apps = if p.all_apps { "*".to_owned() } else { p.apps.join(",") };
                    println!("{}\t{}\t{}\t{}\t{}", p.id, p.access_right, apps, p.scope_group, p.description);
                }
                Ok(())
            }
            Self::Remove { id } => {
                anyhow::ensure!(db::policies::remove(pool, id).await?, "no policy {id}");
                println!("removed policy {id}");
                Ok(())
            }
            Self::Test { app, mailbox } => {
                let app = super::app(pool, &app).await?;
                let mailbox = Mailbox::parse(&mailbox).map_err(|e| anyhow::anyhow!("--mailbox: {e}"))?;
                let snapshot = db::policies::load_snapshot(pool).await?;
                let d = decide(&snapshot, app.id, &app.name, &mailbox.key());
                println!("{}", if d.access == Access::Granted { "Granted" } else { "Denied" });
                println!("{}", d.reason);
                if let Some(id) = d.policy_id {
                    println!("policy: {id}");
                }
                Ok(())
            }
        }
    }
}
