//! The WebSocket client: connect to `ws://` and `wss://` URLs and talk through an async
//! [`WebSocket`] (a `Stream` of [`Message`]s and a `Sink` for them, plus
//! plain `recv`/`send` methods).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rlws::client::{connect, ClientConfig, Message};
//! let mut ws = connect(ClientConfig::new("ws://127.0.0.1:7681/echo")?).await?;
//! ws.send(Message::Text("hello".into())).await?;
//! if let Some(Ok(Message::Text(t))) = ws.recv().await {
//!     println!("{t}");
//! }
//! ws.close(1000, "bye").await?;
//! # Ok(()) }
//! ```
//!
//! Connecting reports why it failed ([`ConnectError`]): the name did not
//! resolve, the connection was refused, the 5 s connect timeout (lws' default;
//! [`ClientConfig::connect_timeout`]) passed, TLS failed (say, an untrusted
//! certificate), the server answered with another HTTP status, or its
//! handshake did not match what was asked.
//!
//! `wss://` uses rustls with the platform's CA certificates, or the ones in
//! [`ClientConfig::tls`].
//!
//! The same connections can also run on a [`crate::Context`]'s service
//! threads with the typed [`crate::protocol::Protocol`] callbacks: see
//! [`crate::Context::connect`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use rlws_ws::deflate::{self, DeflateConfig};
use rlws_ws::handshake;
use rlws_ws::{
    CloseCode, Config, Connection, DataKind, Event, Outgoing, ProtocolError, Role, State,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::tls::TlsClientOptions;
use crate::transport::Transport;

mod h2;
pub use h2::H2Connection;

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// A ping (answered automatically; shown for information).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The peer's close frame: code and reason, if it had a code.
    Close(Option<(u16, String)>),
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    host: String,
    port: u16,
    path: String,
    secure: bool,
    /// TLS settings for `wss://` (CA, client certificate, SNI name).
    pub tls: TlsClientOptions,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Time allowed for DNS, TCP connect and the opening handshake together.
    pub connect_timeout: Duration,
    /// permessage-deflate to offer; `None` offers nothing.
    pub deflate: Option<DeflateConfig>,
    /// Further permessage-deflate offers, sent after `deflate` in the same
    /// header (the server takes the first it can accept).
    pub deflate_also: Vec<DeflateConfig>,
    /// Largest message accepted (bytes, after inflating); larger closes with 1009.
    pub max_message: u64,
    /// Open the WebSocket as a stream of a new HTTP/2 connection (RFC 8441:
    /// ALPN `h2` for `wss://`, prior knowledge for `ws://`). To put several
    /// WebSockets on one connection, use [`H2Connection`].
    pub http2: bool,
}

/// A URL this client cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub String);

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad WebSocket URL: {}", self.0)
    }
}

impl std::error::Error for UrlError {}

