//! Audit events counted per outcome in fixed time buckets, for charts of outcomes over time.

use sqlx::PgExecutor;

use super::audit::{FILTER_SQL, Filter, filtered};

/// One bucket's count of one outcome: `start` is the bucket's start in Unix seconds.
#[derive(Debug, sqlx::FromRow, PartialEq, Eq)]
pub struct BucketCount {
    pub start: i64,
    pub outcome: String,
    pub count: i64,
}

/// Counts per bucket of `width_secs` (aligned to the Unix epoch, so in UTC) and outcome, oldest first; buckets
/// without events are absent. The filter should bound the time (`since`), so the `at` index limits the scan.
#[tracing::instrument(skip(db))]
pub async fn counts(db: impl PgExecutor<'_>, f: &Filter, width_secs: i64) -> Result<Vec<BucketCount>, sqlx::Error> {
    // Whole seconds are enough for buckets of a minute or more; integer arithmetic keeps the alignment exact.
    // Dynamic: FILTER_SQL is shared with the audit statistics and exports.
    let sql = format!(
        "SELECT floor(extract(epoch FROM at) / $6::bigint)::bigint * $6::bigint AS start, outcome, count(*) AS count
           FROM audit_events
          WHERE {FILTER_SQL}
          GROUP BY 1, 2 ORDER BY 1, 2"
    );
    filtered(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f).bind(width_secs).fetch_all(db).await
}
