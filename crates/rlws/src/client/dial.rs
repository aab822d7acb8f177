//! Opening a WebSocket connection: DNS, TCP, a proxy, TLS (with ALPN),
//! then the opening handshake.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

use super::config::ClientConfig;
use super::connector::{self, Counters, Route, Target};
use super::error::{ConnectError, TlsError};
use super::h2::H2Connection;
use super::handshake::{client_handshake, Opened};
use super::websocket::WebSocket;
use crate::runtime::Transport;

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

/// What WebSocket clients have counted (not exposed: the HTTP client has
/// counters of its own).
static WS_COUNTERS: Counters = Counters::new();

/// Resolves, connects (through `cfg.proxy` if set), and for `wss://` does
/// the TLS handshake offering `alpn`; returns the stream, the peer and
/// whether the server chose `h2`.
pub(crate) async fn dial(
    cfg: &ClientConfig,
    alpn: &[&[u8]],
) -> Result<(Transport, SocketAddr, bool), ConnectError> {
    let tls = if cfg.is_secure() {
        let c = crate::tls::client_config(&cfg.tls, alpn)
            .map_err(|e| ConnectError::Tls(TlsError::settings(e)))?;
        Some((c, cfg.tls.server_name.as_deref().unwrap_or(cfg.host())))
    } else {
        None
    };
    let target = Target {
        host: cfg.host(),
        port: cfg.port(),
        tls,
        // A WebSocket always tunnels: an upgrade does not survive a
        // forwarding proxy.
        route: cfg.proxy.as_ref().map_or(Route::Direct, Route::Tunnel),
        keepalive: cfg.tcp_keepalive,
    };
    let d = connector::dial(&target, &WS_COUNTERS).await?;
    Ok((d.io, d.peer, d.h2))
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
