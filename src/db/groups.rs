//! Mail-enabled security groups and their members, as mirrored from Exchange.

use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct GroupRow {
    pub id: Uuid,
    pub address: String,
    pub display_name: String,
    pub object_id: Option<Uuid>,
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
    #[error("{member} is not a member of {group}")]
    NotMember { group: String, member: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[tracing::instrument(skip(db))]
pub async fn create(
    db: impl PgExecutor<'_>,
    address: &str,
    display_name: &str,
    object_id: Option<Uuid>,
) -> Result<GroupRow, sqlx::Error> {
    sqlx::query_as!(GroupRow, "INSERT INTO groups (id, address, display_name, object_id) VALUES ($1, $2, $3, $4) RETURNING id, address, display_name, object_id", Uuid::now_v7(), address, display_name, object_id)
    .fetch_one(db)
    .await
}

#[tracing::instrument(skip(db))]
pub async fn find(db: impl PgExecutor<'_>, address: &str) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as!(GroupRow, "SELECT id, address, display_name, object_id FROM groups WHERE address = $1", address)
        .fetch_optional(db)
        .await
}

pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<GroupRow>, sqlx::Error> {
    sqlx::query_as!(GroupRow, "SELECT id, address, display_name, object_id FROM groups ORDER BY address")
        .fetch_all(db)
        .await
}

pub async fn remove(db: impl PgExecutor<'_>, address: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("DELETE FROM groups WHERE address = $1", address).execute(db).await.map(|r| r.rows_affected() == 1)
}

pub async fn members(db: impl PgExecutor<'_>) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as!(MemberRow, "SELECT group_id, mailbox, member_group_id FROM group_members").fetch_all(db).await
}

/// A group's direct members: (mailboxes, nested group addresses).
pub async fn direct_members(db: impl PgExecutor<'_>, group: Uuid) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT m.mailbox, g.address AS "address?" FROM group_members m LEFT JOIN groups g ON g.id = m.member_group_id
            WHERE m.group_id = $1 ORDER BY m.mailbox, g.address"#,
        group
    )
    .fetch_all(db)
    .await?;
    let mailboxes = rows.iter().filter_map(|r| r.mailbox.clone()).collect();
    let groups = rows.into_iter().filter_map(|r| r.address).collect();
    Ok((mailboxes, groups))
}

/// Adds a member: another group when `member` names one, otherwise a mailbox. Refuses cycles and duplicates.
#[tracing::instrument(skip(tx))]
pub async fn add_member(tx: &mut Transaction<'_, Postgres>, group: &str, member: &str) -> Result<(), MemberError> {
    let parent = find(&mut **tx, group).await?.ok_or_else(|| MemberError::NoGroup(group.to_owned()))?;
    let nested = find(&mut **tx, member).await?;
    if let Some(child) = &nested {
        // Is `parent` reachable from `child`? Then the new edge would close a loop.
        let loops: bool = sqlx::query_scalar!(
            r#"WITH RECURSIVE below(id) AS (
                 SELECT $1::uuid
                 UNION
                 SELECT gm.member_group_id FROM group_members gm JOIN below b ON gm.group_id = b.id
                  WHERE gm.member_group_id IS NOT NULL)
             SELECT EXISTS (SELECT 1 FROM below WHERE id = $2) AS "loops!""#,
            child.id,
            parent.id
        )
        .fetch_one(&mut **tx)
        .await?;
        if loops {
            return Err(MemberError::Cycle { group: group.to_owned(), member: member.to_owned() });
        }
    }
    let inserted = sqlx::query!(
        "INSERT INTO group_members (group_id, mailbox, member_group_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        parent.id,
        nested.is_none().then_some(member),
        nested.map(|g| g.id)
    )
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(MemberError::Duplicate { group: group.to_owned(), member: member.to_owned() });
    }
    Ok(())
}

pub async fn remove_member(tx: &mut Transaction<'_, Postgres>, group: &str, member: &str) -> Result<(), MemberError> {
    let parent = find(&mut **tx, group).await?.ok_or_else(|| MemberError::NoGroup(group.to_owned()))?;
    let removed = sqlx::query!(
        "DELETE FROM group_members m USING (SELECT $2::text AS key) k
          WHERE m.group_id = $1
            AND (m.mailbox = k.key OR m.member_group_id = (SELECT id FROM groups WHERE address = k.key))",
        parent.id,
        member
    )
    .execute(&mut **tx)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(MemberError::NotMember { group: group.to_owned(), member: member.to_owned() });
    }
    Ok(())
}

pub async fn set_display_name(db: impl PgExecutor<'_>, address: &str, display_name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query!("UPDATE groups SET display_name = $2 WHERE address = $1", address, display_name)
        .execute(db)
        .await
        .map(|r| r.rows_affected() == 1)
}

/// Creates the group at `address`, or replaces the mirrored fields of the one there (the import's write).
#[tracing::instrument(skip_all, fields(%address))]
pub async fn upsert(
    db: impl PgExecutor<'_>,
    address: &str,
    object_id: Option<Uuid>,
    display_name: &str,
    recipient_type_details: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO groups (id, address, object_id, display_name, recipient_type_details) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (address) DO UPDATE SET object_id = EXCLUDED.object_id,
                display_name = EXCLUDED.display_name, recipient_type_details = EXCLUDED.recipient_type_details",
        Uuid::now_v7(),
        address,
        object_id,
        display_name,
        recipient_type_details
    )
    .execute(db)
    .await
    .map(drop)
}

/// Adds to the group at `group` a mailbox or (by address) a nested group, without the checks of `add_member`: the
/// import's diff has made them.
#[tracing::instrument(skip_all, fields(%group))]
pub async fn insert_member(
    db: impl PgExecutor<'_>,
    group: &str,
    mailbox: Option<&str>,
    child: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO group_members (group_id, mailbox, member_group_id)
         SELECT (SELECT id FROM groups WHERE address = $1), $2, (SELECT id FROM groups WHERE address = $3)",
        group,
        mailbox,
        child
    )
    .execute(db)
    .await
    .map(drop)
}

/// Removes from the group at `group` the mailbox or (by address) nested group given.
#[tracing::instrument(skip_all, fields(%group))]
pub async fn delete_member(
    db: impl PgExecutor<'_>,
    group: &str,
    mailbox: Option<&str>,
    child: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM group_members WHERE group_id = (SELECT id FROM groups WHERE address = $1)
            AND (mailbox = $2 OR member_group_id = (SELECT id FROM groups WHERE address = $3))",
        group,
        mailbox,
        child
    )
    .execute(db)
    .await
    .map(drop)
}
