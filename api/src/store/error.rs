//! The storage layer's one error type: what a query can fail with, in terms of data, not
//! HTTP. Handlers turn it into an `ApiError` at their edge (`From<StoreError> for ApiError`,
//! so `?` does it), as atuin's `DbError` is. A unique-constraint violation is mapped to a
//! conflict naming its field where the query runs ([`OnUnique`]), never by matching strings.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique value exists: which field, and what to tell the caller
    /// (never which tenant holds it).
    #[error("{message}")]
    Conflict { field: String, message: String, line: Option<u32> },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value that does not read back (corrupt JSON, a bug).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn conflict(field: &str, message: impl Into<String>) -> StoreError {
        StoreError::Conflict { field: field.to_string(), message: message.into(), line: None }
    }

    /// The same error, tagged with the CSV line whose row caused it (the header is line 1).
    pub fn at_line(self, line: u32) -> StoreError {
        match self {
            StoreError::Conflict { field, message, .. } => {
                StoreError::Conflict { field, message: format!("line {line}: {message}"), line: Some(line) }
            }
            other => other,
        }
    }

    /// A value that could not be encoded or decoded.
    pub fn internal(err: impl Into<anyhow::Error>) -> StoreError {
        StoreError::Internal(err.into())
    }
}

/// Maps a unique-constraint violation of the query it follows to a conflict naming `field`.
pub trait OnUnique<T> {
    fn on_unique(self, field: &str, message: &str) -> StoreResult<T>;
}

impl<T> OnUnique<T> for Result<T, sqlx::Error> {
    fn on_unique(self, field: &str, message: &str) -> StoreResult<T> {
        self.map_err(|err| match err.as_database_error() {
            Some(db) if db.is_unique_violation() => StoreError::conflict(field, message),
            _ => err.into(),
        })
    }
}
