//! `GET /v1/audit/timeseries`: outcomes over time, in buckets, for the dashboard's chart.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::params::{self, AuditParams};
use crate::db::audit_series::{self, BucketCount};
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::state::AppState;

/// Bucket widths chosen when none is asked for: the narrowest that gives at most `AUTO_BUCKETS` buckets.
const WIDTHS: [i64; 12] = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800];
const AUTO_BUCKETS: i64 = 100;
/// At most this many buckets when the width is given.
const MAX_BUCKETS: i64 = 1000;
const MIN_WIDTH: i64 = 60;
const MAX_WIDTH: i64 = 2_592_000;

/// The filters of `/v1/audit`, and the bucket width.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SeriesParams {
    /// An app's name.
    pub app: Option<String>,
    /// A mailbox address or object id.
    #[param(schema_with = crate::admin::schema::mailbox)]
    pub mailbox: Option<String>,
    #[param(schema_with = super::params::outcome)]
    pub outcome: Option<String>,
    /// RFC 3339; events at or after. Default: 24 hours before `until`. `since`..`until` spans at most the retention
    /// period (`MAILGATE_AUDIT_RETENTION_DAYS`, 400 days by default).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; events before; later than `since`. Default: now.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Width of a bucket in seconds, 60-2592000, at most 1000 buckets over the range. Default: the narrowest of
    /// 1, 5, 10, 15 and 30 minutes, 1, 2, 3, 6 and 12 hours, a day and whole weeks that gives at most 100 buckets.
    #[param(value_type = Option<i64>, minimum = 60, maximum = 2592000)]
    pub bucket_secs: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub bucket_secs: i64,
    /// Every bucket from the one holding `since` to the one holding the instant before `until`, oldest first,
    /// empty ones included. Buckets are aligned to the Unix epoch (UTC), so the first may start before `since`;
    /// only events within `since`..`until` are counted.
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub total: i64,
    /// Events per outcome; outcomes without events are left out.
    pub counts: BTreeMap<String, i64>,
}

/// Audit events per outcome in time buckets, over the same filters as `/v1/audit`.
#[utoipa::path(
    get, path = "/v1/audit/timeseries", tag = "audit",
    params(SeriesParams),
    responses(
        (status = 200, body = Series),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A parameter is invalid (`field` names it); `range_too_long`: `since`..`until` spans more than the retention period"),
        (status = 503, body = Problem, content_type = "application/problem+json", headers(("Retry-After" = String)), description = "The instance is overloaded, shutting down, or the request timed out; `unavailable`: the audit database cannot be reached; retry. `query_timeout`: the query ran past MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS: narrow it"),
    ),
)]
pub async fn timeseries(
    State(state): State<AppState>,
    StrictQuery(p): StrictQuery<SeriesParams>,
) -> Result<Json<Series>, ApiError> {
    let width = p.bucket_secs.as_deref().map(parse_width).transpose()?;
    let filters = AuditParams {
        app: p.app,
        mailbox: p.mailbox,
        outcome: p.outcome,
        since: p.since,
        until: p.until,
        ..AuditParams::default()
    };
    let mut parsed = params::parse(filters, false)?.with_canonical_mailbox(&state).await?;
    let (since, until) =
        params::counted_range(parsed.filter.since, parsed.filter.until, state.settings.retention.audit_retention_days)?;
    parsed.filter.since = Some(since);
    parsed.filter.until = Some(until);
    let span = (until - since).whole_seconds();
    let width = match width {
        Some(w) if buckets(span, w) > MAX_BUCKETS => {
            return Err(ApiError::invalid(
                "bucket_secs",
                format!(
                    "`bucket_secs` {w} makes {} buckets over {span} s; at most {MAX_BUCKETS}: widen it or narrow \
                     `since`..`until`",
                    buckets(span, w)
                ),
            ));
        }
        Some(w) => w,
        None => auto_width(span),
    };
    let failed = super::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    let counts = audit_series::counts(&mut *tx, &parsed.filter, width).await.map_err(&failed)?;
    drop(tx);
    Ok(Json(Series { since, until, bucket_secs: width, buckets: dense(since, until, width, counts) }))
}

