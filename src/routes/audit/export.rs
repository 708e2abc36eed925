//! `GET /v1/audit/export`: every event the filters select, as CSV or NDJSON, streamed in constant memory.
//!
//! The body is read from the database in keyset batches (the list's own query and cursor), each rendered and handed
//! to the connection before the next is fetched: memory holds one batch, whatever the export's size, and no
//! statement or snapshot stays open for its whole length. Events arriving meanwhile are newer than the first batch
//! and so not part of it; none is repeated. One committing while the batch around its `at` is read is missed, so a
//! complete export of a period ends (`until`) a little before now (docs/audit.md).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Deserialize;
use utoipa::IntoParams;

use super::params::{self, AuditParams};
use crate::db::audit::{self, AuditRow, Cursor, Filter};
use crate::db::audit_reads::AuditReads;
use crate::error::{ApiError, Problem};
use crate::routes::query::StrictQuery;
use crate::state::AppState;

/// Rows per database round trip: small enough to bound memory with large `detail` texts, large enough to stream fast.
const BATCH: i64 = 500;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// An app's name.
    pub app: Option<String>,
    /// A mailbox address or object id.
    #[param(schema_with = crate::admin::schema::mailbox)]
    pub mailbox: Option<String>,
    #[param(schema_with = super::params::outcome)]
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
    /// `csv` or `ndjson` (one JSON event per line); without it, `Accept: application/x-ndjson` selects NDJSON and
    /// anything else CSV.
    #[param(schema_with = format)]
    pub format: Option<String>,
}

fn format() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["csv", "ndjson"]))
        .into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Ndjson,
}

/// Every event the filters select, newest first, as one streamed CSV (header row first) or NDJSON download.
#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit",
    params(ExportParams),
    responses(
        (status = 200, description = "Every selected event, newest first, as an attachment",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    StrictQuery(p): StrictQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let format = match p.format.as_deref() {
        Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(other) => {
            return Err(ApiError::invalid("format", format!("`format` must be csv or ndjson, not `{other}`")));
        }
        None => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept.contains("application/x-ndjson") { Format::Ndjson } else { Format::Csv }
        }
    };
    let filters = AuditParams {
        app: p.app,
        mailbox: p.mailbox,
        outcome: p.outcome,
        message_id: p.message_id,
        since: p.since,
        until: p.until,
        ..AuditParams::default()
    };
    let parsed = params::parse(filters, false)?.with_canonical_mailbox(&state).await?;

    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"audit-events-{stamp}.{extension}\""))
        .map_err(ApiError::internal)?;
    let head = match format {
        Format::Csv => super::csv::header(),
        Format::Ndjson => String::new(),
    };
    // The first batch is read before answering, so that an audit database that cannot answer is a 503, not a
    // download cut short after its header.
    let failed = super::read_error(&state.audit);
    let mut tx = state.audit.begin().await.map_err(&failed)?;
    let first = audit::search(&mut *tx, &parsed.filter, None, BATCH).await.map_err(&failed)?;
    drop(tx);
    let after = (first.len() as i64 == BATCH).then(|| first.last().map(AuditRow::cursor));
    let first = (!first.is_empty()).then(|| Ok(Bytes::from(render(&first, format))));
    // No empty first chunk for NDJSON: nothing but rows.
    let head = (!head.is_empty()).then(|| Ok(Bytes::from(head)));
    let body = stream::iter(head.into_iter().chain(first))
        .chain(batches(state.audit.clone(), parsed.filter, format, after))
        .inspect_err(|e| tracing::error!(error = %e, "audit export cut short"));
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type)), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(body),
    )
        .into_response())
}

/// One rendered chunk per batch of rows, fetched only when the previous chunk has been taken.
fn batches(
    reads: AuditReads,
    filter: Filter,
    format: Format,
    after: Option<Option<Cursor>>,
) -> impl futures::Stream<Item = Result<Bytes, sqlx::Error>> + Send + 'static {
    // The state is the cursor to read after: `Some(None)` before the first batch, `None` once done.
    stream::try_unfold(after, move |state| {
        let (reads, filter) = (reads.clone(), filter.clone());
        async move {
            let Some(after) = state else { return Ok(None) };
            // A transaction per batch: the statement timeout bounds each batch, not the whole download.
            let mut tx = reads.begin().await?;
            let rows = audit::search(&mut *tx, &filter, after, BATCH).await?;
            drop(tx);
            let Some(last) = rows.last() else { return Ok(None) };
            let next = (rows.len() as i64 == BATCH).then(|| Some(last.cursor()));
            Ok(Some((Bytes::from(render(&rows, format)), next)))
        }
    })
}

fn render(rows: &[AuditRow], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Csv => super::csv::push_rows(&mut out, rows),
        Format::Ndjson => {
            for row in rows {
                // A row always serializes: strings, numbers and a formatted time.
                out.push_str(&serde_json::to_string(row).unwrap_or_default());
                out.push('\n');
            }
        }
    }
    out
}
