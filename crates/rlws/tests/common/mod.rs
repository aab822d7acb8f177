#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::net::SocketAddr;
use std::time::Duration;

use rlws::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the test site on a free port of 127.0.0.1.
pub fn start(threads: usize) -> (Context, SocketAddr) {
    start_with(rlws::test_site().threads(threads))
}

pub fn start_with(b: rlws::ContextBuilder) -> (Context, SocketAddr) {
    let ctx = b
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .expect("context starts");
    let addr = ctx.local_addrs()[0];
    (ctx, addr)
}

/// A raw WebSocket client over TCP for sending hand-made frames.
pub struct Raw {
    pub s: TcpStream,
    pub buf: Vec<u8>,
    /// The handshake response head.
    pub head: String,
    /// First byte (FIN, RSV, opcode) of the last frame read.
    pub last_b0: u8,
}

pub async fn raw_connect(addr: SocketAddr, path: &str, protocol: Option<&str>) -> Raw {
    raw_connect_ext(addr, path, protocol, None).await
}

pub async fn raw_connect_ext(
    addr: SocketAddr,
    path: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Raw {
    raw_connect_full(addr, "x", path, protocol, extensions).await
}

pub async fn raw_connect_host(
    addr: SocketAddr,
    host: &str,
    path: &str,
    protocol: Option<&str>,
) -> Raw {
    raw_connect_full(addr, host, path, protocol, None).await
}

pub async fn raw_connect_full(
    addr: SocketAddr,
    host: &str,
    path: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut proto = protocol
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    if let Some(e) = extensions {
        proto.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut tmp))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed during handshake");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            assert!(head.starts_with("HTTP/1.1 101"), "handshake: {head}");
            assert!(
                head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                "accept key: {head}"
            );
            buf.drain(..end + 4);
            return Raw {
                s,
                buf,
                head,
                last_b0: 0,
            };
        }
    }
}

impl Raw {
    pub async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    /// Reads one server frame: (opcode, payload). None on EOF.
    pub async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let b1 = self.buf[1];
                assert_eq!(b1 & 0x80, 0, "server frames are not masked");
                let (len, hl) = match b1 & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    n if n < 126 => (n as usize, 2),
                    _ => (usize::MAX, 0),
                };
                if len != usize::MAX && self.buf.len() >= hl + len {
                    let op = self.buf[0] & 0x0f;
                    self.last_b0 = self.buf[0];
                    let payload = self.buf[hl..hl + len].to_vec();
                    self.buf.drain(..hl + len);
                    return Some((op, payload));
                }
            }
            let mut tmp = [0u8; 65536];
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut tmp))
                .await
                .expect("timed out waiting for a frame")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Reads frames until a close frame; returns its code.
    pub async fn close_code(&mut self) -> Option<u16> {
        while let Some((op, p)) = self.frame().await {
            if op == 8 {
                return if p.len() >= 2 {
                    Some(u16::from_be_bytes([p[0], p[1]]))
                } else {
                    Some(1005)
                };
            }
        }
        None
    }

    /// Waits for the server to close the TCP connection.
    pub async fn expect_eof(&mut self) {
        let mut tmp = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut tmp))
                .await
                .expect("server did not close the connection");
            match n {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// A masked client frame.
pub fn frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let code = rlws_ws::OpCode::from_u8(op);
    match code {
        Some(c) => {
            rlws_ws::frame::encode_frame(&mut out, c, fin, false, payload, Some([9, 8, 7, 6]))
        }
        None => {
            rlws_ws::frame::encode_frame(
                &mut out,
                rlws_ws::OpCode::Binary,
                fin,
                false,
                payload,
                Some([9, 8, 7, 6]),
            );
            out[0] = (out[0] & 0xf0) | op;
        }
    }
    out
}

/// A TLS terminator on a free port of 127.0.0.1 that forwards every
/// connection to `backend` in cleartext (stands in for a TLS server).
pub async fn tls_proxy(cert_pem: &str, key_pem: &str, backend: SocketAddr) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let Ok(mut back) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
            });
        }
    });
    addr
}

/// Answers with the request body, and what it saw of the request in
/// `x-seen-*` headers.
#[derive(Debug)]
pub struct Echo;

impl rlws::Origin for Echo {
    fn serve<'a>(
        &'a self,
        req: rlws::OriginRequest<'a>,
    ) -> rlws::BoxFuture<'a, http::Response<rlws::Body>> {
        Box::pin(async move {
            let r = req.into_request();
            let mut resp = http::Response::builder()
                .header("x-seen-method", r.method().as_str())
                .header(
                    "x-seen-path",
                    r.uri().path_and_query().map_or("", |p| p.as_str()),
                )
                .header("x-seen-version", format!("{:?}", r.version()));
            for h in [
                "content-type",
                "content-length",
                "transfer-encoding",
                "host",
                "authorization",
                "cookie",
                "accept-encoding",
                "user-agent",
            ] {
                if let Some(v) = r.headers().get(h) {
                    resp = resp.header(format!("x-seen-{h}"), v);
                }
            }
            resp.body(r.into_body()).unwrap()
        })
    }
}

