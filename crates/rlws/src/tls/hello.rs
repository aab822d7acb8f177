//! The client's first flight, read before the handshake starts: enough of
//! the ClientHello (RFC 8446 §4.1.2) to pick the vhost by its server name.
//!
//! Only what this needs is checked; rustls reads the same bytes again and
//! answers anything malformed with its alert.

/// Largest ClientHello rlws waits for (a post-quantum key share makes
/// one about 1.8 KiB; lists of every suite and group stay far below).
const MAX_HELLO: usize = 64 * 1024;
/// Most input it reads for one: the hello in records of 2 KiB or more.
const MAX_INPUT: usize = MAX_HELLO + MAX_HELLO / 2048 * 5 + 5;

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hello {
    /// The ClientHello is not whole yet: nothing changes before the
    /// input is this long.
    Partial(usize),
    /// The whole ClientHello, and its server name when it names a host.
    Whole { server_name: Option<String> },
    /// Not a TLS ClientHello, or one larger than [`MAX_HELLO`] or sent
    /// in more than [`MAX_INPUT`] bytes of records.
    Invalid,
}

/// Reads the ClientHello from the first bytes a client sent, which may
/// come in several handshake records.
pub(crate) fn read(input: &[u8]) -> Hello {
    let mut msg = Vec::new();
    let mut rest = input;
    let mut at = 0;
    loop {
        if at + 5 > MAX_INPUT {
            return Hello::Invalid;
        }
        let [typ, major, _minor, h, l, ref body @ ..] = *rest else {
            return Hello::Partial(at + 5);
        };
        if typ != 22 || major != 3 {
            return Hello::Invalid;
        }
        let len = usize::from(u16::from_be_bytes([h, l]));
        if len == 0 || len > 16 * 1024 {
            return Hello::Invalid;
        }
        let Some(fragment) = body.get(..len) else {
            return Hello::Partial(at + 5 + len);
        };
        msg.extend_from_slice(fragment);
        rest = &body[len..];
        at += 5 + len;
        if let [hs_type, a, b, c, ..] = msg[..] {
            if hs_type != 1 {
                return Hello::Invalid;
            }
            let need = 4 + u32::from_be_bytes([0, a, b, c]) as usize;
            if need > MAX_HELLO {
                return Hello::Invalid;
            }
            if msg.len() >= need {
                return parse(&msg[4..need]);
            }
        }
    }
}

/// A cursor over the ClientHello's body.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// A vector with a one- or two-byte length in front.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse(body: &[u8]) -> Hello {
    parse_body(body).unwrap_or(Hello::Invalid)
}

fn parse_body(body: &[u8]) -> Option<Hello> {
    let mut c = Cur(body);
    c.take(2)?; // legacy_version
    c.take(32)?; // random
    c.vec8()?; // legacy_session_id
    c.vec16()?; // cipher_suites
    c.vec8()?; // legacy_compression_methods
    let mut server_name = None;
    // A ClientHello without extensions is a TLS 1.2 one without SNI.
    if let Some(exts) = c.vec16() {
        let mut e = Cur(exts);
        while !e.0.is_empty() {
            let typ = e.u16()?;
            let data = e.vec16()?;
            if typ == 0 {
                server_name = host_name(data);
            }
        }
    }
    Some(Hello::Whole { server_name })
}

/// The host name in a server_name extension (RFC 6066 §3), if it holds
/// one that could be a DNS name.
fn host_name(data: &[u8]) -> Option<String> {
    let mut c = Cur(data);
    let mut list = Cur(c.vec16()?);
    while !list.0.is_empty() {
        let typ = list.u8()?;
        let name = list.vec16()?;
        if typ == 0 {
            let ok = !name.is_empty()
                && name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            return ok.then(|| String::from_utf8_lossy(name).to_ascii_lowercase());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls' client writes it, for `name`.
    fn client_hello(name: &str) -> Vec<u8> {
        let roots = rustls::RootCertStore::empty();
        let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let server = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut c = rustls::ClientConnection::new(std::sync::Arc::new(cfg), server).unwrap();
        let mut out = Vec::new();
        c.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn a_client_hello_gives_its_server_name() {
        let ch = client_hello("Example.COM");
        let Hello::Whole { server_name } = read(&ch) else {
            panic!("{:?}", read(&ch));
        };
        assert_eq!(server_name.as_deref(), Some("example.com"));
        // Every proper prefix is partial.
        for n in [0, 1, 5, 9, 43, ch.len() - 1] {
            let want = if n < 5 { 5 } else { ch.len() };
            assert_eq!(read(&ch[..n]), Hello::Partial(want), "{n}");
        }
        // An IP address is not sent as a name.
        let Hello::Whole { server_name, .. } = read(&client_hello("127.0.0.1")) else {
            panic!()
        };
        assert_eq!(server_name, None);
    }

    #[test]
    fn a_client_hello_split_over_records_is_put_together() {
        let ch = client_hello("a.test");
        let body = &ch[5..];
        let mut split = Vec::new();
        for piece in body.chunks(100) {
            split.extend_from_slice(&[22, 3, 1]);
            split.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            split.extend_from_slice(piece);
        }
        assert_eq!(read(&split), read(&ch));
        let Hello::Partial(need) = read(&split[..split.len() - 1]) else {
            panic!()
        };
        assert_eq!(need, split.len());
        // After a whole first record: the next record's header.
        let first = 5 + 100;
        assert_eq!(read(&split[..first]), Hello::Partial(first + 5));
    }

    #[test]
    fn what_is_not_a_client_hello_is_invalid() {
        assert_eq!(read(b"GET / HTTP/1.1\r\n\r\n"), Hello::Invalid);
        // A handshake record holding a ServerHello.
        assert_eq!(read(&[22, 3, 3, 0, 4, 2, 0, 0, 0]), Hello::Invalid);
        // An empty record.
        assert_eq!(read(&[22, 3, 1, 0, 0]), Hello::Invalid);
        // A message length past the limit.
        assert_eq!(read(&[22, 3, 1, 0, 4, 1, 1, 0, 0]), Hello::Invalid);
        // A body shorter than its fields.
        assert_eq!(read(&[22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3]), Hello::Invalid);
    }
}
