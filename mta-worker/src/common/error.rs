//! The worker's one error type. SMTP-visible failures are replies, not errors: these are
//! the failures of the worker's own machinery (disk, API, TLS, configuration).

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("disk: {0}")]
    Io(#[from] std::io::Error),
    /// The API answered with an error status (`status`), or could not be reached (`None`).
    #[error("API: {}{message}", status.map(|s| format!("{s}: ")).unwrap_or_default())]
    Api { status: Option<u16>, message: String },
    #[error("stored data: {0}")]
    Json(#[from] serde_json::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl WorkerError {
    /// The API refused the request for good: asking again with the same body cannot help
    /// (a 4xx other than authentication, timeout and rate limiting).
    pub fn is_refusal(&self) -> bool {
        matches!(self, WorkerError::Api { status: Some(s), .. } if (400..500).contains(s) && ![401, 403, 408, 429].contains(s))
    }
}

pub type WorkerResult<T> = Result<T, WorkerError>;
