//! The three parts of one comparison — property, operator, value — and the errors for each.

use super::ast::{CompareOp, Value};
use super::error::FilterError;
use super::lexer::{Token, TokenKind};
use super::property::{Property, custom_attribute_number, some_valid_names};

const SUPPORTED_OPS: &str = "-eq, -ne, -like or -notlike";

/// PowerShell comparison operators that recipient filters do not take.
const UNSUPPORTED_OPS: [&str; 22] = [
    "gt",
    "ge",
    "lt",
    "le",
    "contains",
    "notcontains",
    "in",
    "notin",
    "match",
    "notmatch",
    "ceq",
    "cne",
    "ieq",
    "ine",
    "clike",
    "cnotlike",
    "ilike",
    "inotlike",
    "is",
    "isnot",
    "replace",
    "split",
];

fn unknown_property(pos: usize, word: &str) -> FilterError {
    let message = match custom_attribute_number(word) {
        Some(_) => {
            format!("unknown property `{word}`: custom attributes go from CustomAttribute1 to CustomAttribute15")
        }
        None => format!("unknown property `{word}`; valid properties are {}", some_valid_names()),
    };
    FilterError::new(pos, message)
}

pub(super) fn operator(tok: &Token, property: Property) -> Result<CompareOp, FilterError> {
    let found = tok.describe();
    let message = match &tok.kind {
        TokenKind::Dash(w) => match w.to_ascii_lowercase().as_str() {
            "eq" => return Ok(CompareOp::Eq),
            "ne" => return Ok(CompareOp::Ne),
            "like" => return Ok(CompareOp::Like),
            "notlike" => return Ok(CompareOp::NotLike),
            lower if UNSUPPORTED_OPS.contains(&lower) => {
                format!("operator {found} is not supported in recipient filters; use {SUPPORTED_OPS}")
            }
            "and" | "or" | "not" => {
                format!("expected a comparison operator such as -eq or -like after {property}, found {found}")
            }
            _ => format!("unknown operator {found}; expected {SUPPORTED_OPS}"),
        },
        TokenKind::Other(c @ ('=' | '!' | '<' | '>')) => format!(
            "expected a comparison operator such as -eq or -like, found `{c}` (write -eq rather than =, -ne rather than !=)"
        ),
        _ => format!("expected a comparison operator such as -eq or -like after {property}, found {found}"),
    };
    Err(FilterError::new(tok.pos, message))
}

pub(super) fn value(tok: &Token, op: CompareOp) -> Result<Value, FilterError> {
    match &tok.kind {
        TokenKind::Str(s) => Ok(Value::Str(s.clone())),
        TokenKind::Word(w) if w.starts_with('$') => match w.to_ascii_lowercase().as_str() {
            "$true" => Ok(Value::Bool(true)),
            "$false" => Ok(Value::Bool(false)),
            "$null" => Ok(Value::Null),
            _ => Err(FilterError::new(
                tok.pos,
                format!(
                    "unsupported variable {}: only $true, $false and $null may be used; quote the text to compare it literally",
                    tok.describe()
                ),
            )),
        },
        TokenKind::Word(w) => Ok(Value::Str(w.clone())),
        _ => Err(FilterError::new(
            tok.pos,
            format!(
                "missing value after {}: expected a quoted string, a word or $null, found {}",
                op.as_str(),
                tok.describe()
            ),
        )),
    }
}

/// The property named by `tok`, which must be a bare word.
pub(super) fn property(tok: &Token) -> Result<Property, FilterError> {
    match &tok.kind {
        TokenKind::Word(w) => Property::parse(w).ok_or_else(|| unknown_property(tok.pos, w)),
        TokenKind::Str(_) => Err(FilterError::new(
            tok.pos,
            format!(
                "expected a property name such as Department, found {} (property names are not quoted)",
                tok.describe()
            ),
        )),
        _ => Err(FilterError::new(
            tok.pos,
            format!("expected a comparison such as Department -eq 'Finance', found {}", tok.describe()),
        )),
    }
}

/// `MemberOfGroup` takes only `-eq`/`-ne` and a non-empty group name.
pub(super) fn check_member_of_group(
    property: Property,
    op: CompareOp,
    op_tok: &Token,
    val_tok: &Token,
    value: &Value,
) -> Result<(), FilterError> {
    if property != Property::MemberOfGroup {
        return Ok(());
    }
    if op.is_wildcard() {
        return Err(FilterError::new(
            op_tok.pos,
            format!(
                "MemberOfGroup supports only -eq and -ne, found {} (group membership cannot be matched with wildcards)",
                op.as_str()
            ),
        ));
    }
    if value.as_text().is_none() || matches!(value, Value::Bool(_)) {
        return Err(FilterError::new(val_tok.pos, format!("MemberOfGroup needs a group name, found {value}")));
    }
    Ok(())
}
