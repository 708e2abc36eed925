//! The filter syntax tree and its canonical text form.

use std::fmt;

use super::property::Property;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Like,
    NotLike,
}

impl CompareOp {
    /// Canonical spelling: `-eq`, `-ne`, `-like`, `-notlike`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CompareOp::Eq => "-eq",
            CompareOp::Ne => "-ne",
            CompareOp::Like => "-like",
            CompareOp::NotLike => "-notlike",
        }
    }

    /// True for `-ne` and `-notlike`, the negations of `-eq` and `-like`.
    pub fn is_negated(&self) -> bool {
        matches!(self, CompareOp::Ne | CompareOp::NotLike)
    }

    /// True for `-like` and `-notlike`.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, CompareOp::Like | CompareOp::NotLike)
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A quoted string or a bare word.
    Str(String),
    /// `$true` / `$false`; compared as the text `True` / `False`.
    Bool(bool),
    /// `$null`; equal to an unset or empty property.
    Null,
}

impl Value {
    /// The text compared against, or `None` when the value means "unset" (`$null` or `''`).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) if s.is_empty() => None,
            Value::Str(s) => Some(s),
            Value::Bool(true) => Some("True"),
            Value::Bool(false) => Some("False"),
            Value::Null => None,
        }
    }
}

/// `<Property> <op> <value>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comparison {
    pub property: Property,
    pub op: CompareOp,
    pub value: Value,
}

impl Comparison {
    /// Whether the recipient satisfies this one comparison, as [`super::Filter::matches`] reads it.
    pub fn matches(&self, r: &dyn super::Recipient) -> bool {
        super::eval::compare(self, r)
    }
}

/// A filter expression. `And`/`Or` are binary; chains parse left-associatively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Compare(Comparison),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Shorthand for building a comparison node.
    pub fn compare(property: Property, op: CompareOp, value: Value) -> Expr {
        Expr::Compare(Comparison { property, op, value })
    }

    /// Every comparison in the tree, left to right.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Compare(c) => out.push(c),
                Expr::Not(inner) => stack.push(inner),
                Expr::And(l, r) | Expr::Or(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
            }
        }
        out
    }

    /// Deepest count of `-not` nodes plus parenthesised binary children on any path, i.e. the
    /// nesting the canonical text form needs.
    pub(super) fn display_depth(&self) -> usize {
        match self {
            Expr::Compare(_) => 0,
            Expr::Not(inner) => 1 + inner.display_depth(),
            Expr::And(l, r) => {
                let ld = l.display_depth() + usize::from(matches!(**l, Expr::Or(..)));
                let rd = r.display_depth() + usize::from(matches!(**r, Expr::And(..) | Expr::Or(..)));
                ld.max(rd)
            }
            Expr::Or(l, r) => {
                let rd = r.display_depth() + usize::from(matches!(**r, Expr::Or(..)));
                l.display_depth().max(rd)
            }
        }
    }
}

/// Writes `s` single-quoted, doubling any embedded single quote.
pub(super) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    f.write_str(&s.replace('\'', "''"))?;
    f.write_str("'")
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_quoted(f, s),
            Value::Bool(true) => f.write_str("$true"),
            Value::Bool(false) => f.write_str("$false"),
            Value::Null => f.write_str("$null"),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.property, self.op.as_str(), self.value)
    }
}

/// Canonical form: minimal parentheses for `-and`/`-or` given precedence and left
/// associativity; `-not` always written as `-not (...)`; strings single-quoted.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Compare(c) => write!(f, "{c}"),
            Expr::Not(inner) => write!(f, "-not ({inner})"),
            Expr::And(l, r) => {
                write_child(f, l, matches!(**l, Expr::Or(..)))?;
                f.write_str(" -and ")?;
                write_child(f, r, matches!(**r, Expr::And(..) | Expr::Or(..)))
            }
            Expr::Or(l, r) => {
                write_child(f, l, false)?;
                f.write_str(" -or ")?;
                write_child(f, r, matches!(**r, Expr::Or(..)))
            }
        }
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
    if parens { write!(f, "({e})") } else { write!(f, "{e}") }
}
