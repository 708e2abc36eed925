//! CSV rendering of audit rows (RFC 4180), safe to open in a spreadsheet.

use crate::db::audit::AuditRow;

const HEADER: &str =
    "id,at,outcome,app,mailbox,message_id,attempt,http_status,graph_code,graph_request_id,latency_ms,request_id,detail";

/// Quotes when needed, and defuses cells a spreadsheet would run as a formula (mailbox and detail text
/// can come from callers).
fn cell(value: &str) -> String {
    let value =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(|x| cell(&x.to_string())).unwrap_or_default()
}

pub fn render(rows: &[AuditRow]) -> String {
    let mut out = header();
    push_rows(&mut out, rows);
    out
}

/// The header line, with its line break.
pub fn header() -> String {
    format!("{HEADER}\r\n")
}

/// Appends one line per row.
pub fn push_rows(out: &mut String, rows: &[AuditRow]) {
    for r in rows {
        let at = r.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let fields = [
            r.id.to_string(),
            at,
            cell(&r.outcome),
            opt(&r.app_name),
            opt(&r.mailbox),
            opt(&r.message_id),
            opt(&r.attempt),
            opt(&r.http_status),
            opt(&r.graph_code),
            opt(&r.graph_request_id),
            opt(&r.latency_ms),
            opt(&r.request_id),
            opt(&r.detail),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_defuses() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-1,2"), "\"'-1,2\"");
    }
}
