//! Admin operations shared by the CLI and the `/v1/admin` API: one place validates and applies each change.

pub mod actor;
pub mod apps;
pub mod directory;
pub mod exchange_rbac;
pub mod groups;
pub mod keys;
pub mod policies;
pub mod schema;

pub use actor::Actor;

use crate::error::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{detail}")]
    Invalid { field: String, detail: String },
    /// A request the document cannot describe as wrong: a name that resolves to nothing usable in the mirror as it
    /// is now (`invalid_reference`), or an OPATH filter that does not parse (`invalid_filter`).
    #[error("{detail}")]
    Refused { code: ErrorCode, field: String, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl AdminError {
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_owned(), detail: detail.into() }
    }

    pub fn reference(field: &str, detail: impl Into<String>) -> Self {
        Self::Refused { code: ErrorCode::InvalidReference, field: field.to_owned(), detail: detail.into() }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid { field, detail } => ApiError::invalid(field, detail),
            AdminError::Refused { code, field, detail } => ApiError::new(code, detail).field(field),
            AdminError::Conflict(d) => ApiError::new(ErrorCode::Conflict, d),
            AdminError::NotFound(d) => ApiError::new(ErrorCode::NotFound, d),
            AdminError::Db(e) => e.into(),
        }
    }
}

/// Whether a database error is a unique-constraint violation (a concurrent duplicate).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}