impl ClientConfig {
    /// A configuration for `url` (`ws://` or `wss://host[:port][/path][?query]`) with
    /// defaults: no subprotocol, permessage-deflate offered, 5 s connect
    /// timeout, 16 MiB messages.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError(format!("{url}: no scheme")))?;
        let (default_port, secure) = match scheme.to_ascii_lowercase().as_str() {
            "ws" => (80, false),
            "wss" => (443, true),
            other => return Err(UrlError(format!("{url}: scheme {other} is not ws or wss"))),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(UrlError(format!("{url}: bad host")));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError(format!("{url}: bad IPv6 host")))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| UrlError(format!("{url}: bad port")))?,
                None if after.is_empty() => default_port,
                None => return Err(UrlError(format!("{url}: bad host"))),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| UrlError(format!("{url}: bad port")))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        Ok(ClientConfig {
            host,
            port,
            path,
            secure,
            tls: TlsClientOptions::default(),
            subprotocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            deflate: Some(DeflateConfig::default()),
            deflate_also: Vec::new(),
            max_message: 16 << 20,
            http2: false,
        })
    }

    /// Adds a subprotocol to offer.
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.subprotocols.push(name.to_string());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The host part of the URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request path (with query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True for `wss://`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The host name did not resolve.
    Dns(String),
    /// The server refused the TCP connection.
    Refused,
    /// The connect timeout passed.
    Timeout,
    /// TLS failed (certificate not trusted, wrong name, no common protocol...).
    Tls(String),
    /// The server answered the upgrade with another HTTP status.
    Status(u16),
    /// The server's handshake did not match the request.
    Handshake(String),
    /// Another I/O error.
    Io(io::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Dns(h) => write!(f, "cannot resolve {h}"),
            ConnectError::Refused => f.write_str("connection refused"),
            ConnectError::Timeout => f.write_str("connect timed out"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Status(s) => write!(f, "server answered the upgrade with HTTP {s}"),
            ConnectError::Handshake(s) => write!(f, "handshake failed: {s}"),
            ConnectError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// An error on an open WebSocket.
#[derive(Debug)]
pub enum WsError {
    /// The peer broke the protocol; we closed with this code.
    Protocol(ProtocolError),
    /// The connection is closed; nothing more can be sent.
    Closed,
    /// An I/O error.
    Io(io::Error),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsError::Protocol(e) => write!(f, "protocol error: {e}"),
            WsError::Closed => f.write_str("connection closed"),
            WsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WsError {}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}

/// Connects and performs the opening handshake.
pub async fn connect(cfg: ClientConfig) -> Result<WebSocket<Transport>, ConnectError> {
    let (io, opened, _) = open(&cfg).await?;
    Ok(WebSocket::from_opened(io, opened, &cfg))
}

/// Connects (TCP, then TLS for `wss://`) and does the opening handshake,
/// all within the connect timeout.
pub(crate) async fn open(
    cfg: &ClientConfig,
) -> Result<(Transport, Opened, SocketAddr), ConnectError> {
    if cfg.http2 {
        // Each step has the connect timeout of its own.
        let h2 = H2Connection::connect(cfg).await?;
        let (io, opened) = h2.open_stream(cfg).await?;
        return Ok((io, opened, h2.peer()));
    }
    match tokio::time::timeout(cfg.connect_timeout, open_inner(cfg)).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::Timeout),
    }
}

async fn open_inner(cfg: &ClientConfig) -> Result<(Transport, Opened, SocketAddr), ConnectError> {
    let (mut io, peer, _) = dial(cfg, &[b"http/1.1"]).await?;
    let opened = client_handshake(&mut io, cfg).await?;
    Ok((io, opened, peer))
}

/// Resolves, connects, and for `wss://` does the TLS handshake offering
/// `alpn`; returns the stream, the peer and whether the server chose `h2`.
pub(crate) async fn dial(
    cfg: &ClientConfig,
    alpn: &[&[u8]],
) -> Result<(Transport, SocketAddr, bool), ConnectError> {
    // Check the TLS settings before touching the network.
    let tls = if cfg.secure {
        let c = crate::tls::client_config(&cfg.tls, alpn).map_err(ConnectError::Tls)?;
        let name = cfg.tls.server_name.as_deref().unwrap_or(&cfg.host);
        Some((c, crate::tls::server_name(name).map_err(ConnectError::Tls)?))
    } else {
        None
    };
    let addrs: Vec<_> = tokio::net::lookup_host((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|_| ConnectError::Dns(cfg.host.clone()))?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Dns(cfg.host.clone()));
    }
    let mut last = ConnectError::Refused;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                stream = Some((s, a));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => last = ConnectError::Refused,
            Err(e) => last = ConnectError::Io(e),
        }
    }
    let (stream, peer) = stream.ok_or(last)?;
    let _ = stream.set_nodelay(true);
    Ok(match tls {
        None => (Transport::Tcp(stream), peer, false),
        Some((c, name)) => {
            let s = tokio_rustls::TlsConnector::from(c)
                .connect(name, stream)
                .await
                .map_err(|e| ConnectError::Tls(tls_reason(e)))?;
            let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
            (Transport::Other(Box::new(s)), peer, h2)
        }
    })
}

/// The rustls error inside an I/O error from the TLS handshake, as text.
fn tls_reason(e: io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => r.to_string(),
        None => e.to_string(),
    }
}

/// Performs the client handshake on an already connected stream (any
/// transport: TCP, TLS, a Unix socket, a test pipe).
pub async fn handshake_on<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    cfg: &ClientConfig,
) -> Result<WebSocket<S>, ConnectError> {
    let opened = client_handshake(&mut io, cfg).await?;
    Ok(WebSocket::from_opened(io, opened, cfg))
}

