//! Evaluates a filter against a recipient; case-insensitive equality and wildcard matching.
//!
//! Unset and empty properties are the same thing (as in the directory): `-eq $null` and
//! `-eq ''` are true for them, and any other `-eq`/`-like` is false, so `-ne`/`-notlike`
//! with a real value are true. `-ne` and `-notlike` are always the exact negations of `-eq`
//! and `-like`.

use super::Recipient;
use super::ast::{CompareOp, Comparison, Expr};
use super::property::Property;

pub(super) fn eval(expr: &Expr, r: &dyn Recipient) -> bool {
    match expr {
        Expr::Compare(c) => compare(c, r),
        Expr::Not(inner) => !eval(inner, r),
        Expr::And(a, b) => eval(a, r) && eval(b, r),
        Expr::Or(a, b) => eval(a, r) || eval(b, r),
    }
}

/// Three-valued (Kleene) evaluation over comparisons whose outcome `leaf` may not know (None). A `Some` result holds
/// whatever the unknown comparisons turn out to be: `-not` of an unknown is unknown, `-and` is false once either side
/// is, `-or` true once either side is.
pub(super) fn eval_partial(expr: &Expr, leaf: &dyn Fn(&Comparison) -> Option<bool>) -> Option<bool> {
    match expr {
        Expr::Compare(c) => leaf(c),
        Expr::Not(inner) => eval_partial(inner, leaf).map(|b| !b),
        Expr::And(a, b) => match (eval_partial(a, leaf), eval_partial(b, leaf)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(a, b) => match (eval_partial(a, leaf), eval_partial(b, leaf)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
    }
}

pub(super) fn compare(c: &Comparison, r: &dyn Recipient) -> bool {
    let wildcard = c.op.is_wildcard();
    let target = c.value.as_text();
    let positive = match c.property {
        Property::MemberOfGroup => target.is_some_and(|g| r.member_of(g)),
        Property::EmailAddresses => {
            let target = target.map(strip_smtp).filter(|t| !t.is_empty());
            let addresses: Vec<&str> =
                r.email_addresses().into_iter().map(strip_smtp).filter(|a| !a.is_empty()).collect();
            match target {
                None => addresses.is_empty(),
                Some(t) => addresses.iter().any(|a| text_matches(a, t, wildcard)),
            }
        }
        p => {
            let actual = r.property(p).filter(|v| !v.is_empty());
            match (actual, target) {
                (None, None) => true,
                (Some(a), Some(t)) => text_matches(a, t, wildcard),
                _ => false,
            }
        }
    };
    match c.op {
        CompareOp::Eq | CompareOp::Like => positive,
        CompareOp::Ne | CompareOp::NotLike => !positive,
    }
}

fn text_matches(actual: &str, target: &str, wildcard: bool) -> bool {
    if wildcard { like(actual, target) } else { eq_ignore_case(actual, target) }
}

/// Removes a leading `smtp:` (any case) from a proxy address.
pub fn strip_smtp(address: &str) -> &str {
    match address.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("smtp:") => address.get(5..).unwrap_or(""),
        _ => address,
    }
}

fn fold(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Case-insensitive (Unicode lower-case) string equality.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    fold(a).eq(fold(b))
}

/// PowerShell-style `-like`: `*` is any run of characters, `?` exactly one, everything else
/// literal; case-insensitive. Iterative two-pointer matcher, O(len(text) * len(pattern)) at
/// worst, never exponential.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = fold(text).collect();
    let p: Vec<char> = fold(pattern).collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern, and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tc) = t.get(ti) {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&pc) if pc == '?' || pc == tc => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    // Let the last `*` swallow one more character and retry after it.
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}
