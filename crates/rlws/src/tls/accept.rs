//! A server's TLS handshake through rustls' unbuffered connection, sans
//! I/O; at its end the connection's keys leave rustls
//! (`dangerous_into_kernel_connection`) for rlws' own record layer.
//!
//! Key updates need the TLS 1.3 traffic secrets, which rustls does not
//! hand over with the keys: a [`Capture`] key log on the server
//! configuration keeps them, for the thread's handshakes in progress,
//! under the ClientHello's random, and the keys derived from them are
//! checked against the ones rustls hands over.

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
    random: [u8; 32],
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
    static LOGGED: RefCell<Vec<Logged>> = const { RefCell::new(Vec::new()) };
}

/// Takes (and forgets) the secrets logged for the handshake of `random`:
/// (client's, server's).
fn take_logged(random: &[u8; 32]) -> (Option<Logged>, Option<Logged>) {
    LOGGED.with(|l| {
        let mut l = l.borrow_mut();
        let mut client = None;
        let mut server = None;
        let mut i = 0;
        while i < l.len() {
            if l[i].random == *random {
                let e = l.swap_remove(i);
                if e.client {
                    client = Some(e);
                } else {
                    server = Some(e);
                }
            } else {
                i += 1;
            }
        }
        (client, server)
    })
}

/// The key log rlws sets on every server configuration: it keeps the
/// TLS 1.3 application traffic secrets of the thread's handshakes until
/// the handshake ends, and logs nothing anywhere.
#[derive(Debug)]
pub(crate) struct Capture;

impl rustls::KeyLog for Capture {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let client = match label {
            CLIENT_SECRET => true,
            SERVER_SECRET => false,
            _ => return,
        };
        let (Ok(random), Some(s)) = (<[u8; 32]>::try_from(client_random), secret.get(..)) else {
            return;
        };
        if s.len() > 48 {
            return;
        }
        let mut e = Logged {
            random,
            client,
            len: s.len(),
            secret: [0; 48],
        };
        e.secret[..s.len()].copy_from_slice(s);
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
    random: [u8; 32],
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
    /// Starts the handshake of the ClientHello in `input` (whose random
    /// [`super::hello::read`] gave) with `cfg`, which must carry a
    /// [`Capture`] key log and allow secret extraction.
    pub(crate) fn new(
        cfg: Arc<rustls::ServerConfig>,
        random: [u8; 32],
        input: Vec<u8>,
    ) -> io::Result<Accepting> {
        let conn = UnbufferedServerConnection::new(cfg).map_err(io::Error::other)?;
        Ok(Accepting {
            conn: Some(conn),
            random,
            input,
            output: Vec::new(),
            plain: Vec::new(),
        })
    }

    /// Runs the handshake as far as `input` goes.
    pub(crate) fn step(&mut self) -> io::Result<Step> {
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
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Some(Err(
                    io::Error::new(io::ErrorKind::UnexpectedEof, "closed in the handshake"),
                )),
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
                let (Some(c), Some(s)) = take_logged(&self.random) else {
                    return Err(io::Error::other("the handshake's secrets were not logged"));
                };
                let tx = Keys::tls13(version, &s.secret[..s.len], tx_seq).ok_or_else(unusable)?;
                let rx = Keys::tls13(version, &c.secret[..c.len], rx_seq).ok_or_else(unusable)?;
                // The secrets must give the keys rustls uses.
                let gives = |k: &Keys, key: &[u8], iv: &[u8]| {
                    k.key_iv(version, cipher)
                        .is_some_and(|(k2, iv2)| k2[..key.len()] == *key && iv2[..] == *iv)
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
        Ok((sealed, agreed))
    }
}

impl Drop for Accepting {
    fn drop(&mut self) {
        // A handshake that failed or was dropped leaves nothing behind.
        let _ = take_logged(&self.random);
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
        let super::super::hello::Hello::Whole { random, .. } = super::super::hello::read(&hello)
        else {
            panic!()
        };
        let mut hs = Accepting::new(server_cfg, random, hello).unwrap();
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