/// rlws' server on 127.0.0.1 with `/echo` ([`Echo`]) and `/files` (`dir`).
pub fn echo_site(dir: &std::path::Path, threads: usize) -> (Context, SocketAddr) {
    let ctx = Context::builder()
        .threads(threads)
        .vhost(
            rlws::Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .mount(rlws::Mount::new("/echo", Echo))
                .mount(rlws::Mount::dir("/files", dir)),
        )
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("localhost").unwrap();
    (ctx, addr)
}

/// The path of example `name` of this crate (`cargo test` builds them
/// beside the tests).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        p.exists(),
        "{} missing: `cargo test` builds the examples",
        p.display()
    );
    p
}

/// A fresh scratch directory for one test.
pub fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rlws-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[allow(unused_imports)] // each test file uses some of them
pub use rlws_testkit::{free_port, http_raw, Refusing, TestCa};

/// A response read whole from a `Connection: close` request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, chunked transfer coding removed.
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The parts of a `multipart/byteranges` body: (type, range, bytes).
    pub fn parts(&self) -> Vec<(String, String, Vec<u8>)> {
        let ct = self.header("content-type").unwrap_or_default();
        let b = ct
            .split_once("boundary=")
            .map(|(_, b)| b.trim_matches('"'))
            .unwrap_or_else(|| panic!("no boundary in {ct:?}"));
        let delim = format!("--{b}");
        let mut out = Vec::new();
        let body = &self.body;
        let mut at = find(body, delim.as_bytes(), 0).expect("first delimiter");
        loop {
            at += delim.len();
            if body[at..].starts_with(b"--") {
                break;
            }
            let head_end = find(body, b"\r\n\r\n", at).expect("part head") + 4;
            let head = String::from_utf8_lossy(&body[at..head_end]).to_string();
            let next = find(body, format!("\r\n{delim}").as_bytes(), head_end).expect("next");
            let field = |n: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case(n)
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            };
            out.push((
                field("content-type"),
                field("content-range"),
                body[head_end..next].to_vec(),
            ));
            at = next + 2;
        }
        out
    }
}

pub fn find(h: &[u8], n: &[u8], from: usize) -> Option<usize> {
    h.get(from..)?
        .windows(n.len())
        .position(|w| w == n)
        .map(|p| p + from)
}

/// A request with `Connection: close`, its answer read whole.
pub async fn ask(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    ask_body(addr, method, path, headers, &[]).await
}

/// [`ask`] with a body (its `Content-Length` is for the caller to give, or
/// `Transfer-Encoding: chunked` with `body` already chunked), written while
/// the answer is read.
pub async fn ask_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let write = async {
        wr.write_all(req.as_bytes()).await.unwrap();
        // The server may answer before it has read all (and close).
        let _ = wr.write_all(body).await;
    };
    let mut raw = Vec::new();
    let read = async {
        tokio::time::timeout(Duration::from_secs(60), rd.read_to_end(&mut raw))
            .await
            .expect("answer within 60 s")
            .unwrap();
    };
    tokio::join!(write, read);
    let end = find(&raw, b"\r\n\r\n", 0).expect("a response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// A chunked body's content; panics on a broken one.
pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = find(b, b"\r\n", 0).expect("chunk size line");
        let size = std::str::from_utf8(&b[..nl]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        assert_eq!(&b[size..size + 2], b"\r\n", "chunk end");
        b = &b[size + 2..];
    }
}

/// `body` in HTTP/1.1's chunked transfer coding, in chunks of `piece` bytes.
pub fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / piece.max(1) * 10 + 8);
    for c in body.chunks(piece.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// rlws on 127.0.0.1 with one service thread and one vhost, `localhost`,
/// serving `mounts`.
pub fn serve_mounts(mounts: Vec<rlws::Mount>) -> (Context, SocketAddr) {
    let mut v = rlws::Vhost::new("localhost", "127.0.0.1:0".parse().unwrap());
    for m in mounts {
        v = v.mount(m);
    }
    let ctx = Context::builder().threads(1).vhost(v).start().unwrap();
    let addr = ctx.vhost_addr("localhost").unwrap();
    (ctx, addr)
}

/// Client TLS options trusting only `ca`.
pub fn trusting(ca: &TestCa) -> rlws::TlsClientOptions {
    rlws::TlsClientOptions {
        ca_pem: Some(ca.pem().into_bytes()),
        ..Default::default()
    }
}
