//! The audit log's hash chain: each audit row is covered by a link chained to the one before it, appended by a sealer
//! a few seconds after the row commits, so writers of audit rows wait on nothing new. `verify` walks rows and links.
//! What the chain proves, and what it cannot: docs/audit-chain.md.

pub mod canonical;
pub mod horizon;
pub mod sealer;
pub mod verify;
pub mod walk;

use sha2::{Digest, Sha256};

pub type Link = [u8; 32];

/// What the first link of a chain is hashed onto.
pub const GENESIS: Link = [0; 32];

/// link(n) = SHA-256(link(previous) || canonical bytes of row n).
pub fn link(prev: &Link, canonical: &[u8]) -> Link {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical);
    h.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits, either case.
pub fn parse_link(s: &str) -> Option<Link> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A link read back from the database, which must be 32 bytes (a CHECK constraint says so).
pub fn to_link(bytes: &[u8]) -> Link {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_bad_input() {
        let l = link(&GENESIS, b"row");
        assert_eq!(parse_link(&hex(&l)), Some(l));
        assert_eq!(parse_link(&hex(&l).to_uppercase()), Some(l));
        assert_eq!(parse_link("00"), None);
        assert_eq!(parse_link(&"zz".repeat(32)), None);
        assert_eq!(parse_link(&"é".repeat(32)), None);
    }
}
