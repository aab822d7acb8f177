//! A server's TLS handshake through rustls' unbuffered connection, sans
//! I/O; at its end the connection's keys leave rustls
//! (`dangerous_into_kernel_connection`) for rlws' own record layer.
//!
//! Key updates need the TLS 1.3 traffic secrets, which rustls does not
//! hand over with the keys: a [`Capture`] key log on the server
//! configuration keeps them for the step of the handshake in which rustls
//! logged them, and the keys derived from them are checked against the
//! ones rustls hands over.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{ConnectionTrafficSecrets, ProtocolVersion, SupportedCipherSuite};

use super::record::{Cipher, Keys, Sealed, Version};

const CLIENT_SECRET: &str = "CLIENT_TRAFFIC_SECRET_0";
const SERVER_SECRET: &str = "SERVER_TRAFFIC_SECRET_0";

/// A traffic secret rustls logged during a handshake on this thread.
struct Logged {
    client: bool,
    len: usize,
    secret: [u8; 48],
}

impl Drop for Logged {
    fn drop(&mut self) {
        super::record::wipe(&mut self.secret);
    }
}

thread_local! {
    /// What rustls logged during the [`Accepting::step`] running now: a
    /// step runs without yielding, so every entry made during it is its
    /// connection's, whatever ClientHello random rustls names it by (after
    /// a HelloRetryRequest, the second one's). The step takes them all.
    static LOGGED: RefCell<Vec<Logged>> = const { RefCell::new(Vec::new()) };
}

/// The key log rlws sets on every server configuration: it keeps the
/// TLS 1.3 application traffic secrets of the thread's handshakes until
/// the step of the handshake that made them ends, and logs nothing
/// anywhere.
#[derive(Debug)]
pub(crate) struct Capture;

impl rustls::KeyLog for Capture {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        let client = match label {
            CLIENT_SECRET => true,
            SERVER_SECRET => false,
            _ => return,
        };
        if secret.len() > 48 {
            return;
        }
        let mut e = Logged {
            client,
            len: secret.len(),
            secret: [0; 48],
        };
        e.secret[..secret.len()].copy_from_slice(secret);
        LOGGED.with(|l| l.borrow_mut().push(e));
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT_SECRET || label == SERVER_SECRET
    }
}

/// A handshake in progress.
pub(crate) struct Accepting {
    /// `None` once [`Accepting::finish`] took it.
    conn: Option<UnbufferedServerConnection>,
    /// The latest TLS 1.3 traffic secrets rustls logged: client's, server's.
    client_secret: Option<Logged>,
    server_secret: Option<Logged>,
    /// The client's close_notify came with its last flight.
    peer_closed: bool,
    /// Received bytes rustls has not taken yet.
    pub(crate) input: Vec<u8>,
    /// Handshake records to send, in order.
    pub(crate) output: Vec<u8>,
    /// Application data that came with the client's last flight.
    pub(crate) plain: Vec<u8>,
}

/// Where the handshake stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// It needs more of the client's bytes.
    Read,
    /// It is complete (once `output` is sent).
    Done,
}

/// What the handshake agreed, besides the keys.
pub(crate) struct Agreed {
    pub(crate) alpn: Option<Vec<u8>>,
}

impl Accepting {
    /// Starts the handshake of the ClientHello in `input` with `cfg`,
    /// which must carry a [`Capture`] key log and allow secret extraction.
    pub(crate) fn new(cfg: Arc<rustls::ServerConfig>, input: Vec<u8>) -> io::Result<Accepting> {
        let conn = UnbufferedServerConnection::new(cfg).map_err(io::Error::other)?;
        Ok(Accepting {
            conn: Some(conn),
            client_secret: None,
            server_secret: None,
            peer_closed: false,
            input,
            output: Vec::new(),
            plain: Vec::new(),
        })
    }

    /// Runs the handshake as far as `input` goes.
    pub(crate) fn step(&mut self) -> io::Result<Step> {
        let r = self.run();
        // Whatever rustls logged meanwhile is this connection's.
        let logged = LOGGED.with(|l| std::mem::take(&mut *l.borrow_mut()));
        for e in logged {
            if e.client {
                self.client_secret = Some(e);
            } else {
                self.server_secret = Some(e);
            }
        }
        let done = r?;
        if done == Step::Done && self.conn.as_ref().is_some_and(|c| c.is_handshaking()) {
            // Data may be sent before the client's Finished (never with
            // rlws' settings): wait for the rest.
            return Ok(Step::Read);
        }
        Ok(done)
    }

