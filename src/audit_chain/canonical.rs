//! The canonical bytes of an audit row: the exact input its link hashes. Fixed and versioned by this file; `verify`
//! and the sealer share it, and a column added to audit_events must be added here (a test compares the lists).
//!
//! Every column of audit_events, in table order, each as one field:
//! NULL is the single byte 0x00; a value is 0x01, its length as a 4-byte big-endian unsigned integer, then its bytes.
//! `id` is 8 bytes big-endian; `at` the microseconds since 1970-01-01T00:00:00Z (Postgres keeps microseconds) as
//! 8 bytes big-endian signed; uuids their 16 bytes; integers 4 bytes big-endian signed; text its UTF-8 bytes.
//! So NULL and the empty string differ, and no two rows share bytes.

use sqlx::FromRow;
use time::OffsetDateTime;
use uuid::Uuid;

/// The columns, in the order they are serialized.
pub const COLUMNS: [&str; 14] = [
    "id",
    "at",
    "outcome",
    "app_id",
    "app_name",
    "mailbox",
    "message_id",
    "attempt",
    "http_status",
    "graph_code",
    "graph_request_id",
    "latency_ms",
    "request_id",
    "detail",
];

/// `COLUMNS` as a select list.
pub const SELECT: &str = "id, at, outcome, app_id, app_name, mailbox, message_id, attempt, http_status, graph_code,
                          graph_request_id, latency_ms, request_id, detail";

/// One audit row, every column.
#[derive(Debug, Clone, FromRow)]
pub struct ChainRow {
    pub id: i64,
    pub at: OffsetDateTime,
    pub outcome: String,
    pub app_id: Option<Uuid>,
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

impl ChainRow {
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let micros = i64::try_from(self.at.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX);
        field(&mut out, Some(self.id.to_be_bytes().as_slice()));
        field(&mut out, Some(micros.to_be_bytes().as_slice()));
        field(&mut out, Some(self.outcome.as_bytes()));
        field(&mut out, self.app_id.as_ref().map(|u| u.as_bytes().as_slice()));
        text(&mut out, &self.app_name);
        text(&mut out, &self.mailbox);
        field(&mut out, self.message_id.as_ref().map(|u| u.as_bytes().as_slice()));
        int(&mut out, self.attempt);
        int(&mut out, self.http_status);
        text(&mut out, &self.graph_code);
        text(&mut out, &self.graph_request_id);
        int(&mut out, self.latency_ms);
        text(&mut out, &self.request_id);
        text(&mut out, &self.detail);
        out
    }
}

fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            // Text columns are far below 4 GiB (Postgres caps a value at 1 GB).
            out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
}

fn text(out: &mut Vec<u8>, value: &Option<String>) {
    field(out, value.as_deref().map(str::as_bytes));
}

fn int(out: &mut Vec<u8>, value: Option<i32>) {
    field(out, value.map(i32::to_be_bytes).as_ref().map(<[u8; 4]>::as_slice));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ChainRow {
        ChainRow {
            id: 7,
            at: OffsetDateTime::from_unix_timestamp_nanos(1_000_000_123_456_000).expect("time"),
            outcome: "sent".into(),
            app_id: None,
            app_name: Some(String::new()),
            mailbox: None,
            message_id: None,
            attempt: Some(1),
            http_status: None,
            graph_code: None,
            graph_request_id: None,
            latency_ms: None,
            request_id: None,
            detail: None,
        }
    }

    #[test]
    fn fields_are_length_prefixed_and_null_is_not_empty() {
        let bytes = row().canonical();
        let mut want = vec![1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7];
        want.extend([1, 0, 0, 0, 8]);
        want.extend(1_000_000_123_456i64.to_be_bytes());
        want.extend([1, 0, 0, 0, 4, b's', b'e', b'n', b't']);
        want.extend([0, 1, 0, 0, 0, 0, 0, 0]); // app_id NULL, app_name '', mailbox NULL, message_id NULL
        want.extend([1, 0, 0, 0, 4, 0, 0, 0, 1]);
        want.extend([0; 6]); // http_status … detail NULL
        assert_eq!(bytes, want);
        let mut null_name = row();
        null_name.app_name = None;
        assert_ne!(null_name.canonical(), bytes);
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_bytes() {
        let mut a = row();
        a.graph_code = Some("ab".into());
        a.graph_request_id = Some("c".into());
        let mut b = row();
        b.graph_code = Some("a".into());
        b.graph_request_id = Some("bc".into());
        assert_ne!(a.canonical(), b.canonical());
    }
}
