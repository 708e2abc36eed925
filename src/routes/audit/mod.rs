//! `/v1/audit`: the audit log for operators — filtered, paginated by cursor, as JSON or CSV, exported whole as CSV or
//! NDJSON — its statistics and its outcomes over time.

pub mod changes;
pub mod csv;
pub mod export;
pub mod list;
pub mod params;
pub mod series;
pub mod stats;
