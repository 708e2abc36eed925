//! The verification walk over rows and links merged in id order, in constant memory. Each finding names an id and
//! what is wrong there. A link that does not match is told apart by the next link: it was made over the stored link
//! before it, so whichever of "the stored link" and "the link recomputed from the row" the next link continues is
//! the true one.

use std::fmt;

use super::{GENESIS, Link, link};

/// What is wrong at an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// The row no longer hashes to its link; the link is authentic (the next link continues it).
    RowAltered { gap_before: bool },
    /// The link was changed: the link recomputed from the row is what the next link continues.
    LinkAltered,
    /// The row and its link disagree, and nothing after them tells which changed.
    RowOrLinkAltered,
    /// A link without its row.
    RowRemoved,
    /// A link at an id no audit row was ever given (past the sequence): not made by the sealer.
    LinkWithoutRow,
    /// A row inside the sealed range the chain skips: added behind the service's back.
    RowInserted,
    /// A row whose link was deleted: the next link continues a chain that included the row.
    LinkRemoved,
    /// A row without a link inside the sealed range, and nothing after it tells why.
    RowWithoutLink,
    /// A row older than the chain's first link.
    RowBeforeChain,
    /// A seal's head is not the link at its last id.
    SealHeadDiffers { seq: i64 },
    /// A seal ends on an id that has no link.
    SealLinkMissing { seq: i64 },
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RowAltered { gap_before: false } => f.write_str("row altered: it no longer matches its link"),
            Self::RowAltered { gap_before: true } => f.write_str(
                "row altered: it no longer matches its link (or a row and its link were removed just before it)",
            ),
            Self::LinkAltered => f.write_str("link altered: the row matches the chain, its stored link does not"),
            Self::RowOrLinkAltered => f.write_str("row or link altered: they disagree"),
            Self::RowRemoved => f.write_str("row removed: its link remains"),
            Self::LinkWithoutRow => f.write_str("link without a row: no audit row was ever given this id"),
            Self::RowInserted => f.write_str("row inserted into the sealed range: the chain skips it"),
            Self::LinkRemoved => f.write_str("link removed: the row is in the chain but its link is gone"),
            Self::RowWithoutLink => f.write_str("row without link inside the sealed range (inserted, or link removed)"),
            Self::RowBeforeChain => {
                f.write_str("row older than the chain's first link (inserted, or its link removed)")
            }
            Self::SealHeadDiffers { seq } => write!(f, "seal {seq}: its head is not the link at this id"),
            Self::SealLinkMissing { seq } => write!(f, "seal {seq} ends here but there is no link"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: i64,
    pub what: What,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "id {}: {}", self.id, self.what)
    }
}

/// The chain's extent, read before the walk.
#[derive(Debug, Clone, Copy)]
pub struct Extent {
    pub first_link: i64,
    pub last_link: i64,
    /// Whether the first link began a chain (hashed onto zeros, so its row is checked too) rather than being the
    /// first left after older links were purged (then its stored link is trusted as the start).
    pub genesis: bool,
}

/// A disagreement the next link will explain.
#[derive(Debug)]
struct Suspect {
    id: i64,
    /// The chain value under the other explanation.
    alt: Link,
    unlinked: bool,
    gap_before: bool,
}

impl Suspect {
    fn normal(&self) -> What {
        if self.unlinked { What::RowInserted } else { What::RowAltered { gap_before: self.gap_before } }
    }
    fn other(&self) -> What {
        if self.unlinked { What::LinkRemoved } else { What::LinkAltered }
    }
    fn unexplained(&self) -> What {
        if self.unlinked { What::RowWithoutLink } else { What::RowOrLinkAltered }
    }
}

/// Findings are kept up to this many; all are counted.
const KEEP: usize = 1000;

pub struct Walk {
    extent: Option<Extent>,
    /// The highest id the sequence has given out: a link above it was never a row's.
    issued: i64,
    /// The stored link of the last link seen, and its id.
    prev: Option<(i64, Link)>,
    pending: Option<Suspect>,
    pub findings: Vec<Finding>,
    pub found: u64,
    pub rows_verified: u64,
    pub rows_unsealed: u64,
}

