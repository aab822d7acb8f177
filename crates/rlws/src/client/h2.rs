//! WebSockets over HTTP/2 (RFC 8441): one HTTP/2 connection, any number of
//! WebSockets on it, each an extended CONNECT stream.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rlws::client::{ClientConfig, H2Connection, Message};
//! let h2 = H2Connection::connect(&ClientConfig::new("wss://example.com/")?).await?;
//! let mut a = h2.websocket(&ClientConfig::new("wss://example.com/echo")?).await?;
//! let mut b = h2.websocket(&ClientConfig::new("wss://example.com/echo")?).await?;
//! a.send(Message::Text("one".into())).await?;
//! b.send(Message::Text("two".into())).await?;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::config::ClientConfig;
use super::dial::dial;
use super::error::{ConnectError, HandshakeError};
use super::handshake::{extension_offer, negotiate, Opened};
use super::websocket::WebSocket;
use crate::runtime::Transport;

/// An HTTP/2 connection that opens WebSockets as streams (RFC 8441).
///
/// Cloning it is cheap and shares the connection. The connection stays up
/// while a clone or one of its WebSockets is alive.
#[derive(Clone)]
pub struct H2Connection {
    send: SendRequest<Empty<Bytes>>,
    scheme: &'static str,
    authority: String,
    peer: SocketAddr,
}

impl std::fmt::Debug for H2Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Connection")
            .field("authority", &self.authority)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl H2Connection {
    /// Connects to the host and port of `cfg`'s URL: `wss://` by TLS with
    /// ALPN `h2` (a server that does not choose `h2` is an error), `ws://`
    /// by HTTP/2 prior knowledge. Waits until the server's SETTINGS allow
    /// extended CONNECT; all within `cfg.connect_timeout`. Needs a tokio
    /// runtime: the connection runs as a task on it.
    pub async fn connect(cfg: &ClientConfig) -> Result<H2Connection, ConnectError> {
        match tokio::time::timeout(cfg.connect_timeout, Self::connect_inner(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn connect_inner(cfg: &ClientConfig) -> Result<H2Connection, ConnectError> {
        let (io, peer, h2) = dial(cfg, &[b"h2"]).await?;
        if cfg.is_secure() && !h2 {
            return Err(HandshakeError::NoH2.into());
        }
        let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(io))
            .await
            .map_err(HandshakeError::Http2)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "h2 client connection ended");
            }
        });
        let scheme = if cfg.is_secure() { "https" } else { "http" };
        let authority = cfg.url().authority();
        // The server's SETTINGS (and with them ENABLE_CONNECT_PROTOCOL)
        // arrive before its first response: ask for the headers of `/`.
        let probe = Request::builder()
            .method(Method::HEAD)
            .uri(format!("{scheme}://{authority}/"))
            .body(Empty::new())
            .map_err(HandshakeError::Request)?;
        send.ready().await.map_err(HandshakeError::Http2)?;
        send.send_request(probe)
            .await
            .map_err(HandshakeError::Http2)?;
        Ok(H2Connection {
            send,
            scheme,
            authority,
            peer,
        })
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Opens a WebSocket on this connection at `cfg`'s path, with its
    /// subprotocols, headers and permessage-deflate offers (the host and
    /// TLS settings of `cfg` are not used: the connection has them).
    pub async fn websocket(
        &self,
        cfg: &ClientConfig,
    ) -> Result<WebSocket<Transport>, ConnectError> {
        match tokio::time::timeout(cfg.connect_timeout, self.websocket_inner(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn websocket_inner(
        &self,
        cfg: &ClientConfig,
    ) -> Result<WebSocket<Transport>, ConnectError> {
        let (io, o) = self.open_stream_inner(cfg).await?;
        Ok(WebSocket::from_opened(io, o, cfg))
    }

    /// The extended CONNECT: the stream and what was negotiated.
    pub(crate) async fn open_stream(
        &self,
        cfg: &ClientConfig,
    ) -> Result<(Transport, Opened), ConnectError> {
        match tokio::time::timeout(cfg.connect_timeout, self.open_stream_inner(cfg)).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn open_stream_inner(
        &self,
        cfg: &ClientConfig,
    ) -> Result<(Transport, Opened), ConnectError> {
        let mut b = Request::builder()
            .method(Method::CONNECT)
            .uri(format!(
                "{}://{}{}",
                self.scheme,
                self.authority,
                cfg.path()
            ))
            .header("sec-websocket-version", "13");
        if !cfg.subprotocols.is_empty() {
            b = b.header("sec-websocket-protocol", cfg.subprotocols.join(", "));
        }
        if let Some(e) = extension_offer(cfg) {
            b = b.header("sec-websocket-extensions", e);
        }
        for (k, v) in &cfg.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let mut req = b.body(Empty::new()).map_err(HandshakeError::Request)?;
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let mut send = self.send.clone();
        send.ready().await.map_err(HandshakeError::Http2)?;
        let resp = send
            .send_request(req)
            .await
            .map_err(HandshakeError::Http2)?;
        if resp.status() != StatusCode::OK {
            return Err(ConnectError::Status(resp.status().as_u16()));
        }
        let h = resp.headers().clone();
        let (protocol, params) = negotiate(
            cfg,
            h.get("sec-websocket-protocol").map(|v| v.as_bytes()),
            h.get("sec-websocket-extensions").map(|v| v.as_bytes()),
        )?;
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(HandshakeError::Http2)?;
        let io = Transport::Other(Box::new(TokioIo::new(upgraded)));
        Ok((
            io,
            Opened {
                protocol,
                deflate: params,
                leftover: Vec::new(),
                headers: h,
            },
        ))
    }
}
