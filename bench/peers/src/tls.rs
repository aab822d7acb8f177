//! TLS for the peer servers: tokio-rustls with the ring provider and a
//! PEM certificate and key, when both are given.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The acceptor for `cert` and `key` (PEM files), or none without them.
pub fn acceptor(cert: Option<String>, key: Option<String>) -> Option<tokio_rustls::TlsAcceptor> {
    let (cert, key) = (cert?, key?);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .expect("certificate file")
        .map(|c| c.expect("certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).expect("key file");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("certificate and key");
    Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
