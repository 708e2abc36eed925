//! `mailgate groups …`

use clap::Subcommand;
use sqlx::PgPool;

use crate::db;
use crate::db::groups::MemberError;
use crate::domain::{EmailAddress, Mailbox};

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Mirror a mail-enabled security group.
    Create { address: String },
    /// Add a member: a mailbox (address or object id) or another group.
    AddMember { group: String, member: String },
    /// List groups and their direct members.
    List,
}

impl GroupsCommand {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        match self {
            Self::Create { address } => {
                let address = EmailAddress::parse(&address).map_err(|e| anyhow::anyhow!("group address: {e}"))?;
                anyhow::ensure!(
                    db::groups::find(pool, address.as_str()).await?.is_none(),
                    "group {address} already exists"
                );
                let g = db::groups::create(pool, address.as_str()).await?;
                println!("created group {} ({})", g.address, g.id);
                Ok(())
            }
            Self::AddMember { group, member } => {
                let group = EmailAddress::parse(&group).map_err(|e| anyhow::anyhow!("group address: {e}"))?;
                let member = Mailbox::parse(&member).map_err(|e| anyhow::anyhow!("member: {e}"))?;
                let mut tx = pool.begin().await?;
                match db::groups::add_member(&mut tx, group.as_str(), &member.key()).await {
                    Ok(()) => {}
                    Err(MemberError::Db(e)) => return Err(e.into()),
                    Err(e) => anyhow::bail!("{e}"),
                }
                tx.commit().await?;
                println!("added {member} to {group}");
                Ok(())
            }
            Self::List => {
                let groups = db::groups::list(pool).await?;
                let members = db::groups::members(pool).await?;
                for g in &groups {
                    println!("{}", g.address);
                    for m in members.iter().filter(|m| m.group_id == g.id) {
                        match (&m.mailbox, m.member_group_id) {
                            (Some(mb), _) => println!("  {mb}"),
                            (None, Some(child)) => {
                                let name = groups.iter().find(|x| x.id == child).map_or("?", |x| x.address.as_str());
                                println!("  {name} (group)");
                            }
                            _ => {}
                        }
                    }
                }
                Ok(())
            }
        }
    }
}
