//! Query parameters of the audit endpoints, checked once with errors that name the parameter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

use crate::db::audit::{Cursor, Filter, Outcome};
use crate::domain::Mailbox;
use crate::error::{ApiError, ErrorCode};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// An app's name.
    pub app: Option<String>,
    /// A mailbox address or object id.
    #[param(schema_with = crate::admin::schema::mailbox)]
    pub mailbox: Option<String>,
    #[param(schema_with = outcome)]
    pub outcome: Option<String>,
    /// A message's id: the events of that message.
    #[param(format = Uuid)]
    pub message_id: Option<String>,
    /// RFC 3339; events at or after.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; events before; later than `since`.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// Page size: 1-1000 (JSON) or 1-10000 (CSV); default 100.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page (opaque). Pages are read newest first after it: none is repeated or
    /// skipped while events arrive.
    pub cursor: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also selects CSV.
    #[param(schema_with = format)]
    pub format: Option<String>,
}

/// The filters of `/v1/audit` without its paging, for statistics.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// An app's name.
    pub app: Option<String>,
    /// A mailbox address or object id.
    #[param(schema_with = crate::admin::schema::mailbox)]
    pub mailbox: Option<String>,
    #[param(schema_with = outcome)]
    pub outcome: Option<String>,
    /// RFC 3339; events at or after. Default: 24 hours before `until`. `since`..`until` spans at most the retention
    /// period (`MAILGATE_AUDIT_RETENTION_DAYS`, 400 days by default).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// RFC 3339; events before; later than `since`. Default: now.
    #[param(format = DateTime)]
    pub until: Option<String>,
}

impl From<StatsParams> for AuditParams {
    fn from(p: StatsParams) -> Self {
        AuditParams {
            app: p.app,
            mailbox: p.mailbox,
            outcome: p.outcome,
            since: p.since,
            until: p.until,
            ..Self::default()
        }
    }
}

pub(crate) fn outcome() -> utoipa::openapi::schema::Schema {
    let names = Outcome::ALL.iter().map(|o| o.as_str());
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .into()
}

fn format() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["json", "csv"]))
        .into()
}

pub struct Parsed {
    pub filter: Filter,
    pub after: Option<Cursor>,
    pub limit: i64,
    pub csv: bool,
}

impl Parsed {
    /// Audit rows name the mailbox by its primary address; a filter by any other of its names finds them too.
    pub async fn with_canonical_mailbox(mut self, state: &crate::state::AppState) -> Result<Self, ApiError> {
        if let Some(m) = self.filter.mailbox.take() {
            let snapshot = state.policy.get(&state.pool).await?;
            self.filter.mailbox = Some(snapshot.directory.identify(&m).canonical);
        }
        Ok(self)
    }
}

fn time(field: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                ApiError::invalid(field, format!("`{field}` must be an RFC 3339 time such as 2026-11-26T00:00:00Z"))
            })
        })
        .transpose()
}

/// The range statistics and time series count over: until now and since a day before `until` unless given, and at
/// most the retention period long (`MAILGATE_AUDIT_RETENTION_DAYS`): events older are not kept, and an unbounded
/// range would have every such query read the whole log.
pub fn counted_range(
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    retention_days: i32,
) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let until = until.unwrap_or_else(OffsetDateTime::now_utc);
    let since = match since {
        Some(s) => s,
        None => until
            .checked_sub(time::Duration::DAY)
            .ok_or_else(|| ApiError::invalid("until", "`until` is too early to count a day back from"))?,
    };
    if since >= until {
        return Err(ApiError::invalid("until", "`until` (now, when not given) must be later than `since`"));
    }
    let longest = time::Duration::days(i64::from(retention_days));
    if until - since > longest {
        return Err(ApiError::new(ErrorCode::RangeTooLong, format!(
                "`since`..`until` spans {} days; at most {retention_days} (MAILGATE_AUDIT_RETENTION_DAYS, how long                  events are kept): narrow it",
                (until - since).whole_days()
            ),
        )
        .field("since"));
    }
    Ok((since, until))
}