    fn run(&mut self) -> io::Result<Step> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Err(io::Error::other("the handshake is over"));
            };
            let UnbufferedStatus { discard, state } = conn.process_tls_records(&mut self.input);
            let next = match state {
                Ok(ConnectionState::EncodeTlsData(e)) => encode(e, &mut self.output).err().map(Err),
                // All that was encoded is sent, in order, before anything
                // of the record layer.
                Ok(ConnectionState::TransmitTlsData(t)) => {
                    t.done();
                    None
                }
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    let mut failed = None;
                    while let Some(rec) = r.next_record() {
                        match rec {
                            Ok(rec) => self.plain.extend_from_slice(rec.payload),
                            Err(e) => {
                                failed = Some(io::Error::new(io::ErrorKind::InvalidData, e));
                                break;
                            }
                        }
                    }
                    failed.map(Err)
                }
                Ok(ConnectionState::BlockedHandshake) => Some(Ok(Step::Read)),
                Ok(ConnectionState::WriteTraffic(_)) => Some(Ok(Step::Done)),
                // The client's Finished, data and close_notify in one flight:
                // done, with the reading side closed.
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    None
                }
                Ok(ConnectionState::Closed) => Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed in the handshake",
                ))),
                Ok(_) => Some(Err(io::Error::other("early data is not accepted"))),
                Err(e) => {
                    self.input.drain(..discard.min(self.input.len()));
                    self.queue_alert();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            };
            self.input.drain(..discard.min(self.input.len()));
            if let Some(r) = next {
                return r;
            }
        }
    }

    /// After an error: the alert rustls queued, into `output`.
    fn queue_alert(&mut self) {
        for _ in 0..4 {
            let Some(conn) = self.conn.as_mut() else {
                return;
            };
            let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut []);
            let Ok(ConnectionState::EncodeTlsData(e)) = state else {
                return;
            };
            if encode(e, &mut self.output).is_err() {
                return;
            }
        }
    }

    /// The finished handshake's record protection and what it agreed;
    /// `input` and `plain` stay for the caller to take first.
    pub(crate) fn finish(&mut self) -> io::Result<(Sealed, Agreed)> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| io::Error::other("the handshake is over"))?;
        let agreed = Agreed {
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        let version = conn.protocol_version();
        let suite = conn.negotiated_cipher_suite();
        let (secrets, _kernel) = conn
            .dangerous_into_kernel_connection()
            .map_err(io::Error::other)?;
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        let (cipher, tx_key, tx_iv) = traffic(&tx)?;
        let (_, rx_key, rx_iv) = traffic(&rx)?;
        let unusable = || io::Error::other("the handshake's keys are unusable");
        let sealed = match (version, suite) {
            (Some(ProtocolVersion::TLSv1_2), _) => {
                let tx = Keys::tls12(tx_key, tx_iv, tx_seq).ok_or_else(unusable)?;
                let rx = Keys::tls12(rx_key, rx_iv, rx_seq).ok_or_else(unusable)?;
                Sealed::new(Version::Tls12, cipher, tx, rx)
            }
            (Some(ProtocolVersion::TLSv1_3), Some(SupportedCipherSuite::Tls13(s))) => {
                let version = match s.common.hash_provider.algorithm() {
                    rustls::crypto::hash::HashAlgorithm::SHA256 => Version::Tls13Sha256,
                    rustls::crypto::hash::HashAlgorithm::SHA384 => Version::Tls13Sha384,
                    _ => return Err(unusable()),
                };
                let (Some(c), Some(s)) = (self.client_secret.take(), self.server_secret.take())
                else {
                    return Err(io::Error::other("the handshake's secrets were not logged"));
                };
                let tx = Keys::tls13(version, &s.secret[..s.len], tx_seq).ok_or_else(unusable)?;
                let rx = Keys::tls13(version, &c.secret[..c.len], rx_seq).ok_or_else(unusable)?;
                // The secrets must give the keys rustls uses.
                let gives = |k: &Keys, key: &[u8], iv: &[u8]| {
                    k.key_iv(version, cipher).is_some_and(|(mut k2, iv2)| {
                        let same = k2[..key.len()] == *key && iv2[..] == *iv;
                        super::record::wipe(&mut k2);
                        same
                    })
                };
                if !gives(&tx, tx_key, tx_iv) || !gives(&rx, rx_key, rx_iv) {
                    return Err(io::Error::other(
                        "the logged secrets do not give the handshake's keys",
                    ));
                }
                Sealed::new(version, cipher, tx, rx)
            }
            _ => return Err(unusable()),
        };
        let mut sealed = sealed;
        if self.peer_closed {
            sealed.set_peer_closed();
        }
        Ok((sealed, agreed))
    }
}

/// Appends the records rustls has ready to `out`.
fn encode(
    mut e: rustls::unbuffered::EncodeTlsData<'_, rustls::server::ServerConnectionData>,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let start = out.len();
    out.resize(start + 4096, 0);
    let n = match e.encode(&mut out[start..]) {
        Err(EncodeError::InsufficientSize(s)) => {
            out.resize(start + s.required_size, 0);
            e.encode(&mut out[start..])
        }
        n => n,
    };
    match n {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(err) => {
            out.truncate(start);
            Err(io::Error::other(err.to_string()))
        }
    }
}

/// The AEAD and the key and IV of one direction.
fn traffic(s: &ConnectionTrafficSecrets) -> io::Result<(Cipher, &[u8], &[u8])> {
    Ok(match s {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
            (Cipher::Aes128Gcm, key.as_ref(), iv.as_ref())
        }
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            (Cipher::Aes256Gcm, key.as_ref(), iv.as_ref())
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
            (Cipher::Chacha20Poly1305, key.as_ref(), iv.as_ref())
        }
        _ => return Err(io::Error::other("a cipher suite rlws cannot protect")),
    })
}

/// True when no handshake's secrets are waiting on this thread (tests).
#[cfg(test)]
pub(crate) fn nothing_logged() -> bool {
    LOGGED.with(|l| l.borrow().is_empty())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_failed_handshake_leaves_rustls_alert_to_send() {
        let ca = rlws_testkit::TestCa::new("accept test");
        let (cert, key) = ca.leaf(&["acc.test"]);
        let opts = crate::tls::TlsServerOptions {
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
            alpn: vec!["http/1.1".into()],
            ..Default::default()
        };
        let server_cfg = Arc::new(crate::tls::server_config(&opts).unwrap());
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        let name = rustls::pki_types::ServerName::try_from("acc.test").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        let mut hs = Accepting::new(server_cfg, hello).unwrap();
        assert!(hs.step().is_err());
        let mut out = &hs.output[..];
        assert!(!out.is_empty());
        client.read_tls(&mut out).unwrap();
        match client.process_new_packets() {
            Err(rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)) => {}
            other => panic!("{other:?}"),
        }
        // Nothing is left behind on the thread.
        LOGGED.with(|l| assert!(l.borrow().is_empty()));
    }
}
