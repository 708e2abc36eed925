//! `mailgate audit verify [--expect-head HEX] [--max-unsealed-secs N]`: prints each finding as `id N: what`, then a
//! summary; fails if any.

use std::time::Duration;

use clap::Args;
use sqlx::PgPool;

use crate::audit_chain::verify::{Report, verify};
use crate::audit_chain::{Link, hex, parse_link};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A head kept outside the database (a `sealed audit rows` log line's `head`): it must be one of the chain's
    /// links, which proves every row up to it is as it was when it was logged.
    #[arg(long, value_name = "HEX", value_parser = parse_head)]
    expect_head: Option<Link>,
    /// Rows after the last link written longer ago than this fail the check: the sealer seals every
    /// MAILGATE_AUDIT_SEAL_SECS, so such rows mean it is stopped or held back (see docs/audit-chain.md).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_UNSEALED_SECS,
          value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    max_unsealed_secs: u64,
}

/// 15 minutes: far past a seal interval and the sealer's own warning (a minute held back), short enough that a
/// daily check catches a sealer stopped the same day.
pub const DEFAULT_MAX_UNSEALED_SECS: u64 = 900;

fn parse_head(s: &str) -> Result<Link, String> {
    parse_link(s).ok_or_else(|| "--expect-head must be 64 hex digits (a SHA-256)".to_owned())
}

impl VerifyArgs {
    pub async fn run(self, pool: &PgPool) -> anyhow::Result<()> {
        let report = verify(pool, self.expect_head, Duration::from_secs(self.max_unsealed_secs)).await?;
        print!("{}", render(&report));
        if report.found > 0 {
            anyhow::bail!("the audit log does not match its hash chain ({} findings)", report.found)
        }
        if report.late > 0 {
            anyhow::bail!(
                "{} audit rows left unsealed longer than --max-unsealed-secs ({} s): is a `mailgate serve` running, \
                 and is a transaction holding audit ids open? (docs/audit-chain.md)",
                report.late,
                self.max_unsealed_secs
            )
        }
        if !report.ok() {
            anyhow::bail!("the expected head is not among the chain's links");
        }
        Ok(())
    }
}

fn render(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.findings {
        out.push_str(&format!("{f}\n"));
    }
    if r.found > r.findings.len() as u64 {
        out.push_str(&format!("… and {} more findings\n", r.found - r.findings.len() as u64));
    }
    for (id, age) in &r.unsealed_late {
        out.push_str(&format!("id {id}: not sealed {age} s after it was written\n"));
    }
    if r.late > r.unsealed_late.len() as u64 {
        out.push_str(&format!("… and {} more rows not sealed\n", r.late - r.unsealed_late.len() as u64));
    }
    if let Some(None) = r.expected_at {
        out.push_str("expected head: not found among the links (the chain was rewritten, or the head is not ours)\n");
    }
    if let Some(Some(id)) = r.expected_at {
        out.push_str(&format!("expected head: found at id {id}\n"));
    }
    let (last, head) = match r.head {
        Some((id, l)) => (id.to_string(), hex(&l)),
        None => ("none".to_owned(), "none".to_owned()),
    };
    out.push_str(&format!(
        "{}: {} rows verified, {} not sealed yet, {} seals; last sealed id {last}, head {head}\n",
        if r.ok() {
            "ok"
        } else if r.found > 0 || matches!(r.expected_at, Some(None)) {
            "TAMPERED"
        } else {
            "UNSEALED"
        },
        r.rows_verified,
        r.rows_unsealed,
        r.seals,
    ));
    out
}