/// The audit list's cursor: the (at, id) of the last event of a page, at in microseconds (Postgres's precision).
pub fn encode_page_cursor(c: Cursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("at:{}:{}", c.at.unix_timestamp_nanos() / 1000, c.id))
}

pub fn decode_page_cursor(cursor: &str) -> Option<Cursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = text.strip_prefix("at:")?.split_once(':')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros.parse::<i128>().ok()?.checked_mul(1000)?).ok()?;
    Some(Cursor { at, id: id.parse().ok()? })
}

/// A cursor this service did not issue: refused as any other bad parameter is (and as `/v1/audit/changes` does).
pub fn bad_cursor() -> ApiError {
    ApiError::invalid("cursor", "`cursor` is not one this service issued; start again without it")
}

/// The id cursor of the change trail.
pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("before:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("before:")?.parse().ok()
}

pub fn parse(p: AuditParams, accept_csv: bool) -> Result<Parsed, ApiError> {
    let csv = match p.format.as_deref() {
        None => accept_csv,
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::invalid("format", format!("`format` must be json or csv, not `{other}`")));
        }
    };
    if let Some(o) = &p.outcome
        && Outcome::parse(o).is_none()
    {
        let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        return Err(ApiError::invalid("outcome", format!("`{o}` is not an outcome; one of {}", known.join(", "))));
    }
    let mailbox = p
        .mailbox
        .as_deref()
        .map(|m| {
            Mailbox::parse(m).map(|m| m.key()).map_err(|e| ApiError::invalid("mailbox", format!("`mailbox`: {e}")))
        })
        .transpose()?;
    let max = if csv { 10_000 } else { 1_000 };
    let limit = p.limit.unwrap_or(100);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("`limit` must be between 1 and {max}")));
    }
    let after = p.cursor.as_deref().map(|c| decode_page_cursor(c).ok_or_else(bad_cursor)).transpose()?;
    let message_id = p
        .message_id
        .as_deref()
        .map(|m| m.parse().map_err(|_| ApiError::invalid("message_id", "`message_id` must be a message's id (a UUID)")))
        .transpose()?;
    let filter = Filter {
        app: p.app,
        mailbox,
        outcome: p.outcome,
        message_id,
        since: time("since", &p.since)?,
        until: time("until", &p.until)?,
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until)
        && s >= u
    {
        return Err(ApiError::invalid("until", "`until` must be later than `since`"));
    }
    Ok(Parsed { filter, after, limit, csv })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).expect("time")
    }

    #[test]
    fn the_range_defaults_to_the_last_day_and_must_not_be_empty() {
        let (since, until) = counted_range(None, Some(at(200_000)), 400).expect("range");
        assert_eq!((since, until), (at(200_000 - 86_400), at(200_000)));
        assert_eq!(counted_range(Some(at(5)), Some(at(5)), 400).expect_err("empty").field.as_deref(), Some("until"));
        let (since, until) = counted_range(None, None, 400).expect("range");
        assert_eq!(until - since, time::Duration::DAY);
    }

    #[test]
    fn the_range_is_at_most_the_retention_period() {
        let day = 86_400;
        assert!(counted_range(Some(at(0)), Some(at(30 * day)), 30).is_ok());
        let e = counted_range(Some(at(0)), Some(at(30 * day + 1)), 30).expect_err("a second too long");
        assert_eq!(
            (e.status, e.code, e.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::RangeTooLong, Some("since"))
        );
        assert!(e.detail.contains("MAILGATE_AUDIT_RETENTION_DAYS"), "{}", e.detail);
    }

    #[test]
    fn cursors_round_trip_and_forgeries_fail() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("42"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("after:1")), None);
        let c = Cursor { at: time::macros::datetime!(2026-11-29 07:55:12.345678 UTC), id: 7 };
        assert_eq!(decode_page_cursor(&encode_page_cursor(c)), Some(c));
        for forged in ["", "abc", &encode_cursor(7), &URL_SAFE_NO_PAD.encode("at:x:1")] {
            assert_eq!(decode_page_cursor(forged), None, "{forged}");
        }
    }
}
