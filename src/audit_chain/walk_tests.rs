//! The walk over synthetic chains: every kind of change is named at its id, and an intact chain has no finding.

use super::*;

type Item = (i64, Option<Vec<u8>>, Option<Link>);

/// Rows 1..=n (with a gap at 4, a rolled-back id), linked from genesis.
fn chain(n: i64) -> Vec<Item> {
    let mut prev = GENESIS;
    let mut out = Vec::new();
    for id in (1..=n).filter(|&i| i != 4) {
        let row = format!("row {id}").into_bytes();
        prev = link(&prev, &row);
        out.push((id, Some(row), Some(prev)));
    }
    out
}

fn walk(items: &[Item], genesis: bool, witness: Option<Link>) -> Walk {
    let links: Vec<i64> = items.iter().filter(|i| i.2.is_some()).map(|i| i.0).collect();
    let extent = links.first().map(|&f| Extent { first_link: f, last_link: *links.last().expect("last"), genesis });
    let issued = items.iter().filter(|i| i.1.is_some()).map(|i| i.0).max().unwrap_or(0);
    let mut w = Walk::new(extent, issued);
    for (id, row, l) in items {
        w.step(*id, row.as_deref(), *l);
    }
    w.finish(witness);
    w
}

fn at(items: &mut [Item], id: i64) -> &mut Item {
    items.iter_mut().find(|i| i.0 == id).expect("id")
}

fn findings(w: &Walk) -> Vec<(i64, What)> {
    w.findings.iter().map(|f| (f.id, f.what.clone())).collect()
}

#[test]
fn an_intact_chain_verifies_every_row() {
    let w = walk(&chain(10), true, None);
    assert_eq!(findings(&w), vec![]);
    assert_eq!(w.rows_verified, 9);
    assert_eq!(w.head().map(|h| h.0), Some(10));
}

#[test]
fn a_link_past_every_issued_id_is_a_link_without_a_row() {
    let mut c = chain(10);
    c.push((i64::MAX, None, Some([9; 32])));
    assert_eq!(findings(&walk(&c, true, None)), vec![(i64::MAX, What::LinkWithoutRow)]);
}

#[test]
fn each_change_is_named_at_its_id() {
    let mut c = chain(10);
    at(&mut c, 3).1 = Some(b"row 3, rewritten".to_vec());
    assert_eq!(findings(&walk(&c, true, None)), vec![(3, What::RowAltered { gap_before: false })]);

    let mut c = chain(10);
    at(&mut c, 5).1 = Some(b"rewritten".to_vec());
    assert_eq!(findings(&walk(&c, true, None)), vec![(5, What::RowAltered { gap_before: true })]);

    let mut c = chain(10);
    at(&mut c, 6).2 = Some([7; 32]);
    assert_eq!(findings(&walk(&c, true, None)), vec![(6, What::LinkAltered)]);

    let mut c = chain(10);
    at(&mut c, 7).1 = None;
    assert_eq!(findings(&walk(&c, true, None)), vec![(7, What::RowRemoved)]);

    let mut c = chain(10);
    c.insert(3, (4, Some(b"forged".to_vec()), None));
    assert_eq!(findings(&walk(&c, true, None)), vec![(4, What::RowInserted)]);

    let mut c = chain(10);
    at(&mut c, 8).2 = None;
    assert_eq!(findings(&walk(&c, true, None)), vec![(8, What::LinkRemoved)]);

    // The first row of a chain begun from genesis is checked too.
    let mut c = chain(10);
    at(&mut c, 1).1 = Some(b"rewritten".to_vec());
    assert_eq!(findings(&walk(&c, true, None)), vec![(1, What::RowAltered { gap_before: false })]);
}

#[test]
fn the_last_link_is_told_apart_by_a_witness() {
    let c = chain(10);
    let head = c.last().and_then(|i| i.2).expect("head");
    let mut altered = c.clone();
    at(&mut altered, 10).1 = Some(b"rewritten".to_vec());
    assert_eq!(findings(&walk(&altered, true, None)), vec![(10, What::RowOrLinkAltered)]);
    assert_eq!(findings(&walk(&altered, true, Some(head))), vec![(10, What::RowAltered { gap_before: false })]);
    let mut relinked = c;
    at(&mut relinked, 10).2 = Some([1; 32]);
    assert_eq!(findings(&walk(&relinked, true, Some(head))), vec![(10, What::LinkAltered)]);
}

#[test]
fn a_purged_prefix_is_not_tampering_but_older_rows_left_behind_are() {
    let c = chain(10);
    let purged: Vec<Item> = c.iter().filter(|i| i.0 > 5).cloned().collect();
    // The first remaining link is trusted as the start: its row cannot be checked, the rest are.
    let w = walk(&purged, false, None);
    assert_eq!(findings(&w), vec![]);
    assert_eq!(w.rows_verified, 4);

    let mut left: Vec<Item> = c.iter().filter(|i| i.0 > 5).cloned().collect();
    left.insert(0, (2, Some(b"row 2".to_vec()), None));
    assert_eq!(findings(&walk(&left, false, None)), vec![(2, What::RowBeforeChain)]);
}

#[test]
fn rows_after_the_last_link_are_unsealed_not_wrong() {
    let mut c = chain(10);
    c.push((11, Some(b"row 11".to_vec()), None));
    c.push((12, Some(b"row 12".to_vec()), None));
    let w = walk(&c, true, None);
    assert_eq!(findings(&w), vec![]);
    assert_eq!(w.rows_unsealed, 2);
    let w = walk(&[(1, Some(b"row".to_vec()), None)], true, None);
    assert_eq!((w.found, w.rows_unsealed), (0, 1));
}
