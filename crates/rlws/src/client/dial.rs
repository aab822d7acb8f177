//! Opening a connection: DNS, TCP, TLS (with ALPN), then the opening handshake.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::config::ClientConfig;
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

/// Resolves, connects, and for `wss://` does the TLS handshake offering
/// `alpn`; returns the stream, the peer and whether the server chose `h2`.
pub(crate) async fn dial(
    cfg: &ClientConfig,
    alpn: &[&[u8]],
) -> Result<(Transport, SocketAddr, bool), ConnectError> {
    // Check the TLS settings before touching the network.
    let tls = if cfg.secure {
        let c = crate::tls::client_config(&cfg.tls, alpn)
            .map_err(|e| ConnectError::Tls(TlsError::settings(e)))?;
        let name = cfg.tls.server_name.as_deref().unwrap_or(&cfg.host);
        Some((
            c,
            crate::tls::server_name(name).map_err(|e| ConnectError::Tls(TlsError::settings(e)))?,
        ))
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
                .map_err(|e| ConnectError::Tls(TlsError::handshake(e)))?;
            let h2 = s.get_ref().1.alpn_protocol() == Some(b"h2");
            (Transport::Other(Box::new(s)), peer, h2)
        }
    })
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
