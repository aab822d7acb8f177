//! Opening one HTTP connection: the stream (through the connector, within
//! the connect timeout), then hyper's HTTP/1.1 or HTTP/2 client on it,
//! driven by a task of its own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::error::HttpError;
use super::pool::{H1Conn, H2Conn, Key, Meta};
use super::{HttpVersion, Shared};
use crate::client::connector::{self, Counters, Route, Target};
use crate::client::error::{ConnectError, HandshakeError};
use crate::client::proxy::ProxyKind;
use crate::runtime::{Kind, Tag};

/// An open connection.
pub(super) enum Opened {
    H1(H1Conn),
    H2(H2Conn),
}

/// The h2 flow-control windows: large enough that one stream fills a fast
/// link, small enough that a consumer who stops reading holds at most this
/// much per stream (and the connection window over all of them).
const STREAM_WINDOW: u32 = 2 << 20;
const CONN_WINDOW: u32 = 8 << 20;

/// The route requests to `key` take.
pub(super) fn route(key: &Key) -> Route<'_> {
    match &key.proxy {
        None => Route::Direct,
        Some(p) if p.kind() == ProxyKind::Http && !key.secure => Route::Forward(p),
        Some(p) => Route::Tunnel(p),
    }
}

pub(super) async fn open(shared: &Shared, key: &Key) -> Result<Opened, HttpError> {
    let timeout = shared.cfg.connect_timeout;
    match tokio::time::timeout(timeout, open_inner(shared, key)).await {
        Ok(r) => r,
        Err(_) => {
            Counters::bump(&shared.counters.failed);
            Err(HttpError::Connect(ConnectError::Timeout))
        }
    }
}

async fn open_inner(shared: &Shared, key: &Key) -> Result<Opened, HttpError> {
    let tls = if key.secure {
        let cfg = shared.tls_config(key.version)?;
        let name = shared.cfg.tls.server_name.as_deref().unwrap_or(&key.host);
        Some((cfg, name))
    } else {
        None
    };
    let target = Target {
        host: &key.host,
        port: key.port,
        tls,
        route: route(key),
        keepalive: shared.cfg.tcp_keepalive,
    };
    let d = connector::dial(&target, &shared.counters).await?;
    let h2 = if key.secure {
        if key.version == HttpVersion::Http2 && !d.h2 {
            return Err(HttpError::Connect(HandshakeError::NoH2.into()));
        }
        d.h2
    } else {
        key.version == HttpVersion::Http2 && matches!(route(key), Route::Direct | Route::Tunnel(_))
    };
    let meta = Meta::new(shared.pool.conn_id());
    Counters::bump(&shared.counters.opened);
    let io = TokioIo::new(d.io);
    let peer = d.peer;
    if h2 {
        let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_concurrent_reset_streams(64)
            .handshake(io)
            .await
            .map_err(|e| HttpError::Connect(HandshakeError::Http2(e).into()))?;
        let id = meta.id;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(conn = %Tag(Kind::Client, id), %peer, error = %e, "h2 client connection ended");
            }
        });
        Ok(Opened::H2(H2Conn { send, meta }))
    } else {
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(HttpError::Protocol)?;
        let id = meta.id;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(conn = %Tag(Kind::Client, id), %peer, error = %e, "h1 client connection ended");
            }
        });
        Ok(Opened::H1(H1Conn { send, meta }))
    }
}

/// How long a connection may stay idle in the pool when nobody set it.
pub(super) const KEEP_WARM: Duration = Duration::from_secs(5);

/// Records a transaction on `meta` in the client's counters; returns its
/// number on the connection.
pub(super) fn count_transaction(counters: &Counters, meta: &Arc<Meta>) -> u64 {
    let n = meta.transaction();
    Counters::bump(&counters.transactions);
    counters.max_per_connection.fetch_max(n, Ordering::Relaxed);
    n
}
