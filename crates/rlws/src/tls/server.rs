//! TLS for server vhosts: certificates, client-certificate policy (mTLS),
//! cipher suites and groups by OpenSSL-style names, versions, ALPN.

use std::sync::Arc;

use rustls::RootCertStore;

use super::pem::{certs_from_pem, key_from_pem, provider};

/// Whether a TLS vhost asks for client certificates (mTLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// Asked for and checked against the CA when sent; clients without one
    /// are served too.
    Optional,
    /// Required: the handshake fails without a certificate signed by the CA.
    Required,
}

/// TLS settings of a server vhost.
#[derive(Clone)]
pub struct TlsServerOptions {
    /// Certificate chain (PEM), leaf first.
    pub cert_pem: Vec<u8>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
    /// CA certificates (PEM) that client certificates must chain to.
    pub client_ca_pem: Option<Vec<u8>>,
    /// Whether client certificates are asked for; needs `client_ca_pem`.
    pub client_auth: ClientAuth,
    /// ALPN protocols offered, in order of preference. Default `h2`, `http/1.1`.
    pub alpn: Vec<String>,
    /// Cipher suites (lws' `ssl_cipher_list`): OpenSSL or IANA names separated
    /// by `:`, `,` or spaces. `None`: rustls' defaults.
    pub ciphers: Option<String>,
    /// Key exchange groups (lws' ECDH curve): `X25519`, `P-256`
    /// (`prime256v1`, `secp256r1`), `P-384` (`secp384r1`). `None`: all three.
    pub groups: Option<String>,
    /// Lowest protocol version: `1.2` (default) or `1.3`.
    pub min_version: Option<String>,
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        TlsServerOptions {
            cert_pem: Vec::new(),
            key_pem: Vec::new(),
            client_ca_pem: None,
            client_auth: ClientAuth::None,
            alpn: vec!["h2".into(), "http/1.1".into()],
            ciphers: None,
            groups: None,
            min_version: None,
        }
    }
}

impl TlsServerOptions {
    /// Checks what starting a vhost with these options would: the PEM
    /// contents, that the key belongs to the certificate, the cipher list and
    /// groups. The error says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        server_config(self).map(drop)
    }

    /// Options with a certificate chain and key (both PEM).
    pub fn new(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        TlsServerOptions {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            ..Default::default()
        }
    }

    /// Options with a certificate chain and key read from PEM files.
    pub fn from_files(
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> Result<Self, String> {
        let read = |p: &std::path::Path, what: &str| {
            std::fs::read(p).map_err(|e| format!("{what} {}: {e}", p.display()))
        };
        Ok(TlsServerOptions::new(
            read(cert.as_ref(), "certificate")?,
            read(key.as_ref(), "key")?,
        ))
    }
}

impl std::fmt::Debug for TlsServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServerOptions")
            .field("client_auth", &self.client_auth)
            .field("alpn", &self.alpn)
            .field("ciphers", &self.ciphers)
            .field("groups", &self.groups)
            .field("min_version", &self.min_version)
            .finish_non_exhaustive()
    }
}

