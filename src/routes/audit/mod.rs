//! `/v1/audit`: the audit log for operators — filtered, paginated by cursor, as JSON or CSV, exported whole as CSV or
//! NDJSON — its statistics and its outcomes over time.

pub mod changes;
pub mod csv;
pub mod export;
pub mod list;
pub mod params;
pub mod series;
pub mod stats;

use utoipa_axum::routes;

use crate::auth::Role::AuditRead;
use crate::db::audit_reads::AuditReads;
use crate::error::{ApiError, ErrorCode};
use crate::routes::access::Routes;

pub fn routes() -> Routes {
    Routes::new()
        .guarded(&[AuditRead], routes!(list::list))
        .guarded(&[AuditRead], routes!(stats::stats))
        .guarded(&[AuditRead], routes!(series::timeseries))
        .guarded(&[AuditRead], routes!(export::export))
        .guarded(&[AuditRead], routes!(changes::changes))
}

/// How a failed audit read is answered: a statement over the audit timeout is 503 `query_timeout` naming the setting
/// (narrowing the query is the remedy, not retrying it), an audit database that cannot be reached, or a standby that
/// cancelled the read to replay, is 503 `unavailable`; anything else is a bug.
pub fn read_error(reads: &AuditReads) -> impl Fn(sqlx::Error) -> ApiError + '_ {
    move |e| {
        let code = match &e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        match code.as_deref() {
            // query_canceled: the statement timeout.
            Some("57014") => ApiError::new(
                ErrorCode::QueryTimeout,
                format!(
                    "the audit query ran longer than {} s (MAILGATE_AUDIT_STATEMENT_TIMEOUT_SECS) and was cancelled; \
                     narrow `since`..`until` or filter by app, mailbox or outcome",
                    reads.timeout().as_secs()
                ),
            ),
            // A hot standby cancels a read that holds back the replay of what the primary did (conflict with recovery).
            Some("40001") => ApiError::unavailable("the audit database cancelled the read to catch up; retry"),
            _ => {
                let e = ApiError::store(&e);
                if e.code == ErrorCode::Unavailable {
                    ApiError::unavailable("the audit database is unavailable; retry later (sending is not affected)")
                } else {
                    e
                }
            }
        }
    }
}
