//! `mailgate groups …`

use clap::Subcommand;
use sqlx::PgPool;

use crate::admin::Actor;
use crate::admin::groups::{self, GroupInput};
use crate::db;

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Mirror a mail-enabled security group.
    Create {
        address: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Add a member: a mailbox (address or object id) or another group.
    AddMember { group: String, member: String },
    /// Remove a member.
    RemoveMember { group: String, member: String },
    /// Remove a group (refused while a policy is scoped to it).
    Remove { address: String },
    /// List groups and their direct members.
    List,
}

impl GroupsCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        let actor = Actor::cli();
        match self {
            Self::Create { address, display_name } => {
                let g = groups::create(pool, &actor, &GroupInput { address, display_name, object_id: None }).await?;
                println!("created group {} ({})", g.address, g.id);
            }
            Self::AddMember { group, member } => {
                groups::add_member(pool, &actor, &group, &member).await?;
                println!("added {member} to {group}");
            }
            Self::RemoveMember { group, member } => {
                groups::remove_member(pool, &actor, &group, &member).await?;
                println!("removed {member} from {group}");
            }
            Self::Remove { address } => {
                groups::remove(pool, &actor, &address).await?;
                println!("removed group {address}");
            }
            Self::List => {
                for g in db::groups::list(pool).await? {
                    println!("{}", g.address);
                    let (mailboxes, nested) = db::groups::direct_members(pool, g.id).await?;
                    for m in mailboxes {
                        println!("  {m}");
                    }
                    for n in nested {
                        println!("  {n} (group)");
                    }
                }
            }
        }
        Ok(())
    }
}
