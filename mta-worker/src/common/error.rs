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
    /// A file or folder named by the operator cannot be read or written.
    #[error("{action} {}: {source}", path.display())]
    File { action: &'static str, path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    /// A command was given what it cannot work with.
    #[error("{0}")]
    Usage(String),
}

impl WorkerError {
    /// The API refused the request for good: asking again with the same body cannot help
    /// (a 4xx other than authentication, timeout and rate limiting).
    pub fn is_refusal(&self) -> bool {
        matches!(self, WorkerError::Api { status: Some(s), .. } if (400..500).contains(s) && ![401, 403, 408, 429].contains(s))
    }
}

pub type WorkerResult<T> = Result<T, WorkerError>;

/// Names the file an I/O error is about: `read(path).at("cannot read", path)`.
pub trait AtPath<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> WorkerResult<T>;
}

impl<T> AtPath<T> for std::io::Result<T> {
    fn at(self, action: &'static str, path: &std::path::Path) -> WorkerResult<T> {
        self.map_err(|source| WorkerError::File { action, path: path.to_path_buf(), source })
    }
}
