//! The worker's one error type. SMTP-visible failures are replies, not errors: these are
//! the failures of the worker's own machinery (disk, API, TLS, configuration).

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("disk: {0}")]
    Io(#[from] std::io::Error),
    #[error("API: {0}")]
    Api(String),
    #[error("stored data: {0}")]
    Json(#[from] serde_json::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("configuration: {0}")]
    Config(String),
}

pub type WorkerResult<T> = Result<T, WorkerError>;
