//! OPATH recipient filters, as used by Exchange Online's
//! `New-ManagementScope -RecipientRestrictionFilter`.
//!
//! Supported: `<Property> -eq|-ne|-like|-notlike <value>`, `-and`, `-or`, `-not` (prefix, also
//! `-not(...)`), parentheses, and optionally the whole filter wrapped in `{ ... }`.
//! Precedence: `-not` > `-and` > `-or`, left-associative. Keywords and property names are
//! case-insensitive; values are single- or double-quoted strings (a doubled quote escapes
//! itself), bare words, or `$true` / `$false` / `$null`.
//!
//! Semantics: comparisons are case-insensitive; `-like` understands `*` and `?`; an unset
//! property equals `$null` (and `''`); `MemberOfGroup -eq 'g'` asks the recipient whether it is
//! a transitive member of `g`; `EmailAddresses` matches when any proxy address does, ignoring
//! an `smtp:` prefix on either side.

mod ast;
mod comparison;
mod error;
mod eval;
mod lexer;
mod parser;
mod property;
mod recipient;
mod serde_impls;

#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_eval;
#[cfg(test)]
mod tests_semantics;

use std::fmt;
use std::str::FromStr;

pub use ast::{CompareOp, Comparison, Expr, Value};
pub use error::FilterError;
pub use eval::{eq_ignore_case, like, strip_smtp};
pub use parser::{MAX_DEPTH, MAX_INPUT_BYTES};
pub use property::{MAX_CUSTOM_ATTRIBUTE, Property};
pub use recipient::{MapRecipient, Recipient};

/// A parsed recipient filter.
///
/// `Display` prints a canonical form (single-quoted strings, canonical property and operator
/// spelling, minimal parentheses) that parses back to an equal `Filter`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    /// Parses filter text. Never panics; errors carry a character position.
    pub fn parse(input: &str) -> Result<Filter, FilterError> {
        parser::parse(input).map(|expr| Filter { expr })
    }

    /// Builds a filter from a syntax tree, refusing trees that no filter text could express
    /// (so that `Display` always re-parses): custom attributes outside 1..=15, `MemberOfGroup`
    /// with `-like`/`-notlike` or without a group name, nesting deeper than [`MAX_DEPTH`], or a
    /// canonical text longer than [`MAX_INPUT_BYTES`]. Errors have position 0.
    pub fn new(expr: Expr) -> Result<Filter, FilterError> {
        for c in expr.comparisons() {
            if c.property.is_out_of_range() {
                return Err(FilterError::new(
                    0,
                    format!(
                        "unknown property `{}`: custom attributes go from CustomAttribute1 to CustomAttribute15",
                        c.property
                    ),
                ));
            }
            if c.property == Property::MemberOfGroup
                && (c.op.is_wildcard() || c.value.as_text().is_none() || matches!(c.value, Value::Bool(_)))
            {
                return Err(FilterError::new(
                    0,
                    format!("MemberOfGroup needs -eq or -ne and a group name, found `{c}`"),
                ));
            }
        }
        if expr.display_depth() > MAX_DEPTH {
            return Err(FilterError::new(
                0,
                format!("filter is nested too deeply: at most {MAX_DEPTH} levels of parentheses and -not"),
            ));
        }
        let len = expr.to_string().len();
        if len > MAX_INPUT_BYTES {
            return Err(FilterError::new(
                0,
                format!("filter is too long: {len} bytes, at most {MAX_INPUT_BYTES} are accepted"),
            ));
        }
        Ok(Filter { expr })
    }

    /// True when the recipient satisfies the filter.
    pub fn matches(&self, r: &dyn Recipient) -> bool {
        eval::eval(&self.expr, r)
    }

    /// What the filter says of a recipient known only in part: `leaf` gives each comparison's outcome, or None when
    /// it cannot be known. `Some(b)` only when the filter is `b` whatever the unknown comparisons are (three-valued
    /// logic); None when it depends on them.
    pub fn eval_partial(&self, leaf: &dyn Fn(&Comparison) -> Option<bool>) -> Option<bool> {
        eval::eval_partial(&self.expr, leaf)
    }

    /// The properties the filter reads, each once, in order of first appearance.
    pub fn properties(&self) -> Vec<Property> {
        let mut out: Vec<Property> = Vec::new();
        for c in self.expr.comparisons() {
            if !out.contains(&c.property) {
                out.push(c.property);
            }
        }
        out
    }

    /// The syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Gives up the syntax tree.
    pub fn into_expr(self) -> Expr {
        self.expr
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}
