//! The append-only audit log: one event per decision and per Graph attempt.

use serde::Serialize;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// What happened, as recorded. Stable strings: dashboards and exports filter on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Accepted locally and queued.
    Queued,
    /// Refused by the local allowlist.
    Denied,
    /// Graph answered 202.
    Sent,
    /// Graph answered 403 ErrorAccessDenied: Exchange's policy refused.
    ExchangeDenied,
    /// Graph refused the request for another reason (4xx).
    Rejected,
    /// Graph answered 429.
    Throttled,
    /// Graph was unavailable (503 and other retryable faults), or no token could be had.
    Unavailable,
    /// The request may or may not have reached Graph (timeout, dropped connection, 5xx after sending).
    Unknown,
    /// Given up: attempts exhausted.
    Failed,
    /// A request without a usable credential (401), or with a valid one for an unregistered app.
    Unauthenticated,
    /// An authenticated caller without the role the endpoint needs (403).
    Forbidden,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Self::Queued,
        Self::Denied,
        Self::Sent,
        Self::ExchangeDenied,
        Self::Rejected,
        Self::Throttled,
        Self::Unavailable,
        Self::Unknown,
        Self::Failed,
        Self::Unauthenticated,
        Self::Forbidden,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Denied => "denied",
            Self::Sent => "sent",
            Self::ExchangeDenied => "exchange_denied",
            Self::Rejected => "rejected",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Unknown => "unknown",
            Self::Failed => "failed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
        }
    }
}

/// One audit event to append; fields left `None` are stored as NULL.
#[derive(Debug, Default, Serialize)]
pub struct NewEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

/// An event with its outcome, as `audit_append()` reads it: the one shape in which audit rows reach the database.
#[derive(Debug, Serialize)]
pub struct Appended<'a> {
    pub outcome: Outcome,
    #[serde(flatten)]
    pub event: NewEvent<'a>,
}

pub async fn record(db: impl PgExecutor<'_>, outcome: Outcome, event: NewEvent<'_>) -> Result<(), sqlx::Error> {
    let events = [Appended { outcome, event }];
    sqlx::query_scalar!("SELECT audit_append($1)", Json(&events[..]) as _).fetch_one(db).await.map(drop)
}

pub async fn for_message(db: impl PgExecutor<'_>, message_id: Uuid) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as!(
        AuditRow,
        "SELECT id, at, outcome, app_name, mailbox, message_id, attempt, http_status, graph_code, graph_request_id,
                   latency_ms, request_id, detail FROM audit_events WHERE message_id = $1 ORDER BY id",
        message_id
    )
    .fetch_all(db)
    .await
}

const ROW: &str = "id, at, outcome, app_name, mailbox, message_id, attempt, http_status, graph_code, graph_request_id,
                   latency_ms, request_id, detail";

/// Filters shared by the audit list, its exports and its statistics (which take all but `message_id`).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub app: Option<String>,
    pub mailbox: Option<String>,
    pub outcome: Option<String>,
    pub message_id: Option<Uuid>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// Where a page ends: the (at, id) of its last event. The next page starts strictly after it in the page order
/// (newest first), so no event is seen twice or skipped, however many arrive meanwhile (they are newer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: i64,
}

impl AuditRow {
    pub fn cursor(&self) -> Cursor {
        Cursor { at: self.at, id: self.id }
    }
}

#[derive(Debug, FromRow, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub outcome: String,
    pub app_name: Option<String>,
    pub mailbox: Option<String>,
    pub message_id: Option<Uuid>,
    pub attempt: Option<i32>,
    pub http_status: Option<i32>,
    pub graph_code: Option<String>,
    pub graph_request_id: Option<String>,
    pub latency_ms: Option<i32>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

pub(crate) const FILTER_SQL: &str = "($1::text IS NULL OR app_name = $1)
    AND ($2::text IS NULL OR mailbox = $2)
    AND ($3::text IS NULL OR outcome = $3)
    AND ($4::timestamptz IS NULL OR at >= $4)
    AND ($5::timestamptz IS NULL OR at < $5)";

/// Newest first, by (at, id), after `cursor` when given. Only the filters given become conditions, so each page is
/// planned for its own filters: one index of audit_events per filter (see the partitioning migration) serves it.
#[tracing::instrument(skip(db))]
pub async fn search(
    db: impl PgExecutor<'_>,
    f: &Filter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    page_query(f, cursor, limit).build_query_as().fetch_all(db).await
}

/// The SQL of one page.
pub fn page_query(f: &Filter, cursor: Option<Cursor>, limit: i64) -> QueryBuilder<Postgres> {
    page_query_after("", f, cursor, limit)
}

/// EXPLAIN of one page's query, for the test that checks each filter reads an index.
pub fn explain_page_query(f: &Filter, cursor: Option<Cursor>, limit: i64) -> QueryBuilder<Postgres> {
    page_query_after("EXPLAIN ", f, cursor, limit)
}