fn parse_width(value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().ok().filter(|w| (MIN_WIDTH..=MAX_WIDTH).contains(w)).ok_or_else(|| {
        ApiError::invalid(
            "bucket_secs",
            format!("`bucket_secs` must be a whole number of seconds from {MIN_WIDTH} to {MAX_WIDTH}"),
        )
    })
}

/// How many buckets of `width` seconds cover `span` seconds, at worst (the first may start before `since`).
fn buckets(span: i64, width: i64) -> i64 {
    span / width + 2
}

fn auto_width(span: i64) -> i64 {
    let fits = |w: i64| ceil_div(span, w) <= AUTO_BUCKETS;
    WIDTHS.into_iter().find(|w| fits(*w)).unwrap_or_else(|| {
        // Longer than 100 weeks: whole weeks.
        let week = WIDTHS[WIDTHS.len() - 1];
        ceil_div(ceil_div(span, AUTO_BUCKETS), week) * week
    })
}

/// `a / b` rounded up, for a positive `b` (`i64::div_ceil` is not stable).
fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

/// Every bucket over the range, each with its counts; `counts` is ordered by start.
fn dense(since: OffsetDateTime, until: OffsetDateTime, width: i64, counts: Vec<BucketCount>) -> Vec<Bucket> {
    let first = since.unix_timestamp().div_euclid(width) * width;
    let end = until.unix_timestamp();
    let mut by_start: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for c in counts {
        by_start.entry(c.start).or_default().insert(c.outcome, c.count);
    }
    let mut out = Vec::new();
    let mut start = first;
    // `first` is at or before `since`, which is before `until`: at least one bucket.
    while start < end {
        let counts = by_start.remove(&start).unwrap_or_default();
        out.push(Bucket {
            start: OffsetDateTime::from_unix_timestamp(start).unwrap_or(since),
            total: counts.values().sum(),
            counts,
        });
        start += width;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).expect("time")
    }

    #[test]
    fn the_automatic_width_keeps_to_a_hundred_buckets() {
        assert_eq!(auto_width(3600), 60);
        assert_eq!(auto_width(86_400), 900);
        assert_eq!(auto_width(7 * 86_400), 7200);
        assert_eq!(auto_width(30 * 86_400), 43_200);
        assert_eq!(auto_width(1), 60);
        // 1000 weeks: ten weeks a bucket.
        assert_eq!(auto_width(1000 * 604_800), 10 * 604_800);
    }

    #[test]
    fn buckets_cover_the_range_and_hold_their_counts() {
        let counts = vec![
            BucketCount { start: 120, outcome: "sent".into(), count: 2 },
            BucketCount { start: 120, outcome: "denied".into(), count: 1 },
            BucketCount { start: 240, outcome: "sent".into(), count: 5 },
        ];
        // 90..300 with one-minute buckets: 60, 120, 180, 240.
        let b = dense(at(90), at(300), 60, counts);
        let starts: Vec<i64> = b.iter().map(|b| b.start.unix_timestamp()).collect();
        assert_eq!(starts, [60, 120, 180, 240]);
        let totals: Vec<i64> = b.iter().map(|b| b.total).collect();
        assert_eq!(totals, [0, 3, 0, 5]);
        assert_eq!(b[1].counts["denied"], 1);
        assert!(b[2].counts.is_empty());
    }

    #[test]
    fn widths_are_whole_minutes_to_thirty_days() {
        assert_eq!(parse_width("59").expect_err("narrow").field.as_deref(), Some("bucket_secs"));
        assert_eq!(parse_width("x").expect_err("text").field.as_deref(), Some("bucket_secs"));
        assert_eq!(parse_width("3600").expect("hour"), 3600);
    }
}