/// What the opening handshake settled.
pub(crate) struct Opened {
    pub(crate) protocol: Option<String>,
    pub(crate) deflate: Option<deflate::Params>,
    /// Bytes after the response head (the first frames).
    pub(crate) leftover: Vec<u8>,
    /// The response headers.
    pub(crate) headers: hyper::HeaderMap,
}

async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cfg: &ClientConfig,
) -> Result<Opened, ConnectError> {
    let mut key_bytes = [0u8; 16];
    key_bytes[..8].copy_from_slice(&rlws_ws::mask::random_u64().to_ne_bytes());
    key_bytes[8..].copy_from_slice(&rlws_ws::mask::random_u64().to_ne_bytes());
    let key = handshake::base64_encode(&key_bytes);
    let host = authority(cfg);
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        cfg.path
    );
    if !cfg.subprotocols.is_empty() {
        req.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            cfg.subprotocols.join(", ")
        ));
    }
    if let Some(e) = extension_offer(cfg) {
        req.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    for (k, v) in &cfg.headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(ConnectError::Handshake(format!("invalid header {k:?}")));
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes())
        .await
        .map_err(ConnectError::Io)?;

    // Read the response head.
    let mut buf = vec![0u8; 16 * 1024];
    let mut have = 0;
    let head_len = loop {
        let mut rb = ReadBuf::new(&mut buf[have..]);
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, &mut rb))
            .await
            .map_err(ConnectError::Io)?;
        let n = rb.filled().len();
        if n == 0 {
            return Err(ConnectError::Handshake(
                "connection closed during the handshake".into(),
            ));
        }
        have += n;
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if have == buf.len() {
            return Err(ConnectError::Handshake("response head too large".into()));
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ConnectError::Handshake("malformed HTTP response".into())),
    }
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(ConnectError::Status(code));
    }
    let get = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if !get("upgrade").is_some_and(|v| handshake::header_has_token(v, "websocket")) {
        return Err(ConnectError::Handshake(
            "no 'Upgrade: websocket' in the response".into(),
        ));
    }
    if !get("connection").is_some_and(|v| handshake::header_has_token(v, "upgrade")) {
        return Err(ConnectError::Handshake(
            "no 'Connection: upgrade' in the response".into(),
        ));
    }
    let want = handshake::accept_key(key.as_bytes());
    if get("sec-websocket-accept").map(|v| v.trim_ascii()) != Some(want.as_bytes()) {
        return Err(ConnectError::Handshake(
            "Sec-WebSocket-Accept does not match the key".into(),
        ));
    }
    let (protocol, params) = negotiate(
        cfg,
        get("sec-websocket-protocol"),
        get("sec-websocket-extensions"),
    )?;
    let mut headers = hyper::HeaderMap::new();
    for h in resp.headers.iter() {
        if let (Ok(k), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(h.name.as_bytes()),
            hyper::header::HeaderValue::from_bytes(h.value),
        ) {
            headers.append(k, v);
        }
    }
    Ok(Opened {
        protocol,
        deflate: params,
        leftover: buf[head_len..have].to_vec(),
        headers,
    })
}

/// `host[:port]` of `cfg`'s URL, as `Host` or `:authority` (the port only
/// when it is not the scheme's default).
fn authority(cfg: &ClientConfig) -> String {
    let host = if cfg.host.contains(':') {
        format!("[{}]", cfg.host)
    } else {
        cfg.host.clone()
    };
    let default_port = if cfg.secure { 443 } else { 80 };
    if cfg.port == default_port {
        host
    } else {
        format!("{host}:{}", cfg.port)
    }
}

