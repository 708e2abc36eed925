//! Mail-enabled security groups and their members, as mirrored from Exchange.

use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct GroupRow {
    pub id: Uuid,
    pub address: String,
}

#[derive(Debug, FromRow)]
pub struct MemberRow {
    pub group_id: Uuid,
    pub mailbox: Option<String>,
    pub member_group_id: Option<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("group {0} does not exist")]
    NoGroup(String),
    #[error("adding {member} to {group} would make a group contain itself")]
    Cycle { group: String, member: String },
    #[error("{member} is already a member of {group}")]
    Duplicate { group: String, member: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[tracing::instrument(skip(db))]
pub async fn create(db: impl PgExecutor<'_>, address: &str) -> Result<GroupRow, sqlx::Error> {
    sqlx::query_as("INSERT INTO groups (id, address) VALUES ($1, $2) RETURNING id, address")
        .bind(Uuid::now_v7())
        .bind(address)
        .fetch_one(db)
        .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: impl PgExecutor<'_>, address: &str) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, address FROM groups WHERE address = $1").bind(address).fetch_optional(db).await
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, address FROM groups ORDER BY address").fetch_all(db).await
}

pub async fn members(db: impl PgExecutor<'_>) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as("SELECT group_id, mailbox, member_group_id FROM group_members").fetch_all(db).await
}

/// Adds a member: another group when `member` names one, otherwise a mailbox. Refuses cycles and duplicates.
#[tracing::instrument(skip(tx))]
pub async fn add_member(tx: &mut Transaction<'_, Postgres>, group: &str, member: &str) -> Result<(), MemberError> {
    let parent = find(&mut **tx, group).await?.ok_or_else(|| MemberError::NoGroup(group.to_owned()))?;
    let nested = find(&mut **tx, member).await?;
    if let Some(child) = &nested {
        // Is `parent` reachable from `child`? Then the new edge would close a loop.
        let loops: bool = sqlx::query_scalar(
            "WITH RECURSIVE below(id) AS (
                 SELECT $1::uuid
                 UNION
                 SELECT gm.member_group_id FROM group_members gm JOIN below b ON gm.group_id = b.id
                  WHERE gm.member_group_id IS NOT NULL)
             SELECT EXISTS (SELECT 1 FROM below WHERE id = $2)",
        )
        .bind(child.id)
        .bind(parent.id)
        .fetch_one(&mut **tx)
        .await?;
        if loops {
            return Err(MemberError::Cycle { group: group.to_owned(), member: member.to_owned() });
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO group_members (group_id, mailbox, member_group_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(parent.id)
    .bind(nested.is_none().then_some(member))
    .bind(nested.map(|g| g.id))
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(MemberError::Duplicate { group: group.to_owned(), member: member.to_owned() });
    }
    Ok(())
}