/// OpenSSL's names for the suites rustls (ring) implements, beside the IANA ones.
const OPENSSL_SUITE_NAMES: &[(&str, &str)] = &[
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Picks cipher suites from an OpenSSL-style list. Names rustls implements
/// are kept in the list's order; `!name` / `-name` remove one; `ALL`,
/// `DEFAULT` and `HIGH` stand for every suite; other OpenSSL words (suites
/// and keywords rustls does not have, such as `RC4-MD5` or `!aNULL`) are
/// skipped, since rustls never offers those. TLS 1.3 suites stay enabled
/// unless the list names some of them (OpenSSL configures them apart).
/// Returns the suites and the words that were skipped.
pub(crate) fn select_suites(
    list: &str,
    all: &[rustls::SupportedCipherSuite],
) -> Result<(Vec<rustls::SupportedCipherSuite>, Vec<String>), String> {
    let name_of = |s: &rustls::SupportedCipherSuite| format!("{:?}", s.suite());
    let find = |word: &str| -> Option<rustls::SupportedCipherSuite> {
        let iana = OPENSSL_SUITE_NAMES
            .iter()
            .find(|(o, _)| o.eq_ignore_ascii_case(word))
            .map_or(word, |(_, i)| *i);
        all.iter()
            .find(|s| name_of(s).eq_ignore_ascii_case(iana))
            .copied()
    };
    let mut chosen: Vec<rustls::SupportedCipherSuite> = Vec::new();
    let mut removed: Vec<rustls::SupportedCipherSuite> = Vec::new();
    let mut skipped = Vec::new();
    for word in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let (neg, name) = match word.strip_prefix(['!', '-']) {
            Some(n) => (true, n),
            None => (false, word.strip_prefix('+').unwrap_or(word)),
        };
        let upper = name.to_ascii_uppercase();
        if !neg
            && matches!(
                upper.as_str(),
                "ALL" | "DEFAULT" | "HIGH" | "COMPLEMENTOFDEFAULT"
            )
        {
            for s in all {
                if !chosen.iter().any(|c| c.suite() == s.suite()) {
                    chosen.push(*s);
                }
            }
            continue;
        }
        match find(name) {
            Some(s) if neg => removed.push(s),
            Some(s) => {
                if !chosen.iter().any(|c| c.suite() == s.suite()) {
                    chosen.push(s);
                }
            }
            None => skipped.push(word.to_string()),
        }
    }
    chosen.retain(|c| !removed.iter().any(|r| r.suite() == c.suite()));
    let is13 =
        |s: &rustls::SupportedCipherSuite| matches!(s, rustls::SupportedCipherSuite::Tls13(_));
    if !chosen.iter().any(is13) {
        for s in all.iter().filter(|s| is13(s)) {
            if !removed.iter().any(|r| r.suite() == s.suite()) {
                chosen.push(*s);
            }
        }
    }
    if !chosen.iter().any(|s| !is13(s)) && chosen.iter().all(is13) && list_names_tls12(list) {
        return Err(format!(
            "ciphers \"{list}\": none of the TLS 1.2 suites named is one rlws implements ({})",
            OPENSSL_SUITE_NAMES[3..]
                .iter()
                .map(|(o, _)| *o)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if chosen.is_empty() {
        return Err(format!("ciphers \"{list}\": no usable cipher suite"));
    }
    Ok((chosen, skipped))
}

/// True when an OpenSSL cipher list asks for some TLS 1.2 suite by name
/// (not only keywords or exclusions).
fn list_names_tls12(list: &str) -> bool {
    list.split([':', ',', ' ']).any(|w| {
        let w = w.trim();
        !w.is_empty()
            && !w.starts_with(['!', '-', '+'])
            && w.contains('-')
            && !w.starts_with("TLS_")
    })
}

/// Key exchange groups from a list such as `X25519:P-256`.
fn select_groups(
    list: &str,
    all: &[&'static dyn rustls::crypto::SupportedKxGroup],
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, String> {
    use rustls::NamedGroup;
    let mut out: Vec<&'static dyn rustls::crypto::SupportedKxGroup> = Vec::new();
    for word in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        let want = match word.to_ascii_lowercase().as_str() {
            "x25519" => NamedGroup::X25519,
            "p-256" | "prime256v1" | "secp256r1" => NamedGroup::secp256r1,
            "p-384" | "secp384r1" => NamedGroup::secp384r1,
            _ => {
                return Err(format!(
                    "key exchange group \"{word}\" is not supported (X25519, P-256, P-384)"
                ))
            }
        };
        if let Some(g) = all.iter().find(|g| g.name() == want) {
            if !out.iter().any(|o| o.name() == want) {
                out.push(*g);
            }
        }
    }
    if out.is_empty() {
        return Err(format!("key exchange groups \"{list}\": none given"));
    }
    Ok(out)
}

/// Builds a server configuration; errors name what is wrong.
/// What is wrong with a private key the TLS provider cannot use, and what
/// to do; `None` when it can use it (or rlws cannot tell).
fn explain_key(key: &rustls::pki_types::PrivateKeyDer<'_>) -> Option<String> {
    use rustls::pki_types::PrivateKeyDer;
    let remedy = "make a 2048-bit (or larger) RSA key, or an ECDSA P-256 key, with its \
                  certificate (e.g. `openssl req -x509 -newkey rsa:2048 -nodes ...`)";
    if provider()
        .key_provider
        .load_private_key(key.clone_key())
        .is_ok()
    {
        return None;
    }
    let rsa = match key {
        PrivateKeyDer::Pkcs1(k) => ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(k) => ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Sec1(_) => {
            return Some(format!(
                "an EC key on a curve rlws' TLS provider does not sign with (it takes P-256 and \
                 P-384): {remedy}"
            ))
        }
        _ => return None,
    };
    match rsa {
        Err(e) if e.to_string().contains("TooSmall") => Some(format!(
            "an RSA key of fewer than 2048 bits, which rlws' TLS provider refuses as too weak \
             (lws' old test key is 1024 bits): {remedy}"
        )),
        Err(e) if e.to_string().contains("TooLarge") => Some(format!(
            "an RSA key of more than 8192 bits, which rlws' TLS provider refuses: {remedy}"
        )),
        Err(e) if e.to_string().contains("WrongAlgorithm") => Some(format!(
            "a key type rlws' TLS provider does not sign with: {remedy}"
        )),
        Err(e) => Some(format!(
            "an RSA key rlws' TLS provider cannot use ({e}): {remedy}"
        )),
        Ok(_) => None,
    }
}

pub(crate) fn server_config(o: &TlsServerOptions) -> Result<rustls::ServerConfig, String> {
    let certs = certs_from_pem(&o.cert_pem, "certificate")?;
    let key = key_from_pem(&o.key_pem, "private key")?;
    let base = rustls::crypto::ring::default_provider();
    let mut provider = base.clone();
    if let Some(c) = &o.ciphers {
        let (suites, skipped) = select_suites(c, &base.cipher_suites)?;
        if !skipped.is_empty() {
            tracing::info!(skipped = %skipped.join(":"), "cipher list entries rustls does not implement were skipped");
        }
        provider.cipher_suites = suites;
    }
    if let Some(g) = &o.groups {
        provider.kx_groups = select_groups(g, &base.kx_groups)?;
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = match o.min_version.as_deref() {
        None | Some("1.2") | Some("TLSv1.2") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("1.3") | Some("TLSv1.3") => &[&rustls::version::TLS13],
        Some(v) => return Err(format!("TLS version \"{v}\": use 1.2 or 1.3")),
    };
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS settings: {e}"))?;
    let builder = match (o.client_auth, &o.client_ca_pem) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => return Err("client certificates need a CA (host-ssl-ca)".into()),
        (mode, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for c in certs_from_pem(ca, "client CA")? {
                roots
                    .add(c)
                    .map_err(|e| format!("client CA: unusable certificate: {e}"))?;
            }
            let vb = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let vb = if mode == ClientAuth::Optional {
                vb.allow_unauthenticated()
            } else {
                vb
            };
            let v = vb.build().map_err(|e| format!("client CA: {e}"))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let why_key = explain_key(&key);
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| match why_key {
            Some(why) => format!("private key: {why}"),
            None => format!("certificate and key: {e}"),
        })?;
    cfg.alpn_protocols = o.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    // After the handshake rlws protects the records itself (tls/record.rs).
    cfg.enable_secret_extraction = true;
    cfg.key_log = Arc::new(super::accept::Capture);
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::select_suites;

    fn names(list: &str) -> Result<Vec<String>, String> {
        let all = rustls::crypto::ring::default_provider().cipher_suites;
        select_suites(list, &all)
            .map(|(s, _)| s.iter().map(|s| format!("{:?}", s.suite())).collect())
    }

    #[test]
    fn openssl_and_iana_names_keywords_and_exclusions() {
        let v =
            names("ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384").unwrap();
        assert_eq!(v[0], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(v[1], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
        // TLS 1.3 suites stay unless named.
        assert!(v.iter().any(|n| n.starts_with("TLS13_")));
        assert_eq!(v.len(), 2 + 3);
        let v = names("TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256").unwrap();
        assert_eq!(
            v,
            [
                "TLS13_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let all = names("HIGH:!ECDHE-RSA-CHACHA20-POLY1305:!aNULL:!MD5").unwrap();
        assert_eq!(all.len(), 8);
        assert!(!all.iter().any(|n| n.contains("RSA_WITH_CHACHA20")));
        // Unknown words are skipped and reported; nothing usable is an error.
        let all_suites = rustls::crypto::ring::default_provider().cipher_suites;
        let (_, skipped) =
            select_suites("RC4-MD5:ECDHE-RSA-AES128-GCM-SHA256", &all_suites).unwrap();
        assert_eq!(skipped, ["RC4-MD5"]);
        assert!(names("RC4-MD5:AES128-SHA").unwrap_err().contains("TLS 1.2"));
    }
}
