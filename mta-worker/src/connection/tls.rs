//! STARTTLS: the configured certificate, or a self-signed one generated on first start
//! and kept in the data folder.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::common::config::WorkerConfig;
use crate::common::error::{WorkerError, WorkerResult};

fn tls_err(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Tls(e.to_string())
}

/// Loads or creates the certificate and builds the acceptor.
pub fn acceptor(config: &WorkerConfig) -> WorkerResult<TlsAcceptor> {
    let (cert, key) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            let dir = config.data_dir.join("tls");
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !cert.exists() || !key.exists() {
                generate(&config.hostname, &cert, &key)?;
            }
            (cert, key)
        }
        _ => return Err(WorkerError::Config("tls_cert and tls_key go together".into())),
    };
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&cert).map_err(tls_err)?.collect::<Result<_, _>>().map_err(tls_err)?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(tls_err)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn generate(hostname: &str, cert: &Path, key: &Path) -> WorkerResult<()> {
    tracing::info!(%hostname, "generating a self-signed TLS certificate");
    let certified = rcgen::generate_simple_self_signed(vec![hostname.to_string()]).map_err(tls_err)?;
    crate::common::files::write_atomically(cert, certified.cert.pem().as_bytes())?;
    crate::common::files::write_secret_atomically(key, certified.signing_key.serialize_pem().as_bytes())?;
    Ok(())
}