/// The permessage-deflate offers of `cfg`, for `Sec-WebSocket-Extensions`.
fn extension_offer(cfg: &ClientConfig) -> Option<String> {
    let list: Vec<String> = cfg
        .deflate
        .iter()
        .chain(cfg.deflate_also.iter())
        .map(deflate::client_offer)
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// Checks the server's subprotocol and extension answers against what
/// `cfg` offered.
fn negotiate(
    cfg: &ClientConfig,
    protocol: Option<&[u8]>,
    extensions: Option<&[u8]>,
) -> Result<(Option<String>, Option<deflate::Params>), ConnectError> {
    let offers: Vec<&DeflateConfig> = cfg.deflate.iter().chain(cfg.deflate_also.iter()).collect();
    let protocol = match protocol {
        None => None,
        Some(p) => {
            let p = std::str::from_utf8(p).unwrap_or("").trim().to_string();
            if !cfg.subprotocols.contains(&p) {
                return Err(ConnectError::Handshake(format!(
                    "server chose subprotocol {p:?}, which was not offered"
                )));
            }
            Some(p)
        }
    };
    let ext = extensions.map(|v| String::from_utf8_lossy(v).to_string());
    let params = match ext.as_deref() {
        None => None,
        Some(e) => {
            // The response must fit one of the offers.
            let mut first_err = "server accepted an extension that was not offered";
            let mut found = None;
            for (i, d) in offers.iter().enumerate() {
                match deflate::client_accept(Some(e), d) {
                    Ok(p) => {
                        found = p;
                        break;
                    }
                    Err(err) if i == 0 => first_err = err,
                    Err(_) => {}
                }
            }
            Some(found.ok_or_else(|| ConnectError::Handshake(first_err.into()))?)
        }
    };
    Ok((protocol, params))
}

/// An open client WebSocket over `S`: a pump between the socket and an
/// [`rlws_ws::Connection`].
///
/// Pings are answered automatically. [`WebSocket::recv`] returns messages
/// whole (fragments reassembled, compressed ones inflated, text checked);
/// [`WebSocket::send`] sends one. It is also a `futures` `Stream` and `Sink`.
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    protocol: Option<String>,
    eof: bool,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .field("deflate", &self.conn.deflate())
            .field("state", &self.conn.state())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    fn from_opened(io: S, o: Opened, cfg: &ClientConfig) -> Self {
        WebSocket::new(
            io,
            o.protocol,
            o.deflate.map(|p| (p, cfg.deflate.unwrap_or_default())),
            o.leftover,
            cfg.max_message,
        )
    }

    fn new(
        io: S,
        protocol: Option<String>,
        deflate: Option<(deflate::Params, DeflateConfig)>,
        leftover: Vec<u8>,
        max_message: u64,
    ) -> Self {
        let mut config = Config::default();
        config.max_message = max_message;
        config.max_frame = max_message;
        let mut conn = Connection::new(Role::Client, config);
        if let Some((p, cfg)) = deflate {
            conn = conn.with_deflate(p, &cfg);
        }
        let mut rbuf = leftover;
        let rend = rbuf.len();
        rbuf.resize(rend.max(64 * 1024), 0);
        WebSocket {
            io,
            conn,
            rbuf,
            rstart: 0,
            rend,
            protocol,
            eof: false,
        }
    }

    /// The subprotocol the server chose.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters, if negotiated.
    pub fn deflate(&self) -> Option<deflate::Params> {
        self.conn.deflate()
    }

    /// Queues a message for sending (call [`WebSocket::flush`] or use `send`).
    pub fn queue(&mut self, m: &Message) -> Result<(), WsError> {
        let sent = match m {
            Message::Text(t) => self.conn.send_text(t),
            Message::Binary(b) => self.conn.send_binary(b),
            Message::Ping(p) => self.conn.send_ping(p),
            Message::Pong(p) => self.conn.send(Outgoing::Pong, p),
            Message::Close(c) => {
                let now = std::time::Instant::now();
                match c {
                    Some((code, reason)) => self.conn.close(CloseCode(*code), reason, now),
                    None => self.conn.close_without_code(now),
                }
            }
        };
        sent.map_err(|_| WsError::Closed)
    }

    fn poll_flush_buf(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        loop {
            let out = self.conn.poll_transmit();
            if out.is_empty() {
                break;
            }
            let n = match Pin::new(&mut self.io).poll_write(cx, out) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), WsError> {
        std::future::poll_fn(|cx| self.poll_flush_buf(cx))
            .await
            .map_err(WsError::Io)
    }

    /// Sends a message.
    pub async fn send(&mut self, m: Message) -> Result<(), WsError> {
        self.queue(&m)?;
        self.flush().await
    }

    /// Sends a close frame (if not sent yet) and waits, at most the close
    /// timeout (5 s), for the server's close and the end of the connection.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        if matches!(self.conn.state(), State::Open | State::CloseReceived) {
            self.queue(&Message::Close(Some((code, reason.to_string()))))?;
            self.flush().await?;
        }
        let wait = self.conn.config().close_timeout;
        let _ = tokio::time::timeout(wait, async {
            while let Some(m) = self.recv().await {
                if m.is_err() {
                    break;
                }
            }
        })
        .await;
        let _ = self.io.shutdown().await;
        Ok(())
    }

    /// The next message; `None` when the connection has ended.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Message, WsError>>> {
        loop {
            // Keep pongs and close replies moving even while only reading.
            if self.conn.wants_transmit() {
                match self.poll_flush_buf(cx) {
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(WsError::Io(e)))),
                    // After the peer's close, our reply goes out before reading on.
                    Poll::Pending if self.conn.state() == State::Closed => return Poll::Pending,
                    _ => {}
                }
            }
            if self.eof && self.rstart == self.rend {
                return Poll::Ready(None);
            }
            match self.parse() {
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Ok(None) => {}
                Err(e) => {
                    // The connection queued its close with the error's code.
                    let _ = self.poll_flush_buf(cx);
                    self.eof = true;
                    return Poll::Ready(Some(Err(WsError::Protocol(e))));
                }
            }
            // Need more bytes.
            if self.rstart == self.rend {
                self.rstart = 0;
                self.rend = 0;
            }
            if self.rend == self.rbuf.len() {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            }
            let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(WsError::Io(e)))),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.eof = true;
                        if self.rstart == self.rend {
                            return Poll::Ready(None);
                        }
                    }
                    self.rend += n;
                }
            }
        }
    }

    /// Parses buffered bytes until a whole message is ready or more are needed.
    fn parse(&mut self) -> Result<Option<Message>, ProtocolError> {
        while self.rstart < self.rend {
            let (n, ev) = self.conn.read(&mut self.rbuf[self.rstart..self.rend])?;
            self.rstart += n;
            let Some(ev) = ev else {
                if n == 0 {
                    break;
                }
                continue;
            };
            return Ok(Some(match ev {
                Event::Data(d) => match d.kind {
                    DataKind::Binary => Message::Binary(d.data.to_vec()),
                    // The connection checked the text (after inflating).
                    DataKind::Text => Message::Text(String::from_utf8_lossy(d.data).into_owned()),
                },
                Event::Ping(p) => Message::Ping(p.to_vec()),
                Event::Pong(p) => Message::Pong(p.to_vec()),
                Event::Close { code, reason } => {
                    Message::Close(code.map(|c| (c.0, reason.to_string())))
                }
            }));
        }
        Ok(None)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if this.conn.queued() < 256 * 1024 {
            return Poll::Ready(Ok(()));
        }
        this.poll_flush_buf(cx).map_err(WsError::Io)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        self.get_mut().queue(&item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        self.get_mut().poll_flush_buf(cx).map_err(WsError::Io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if matches!(this.conn.state(), State::Open | State::CloseReceived) {
            this.queue(&Message::Close(Some((1000, String::new()))))?;
        }
        match this.poll_flush_buf(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io)
                .poll_shutdown(cx)
                .map_err(WsError::Io),
            other => other.map_err(WsError::Io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_websocket_is_send() {
        fn send<T: Send>() {}
        send::<WebSocket<Transport>>();
        send::<ClientConfig>();
    }

    #[test]
    fn urls() {
        let c = ClientConfig::new("ws://127.0.0.1:7681/echo?x=1").unwrap();
        assert_eq!(
            (c.host(), c.port(), c.path()),
            ("127.0.0.1", 7681, "/echo?x=1")
        );
        let c = ClientConfig::new("ws://example.com").unwrap();
        assert_eq!((c.host(), c.port(), c.path()), ("example.com", 80, "/"));
        let c = ClientConfig::new("ws://[::1]:9/a").unwrap();
        assert_eq!((c.host(), c.port(), c.path()), ("::1", 9, "/a"));
        let c = ClientConfig::new("ws://h?q").unwrap();
        assert_eq!(c.path(), "/?q");
        let c = ClientConfig::new("WSS://example.com/x").unwrap();
        assert_eq!(
            (c.host(), c.port(), c.is_secure()),
            ("example.com", 443, true)
        );
        assert!(!ClientConfig::new("ws://h/").unwrap().is_secure());
        for bad in [
            "http://x/",
            "https://x/",
            "127.0.0.1:80",
            "ws://",
            "wss://",
            "ws://h:port/",
            "ws://u@h/",
        ] {
            assert!(ClientConfig::new(bad).is_err(), "{bad}");
        }
    }
}
