//! What is wrong with a send request, in the domain's own terms. The HTTP edge gives each kind its status and
//! code (`impl From<DomainError> for ApiError`); nothing in `domain` knows about HTTP.

use std::fmt::Display;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A field breaks a rule; `field` is its JSON path, such as `to[2].address`.
    #[error("{detail}")]
    InvalidField { field: String, detail: String },
    /// A property mailgate does not model, so would not forward.
    #[error("{detail}")]
    UnsupportedProperty { field: String, detail: String },
    /// The message is too large to send; `field` names the part that makes it so.
    #[error("{detail}")]
    MessageTooLarge { field: String, detail: String },
    /// A fault in mailgate rather than in the request; the cause, with its own causes, is for the log, never for the
    /// caller.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidField { field: field.into(), detail: detail.into() }
    }

    pub fn unsupported(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::UnsupportedProperty { field: field.into(), detail: detail.into() }
    }

    pub fn too_large(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::MessageTooLarge { field: field.into(), detail: detail.into() }
    }

    /// A fault described in words.
    pub fn internal(what: impl Display) -> Self {
        Self::Internal(anyhow::anyhow!("{what}"))
    }

    /// A fault with an error behind it, which stays its source.
    pub fn fault(cause: impl std::error::Error + Send + Sync + 'static, doing: &'static str) -> Self {
        Self::Internal(anyhow::Error::new(cause).context(doing))
    }

    /// The field at fault, when the request is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidField { field, .. }
            | Self::UnsupportedProperty { field, .. }
            | Self::MessageTooLarge { field, .. } => Some(field),
            Self::Internal(_) => None,
        }
    }

    /// The same error with its field renamed, as another spelling of the request names it.
    pub fn map_field(mut self, rename: impl FnOnce(&str) -> String) -> Self {
        if let Self::InvalidField { field, .. }
        | Self::UnsupportedProperty { field, .. }
        | Self::MessageTooLarge { field, .. } = &mut self
        {
            *field = rename(field);
        }
        self
    }
}
