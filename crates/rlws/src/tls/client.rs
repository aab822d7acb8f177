//! TLS for client connections (`wss://`, `https://`): trust roots, client
//! certificates, SNI and ALPN.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::pem::{certs_from_pem, key_from_pem, platform_roots, provider};

/// TLS settings of a client connection.
#[derive(Clone, Default)]
pub struct TlsClientOptions {
    /// CA certificates (PEM) to trust instead of the platform's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Accept any server certificate: self-signed, expired, for another name
    /// (lws' `LCCSCF_ALLOW_SELFSIGNED` with the hostname check skipped). The
    /// handshake signature is still checked. Only for tests and debugging.
    pub insecure: bool,
    /// Client certificate chain and private key (both PEM), for servers that
    /// ask for one.
    pub client_cert_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// Name sent in SNI and checked against the certificate; default: the
    /// URL's host.
    pub server_name: Option<String>,
}

impl std::fmt::Debug for TlsClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientOptions")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("insecure", &self.insecure)
            .field("client_cert", &self.client_cert_pem.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// A rustls client configuration for `o`, offering `alpn`.
pub(crate) fn client_config(
    o: &TlsClientOptions,
    alpn: &[&[u8]],
) -> Result<Arc<rustls::ClientConfig>, String> {
    // The common case (system roots, no client certificate, HTTP/1.1) is
    // built once and shared.
    let shared_default = o.ca_pem.is_none()
        && !o.insecure
        && o.client_cert_pem.is_none()
        && alpn == [b"http/1.1".as_slice()];
    static DEFAULT_H1: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if shared_default {
        if let Some(c) = DEFAULT_H1.get() {
            return Ok(c.clone());
        }
    }
    let p = provider();
    let builder = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(p)))
    } else {
        let roots = match &o.ca_pem {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for c in certs_from_pem(pem, "CA")? {
                    roots
                        .add(c)
                        .map_err(|e| format!("CA: unusable certificate: {e}"))?;
                }
                Arc::new(roots)
            }
            None => platform_roots()?,
        };
        builder.with_root_certificates(roots)
    };
    let mut cfg = match &o.client_cert_pem {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                certs_from_pem(chain, "client certificate")?,
                key_from_pem(key, "client key")?,
            )
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let cfg = Arc::new(cfg);
    if shared_default {
        let _ = DEFAULT_H1.set(cfg.clone());
    }
    Ok(cfg)
}

/// The SNI / verification name for `host`.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host}: not a valid TLS server name: {e}"))
}

/// Accepts every certificate but still checks handshake signatures.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