fn page_query_after(prefix: &str, f: &Filter, cursor: Option<Cursor>, limit: i64) -> QueryBuilder<Postgres> {
    // Dynamic: only the filters given become conditions, so each page is planned for its own filters.
    let mut q = QueryBuilder::new(format!("{prefix}SELECT {ROW} FROM audit_events WHERE true"));
    if let Some(app) = &f.app {
        q.push(" AND app_name = ").push_bind(app.clone());
    }
    if let Some(mailbox) = &f.mailbox {
        q.push(" AND mailbox = ").push_bind(mailbox.clone());
    }
    if let Some(outcome) = &f.outcome {
        q.push(" AND outcome = ").push_bind(outcome.clone());
    }
    if let Some(message_id) = f.message_id {
        q.push(" AND message_id = ").push_bind(message_id);
    }
    if let Some(since) = f.since {
        q.push(" AND at >= ").push_bind(since);
    }
    if let Some(until) = f.until {
        q.push(" AND at < ").push_bind(until);
    }
    if let Some(c) = cursor {
        // A row comparison: one index range condition on (…, at, id).
        q.push(" AND (at, id) < (").push_bind(c.at).push(", ").push_bind(c.id).push(")");
    }
    q.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(limit);
    q
}

/// Creates the partitions of the current and the next two months where missing (as the owner, through a function
/// the service may call); returns the names of those it made.
pub async fn ensure_partitions(db: impl PgExecutor<'_>) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT audit_events_ensure_partitions(2) AS "made!""#).fetch_all(db).await
}

/// At start and then daily, makes sure the coming months have their partitions, so that no event lands in the
/// DEFAULT partition (which would keep it from being dropped with its month).
pub async fn keep_partitions(pool: sqlx::PgPool) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(86_400));
    loop {
        every.tick().await;
        match ensure_partitions(&pool).await {
            Ok(made) if !made.is_empty() => tracing::info!(partitions = ?made, "audit partitions created"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not create the coming months' audit partitions"),
        }
    }
}

/// A month partition past the retention: dropped, or only listed on a dry run.
#[derive(Debug, FromRow)]
pub struct ExpiredPartition {
    pub partition: String,
    pub range_end: OffsetDateTime,
    pub events: i64,
}

/// Drops every month partition whose whole range ended `older_than_days` days ago or earlier. Needs the owner role:
/// the service may not call it.
pub async fn drop_partitions(
    db: impl PgExecutor<'_>,
    older_than_days: i32,
    dry_run: bool,
) -> Result<Vec<ExpiredPartition>, sqlx::Error> {
    sqlx::query_as!(
        ExpiredPartition,
        r#"SELECT partition AS "partition!", range_end AS "range_end!", events AS "events!"
           FROM audit_events_drop_partitions($1, $2)"#,
        older_than_days,
        dry_run
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// The range counted: events at or after `since` and before `until`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    pub total: i64,
    /// Events per outcome.
    pub by_outcome: std::collections::BTreeMap<String, i64>,
    /// Events per app and outcome, busiest apps first (at most 50 apps).
    pub by_app: Vec<GroupCount>,
    /// Events per mailbox and outcome, busiest mailboxes first (at most 50 mailboxes).
    pub by_mailbox: Vec<GroupCount>,
    /// Graph latency over attempts that got an HTTP answer, in milliseconds.
    pub graph_latency_ms: Latency,
}

#[derive(Debug, Serialize, FromRow, utoipa::ToSchema)]
pub struct GroupCount {
    pub key: String,
    pub outcome: String,
    pub count: i64,
}

#[derive(Debug, Serialize, FromRow, utoipa::ToSchema)]
pub struct Latency {
    pub count: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// Binds the filter to `$1`…`$5`, as FILTER_SQL expects.
pub(crate) fn filtered<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    f: &'q Filter,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    q.bind(&f.app).bind(&f.mailbox).bind(&f.outcome).bind(f.since).bind(f.until)
}

#[tracing::instrument(skip(db))]
pub async fn stats(db: &mut sqlx::PgConnection, f: &Filter) -> Result<Stats, sqlx::Error> {
    let q = |sql: String| sqlx::AssertSqlSafe(sql);
    // Dynamic, as the two below: FILTER_SQL is shared by the statistics, the series and the exports.
    let by_outcome: Vec<(String, i64)> = filtered(
        sqlx::query_as(q(format!(
            "SELECT outcome, count(*) FROM audit_events WHERE {FILTER_SQL} GROUP BY outcome ORDER BY outcome"
        ))),
        f,
    )
    .fetch_all(&mut *db)
    .await?;
    let grouped = |column: &str| {
        format!(
            "WITH top AS (SELECT {column} AS key FROM audit_events WHERE {FILTER_SQL} AND {column} IS NOT NULL
                           GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 50)
             SELECT e.{column} AS key, e.outcome, count(*) AS count
               FROM audit_events e JOIN top t ON t.key = e.{column}
              WHERE {FILTER_SQL}
              GROUP BY e.{column}, e.outcome ORDER BY e.{column}, e.outcome"
        )
    };
    let mut by_group = Vec::new();
    for column in ["app_name", "mailbox"] {
        // Dynamic: the grouping column is spliced in (one statement text per column).
        let rows: Vec<GroupCount> = filtered(sqlx::query_as(q(grouped(column))), f).fetch_all(&mut *db).await?;
        by_group.push(rows);
    }
    let graph_latency_ms: Latency = filtered(
        sqlx::query_as(q(format!(
            "SELECT count(*) AS count,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99
           FROM audit_events WHERE {FILTER_SQL} AND latency_ms IS NOT NULL AND http_status IS NOT NULL"
        ))),
        f,
    )
    .fetch_one(&mut *db)
    .await?;
    let by_mailbox = by_group.pop().unwrap_or_default();
    let by_app = by_group.pop().unwrap_or_default();
    Ok(Stats {
        since: f.since,
        until: f.until,
        total: by_outcome.iter().map(|(_, n)| n).sum(),
        by_outcome: by_outcome.into_iter().collect(),
        by_app,
        by_mailbox,
        graph_latency_ms,
    })
}
