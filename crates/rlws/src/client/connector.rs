//! Opening a byte stream to a server, for WebSocket and HTTP clients alike:
//! DNS, TCP (each address in turn), a proxy tunnel, then TLS with SNI and
//! ALPN; counted in [`Counters`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::error::{ConnectError, TlsError};
use super::proxy::{Proxy, ProxyError};
use crate::runtime::{TcpKeepalive, Transport};

/// How the stream reaches the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    /// Straight to the server.
    Direct,
    /// Through a tunnel the proxy opens (`CONNECT`, SOCKS5).
    Tunnel(&'a Proxy),
    /// To an HTTP proxy that takes absolute-form requests (plain `http://`).
    Forward(&'a Proxy),
}

/// Where to connect.
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    /// TLS configuration and the SNI / certificate name, for `https`/`wss`.
    pub tls: Option<(Arc<rustls::ClientConfig>, &'a str)>,
    pub route: Route<'a>,
    /// TCP keepalive for the socket (to the server or the proxy).
    pub keepalive: Option<TcpKeepalive>,
}

/// An open stream.
pub(crate) struct Dialed {
    pub io: Transport,
    /// The address connected to (the proxy's, through a proxy).
    pub peer: SocketAddr,
    /// The server chose `h2` by ALPN.
    pub h2: bool,
}

/// What clients count (lws' client metrics).
#[derive(Debug)]
pub(crate) struct Counters {
    pub dns: AtomicU64,
    pub tcp: AtomicU64,
    pub tls: AtomicU64,
    pub resumed: AtomicU64,
    pub failed: AtomicU64,
    pub opened: AtomicU64,
    pub transactions: AtomicU64,
    pub max_per_connection: AtomicU64,
}

impl Counters {
    pub(crate) const fn new() -> Counters {
        Counters {
            dns: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
            tls: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            max_per_connection: AtomicU64::new(0),
        }
    }

    pub(crate) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Opens a stream to `t`.
pub(crate) async fn dial(t: &Target<'_>, counters: &Counters) -> Result<Dialed, ConnectError> {
    let r = dial_inner(t, counters).await;
    if r.is_err() {
        Counters::bump(&counters.failed);
    }
    r
}

async fn dial_inner(t: &Target<'_>, counters: &Counters) -> Result<Dialed, ConnectError> {
    // Check the TLS name before touching the network.
    let tls = match &t.tls {
        Some((cfg, name)) => Some((cfg.clone(), server_name(name)?)),
        None => None,
    };
    let (mut stream, peer) = match t.route {
        Route::Direct => tcp(t.host, t.port, counters).await?,
        Route::Tunnel(p) | Route::Forward(p) => tcp(p.host(), p.port(), counters)
            .await
            .map_err(|e| ConnectError::Proxy(ProxyError::Unreachable(e.to_string())))?,
    };
    if let Some(ka) = &t.keepalive {
        if let Err(e) = crate::runtime::apply_keepalive(&stream, ka) {
            tracing::debug!(%peer, error = %e, "cannot set TCP keepalive");
        }
    }
    if let Route::Tunnel(p) = t.route {
        p.tunnel(&mut stream, t.host, t.port)
            .await
            .map_err(ConnectError::Proxy)?;
    }
    Ok(match tls {
        None => Dialed {
            io: Transport::Tcp(stream),
            peer,
            h2: false,
        },
        Some((c, name)) => {
            Counters::bump(&counters.tls);
            let s = tokio_rustls::TlsConnector::from(c)
                .connect(name, stream)
                .await
                .map_err(|e| ConnectError::Tls(TlsError::handshake(e)))?;
            let conn = s.get_ref().1;
            if conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                Counters::bump(&counters.resumed);
            }
            let h2 = conn.alpn_protocol() == Some(b"h2");
            Dialed {
                io: Transport::Tls(crate::runtime::ClientTls(Box::new(s))),
                peer,
                h2,
            }
        }
    })
}

fn server_name(name: &str) -> Result<ServerName<'static>, ConnectError> {
    crate::tls::server_name(name).map_err(|e| ConnectError::Tls(TlsError::settings(e)))
}

/// Resolves `host` and connects to each address in turn.
async fn tcp(
    host: &str,
    port: u16,
    counters: &Counters,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
    Counters::bump(&counters.dns);
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| ConnectError::Dns(host.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Dns(host.to_string()));
    }
    let mut last = ConnectError::Refused;
    for a in addrs {
        Counters::bump(&counters.tcp);
        match TcpStream::connect(a).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok((s, a));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => last = ConnectError::Refused,
            Err(e) => last = ConnectError::Io(e),
        }
    }
    Err(last)
}