impl Walk {
    pub fn new(extent: Option<Extent>, issued: i64) -> Self {
        Self {
            extent,
            issued,
            prev: None,
            pending: None,
            findings: Vec::new(),
            found: 0,
            rows_verified: 0,
            rows_unsealed: 0,
        }
    }

    pub fn report(&mut self, id: i64, what: What) {
        self.found += 1;
        if self.findings.len() < KEEP {
            self.findings.push(Finding { id, what });
        }
    }

    /// The next id in order, with its row's canonical bytes and its stored link, either of which may be missing.
    pub fn step(&mut self, id: i64, row: Option<&[u8]>, stored: Option<Link>) {
        let Some(extent) = self.extent else {
            // No chain yet: nothing is sealed.
            self.rows_unsealed += 1;
            return;
        };
        if id > extent.last_link {
            self.rows_unsealed += 1;
            return;
        }
        let Some((prev_id, prev)) = self.prev else {
            match stored {
                None => self.report(id, What::RowBeforeChain),
                Some(l) => {
                    match row {
                        None => self.report(id, self.removed(id)),
                        Some(r) if extent.genesis => self.check(id, r, &GENESIS, l, false),
                        // The start anchor: trusted, its row not checkable.
                        Some(_) => {}
                    }
                    self.prev = Some((id, l));
                }
            }
            return;
        };
        match (row, stored) {
            (Some(r), Some(l)) => {
                let computed = link(&prev, r);
                match self.pending.take() {
                    None => self.check_computed(id, computed, l, id > prev_id + 1),
                    Some(s) if computed == l => {
                        self.report(s.id, s.normal());
                        self.rows_verified += 1;
                    }
                    Some(s) if link(&s.alt, r) == l => {
                        self.report(s.id, s.other());
                        self.rows_verified += 1;
                    }
                    Some(s) => {
                        self.report(s.id, s.unexplained());
                        self.check_computed(id, computed, l, false);
                    }
                }
                self.prev = Some((id, l));
            }
            (None, Some(l)) => {
                self.flush();
                self.report(id, self.removed(id));
                self.prev = Some((id, l));
            }
            (Some(r), None) => {
                self.flush();
                self.pending = Some(Suspect { id, alt: link(&prev, r), unlinked: true, gap_before: false });
            }
            (None, None) => {}
        }
    }

    fn removed(&self, id: i64) -> What {
        if id > self.issued { What::LinkWithoutRow } else { What::RowRemoved }
    }

    fn check(&mut self, id: i64, row: &[u8], prev: &Link, stored: Link, gap_before: bool) {
        self.check_computed(id, link(prev, row), stored, gap_before);
    }

    fn check_computed(&mut self, id: i64, computed: Link, stored: Link, gap_before: bool) {
        if computed == stored {
            self.rows_verified += 1;
        } else {
            self.pending = Some(Suspect { id, alt: computed, unlinked: false, gap_before });
        }
    }

    fn flush(&mut self) {
        if let Some(s) = self.pending.take() {
            self.report(s.id, s.unexplained());
        }
    }

    /// Ends the walk. `head_witness`: a head known from elsewhere (the last seal's, or one anchored outside) for the
    /// last link, which tells a changed last row from a changed last link.
    pub fn finish(&mut self, head_witness: Option<Link>) {
        let Some(s) = self.pending.take() else { return };
        let stored = self.prev.map(|(_, l)| l);
        let what = match head_witness {
            Some(w) if !s.unlinked && Some(w) == stored => s.normal(),
            Some(w) if !s.unlinked && w == s.alt => s.other(),
            _ => s.unexplained(),
        };
        self.report(s.id, what);
    }

    /// The last link seen: the head.
    pub fn head(&self) -> Option<(i64, Link)> {
        self.prev
    }
}

impl fmt::Debug for Walk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Walk {{ found: {}, verified: {} }}", self.found, self.rows_verified)
    }
}

#[cfg(test)]
#[path = "walk_tests.rs"]
mod tests;
