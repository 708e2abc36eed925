//! The one error type of the filter language.

/// Why a filter could not be parsed (or built), and where.
///
/// `position` is a 0-based offset in characters (not bytes) into the input text;
/// `message` says what was found and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct FilterError {
    /// 0-based character offset into the input.
    pub position: usize,
    /// Human-readable explanation: what was found and what was expected.
    pub message: String,
}

impl FilterError {
    pub(super) fn new(position: usize, message: impl Into<String>) -> Self {
        FilterError { position, message: message.into() }
    }
}
