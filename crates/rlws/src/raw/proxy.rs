//! [`RawProxy`] (lws' raw-proxy): each connection it is given is piped to
//! a fixed TCP address, both ways, with flow control: a side that does
//! not read stops the other side being read (bounded buffers, no queue).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::driver::RawConn;
use super::{ErasedRaw, RawClosed};
use crate::runtime::{Kind, Tag};

/// A raw protocol that connects every connection it gets to `target` and
/// copies bytes both ways until either side closes.
#[derive(Debug, Clone)]
#[doc(alias = "raw-proxy")]
pub struct RawProxy {
    name: String,
    target: SocketAddr,
    connect_timeout: Duration,
}

impl RawProxy {
    /// A proxy named `name` (as vhosts name it) to `target`.
    pub fn new(name: &str, target: SocketAddr) -> RawProxy {
        RawProxy {
            name: name.to_string(),
            target,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// How long connecting to the target may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> RawProxy {
        self.connect_timeout = d;
        self
    }

    /// Where it connects.
    pub fn target(&self) -> SocketAddr {
        self.target
    }
}

impl ErasedRaw for RawProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(self: Arc<Self>, conn: RawConn) {
        tokio::task::spawn_local(async move {
            let RawConn {
                mut io,
                peer,
                id,
                guard,
                core,
                ..
            } = conn;
            let _guard = guard;
            let _task = core.task_guard();
            let mut closing = core.closing();
            let to = self.target;
            let onward = match tokio::time::timeout(
                self.connect_timeout,
                tokio::net::TcpStream::connect(to),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(conn = %Tag(Kind::Raw, id.get()), %peer, %to, error = %e, "raw proxy: cannot connect");
                    return;
                }
                Err(_) => {
                    tracing::info!(conn = %Tag(Kind::Raw, id.get()), %peer, %to, "raw proxy: connect timed out");
                    return;
                }
            };
            let _ = onward.set_nodelay(true);
            let mut onward = onward;
            tracing::debug!(conn = %Tag(Kind::Raw, id.get()), %peer, %to, "raw proxy connected");
            let why = tokio::select! {
                r = tokio::io::copy_bidirectional(&mut io, &mut onward) => match r {
                    Ok((up, down)) => {
                        tracing::debug!(conn = %Tag(Kind::Raw, id.get()), up, down, "raw proxy done");
                        RawClosed::PeerClosed
                    }
                    Err(e) => RawClosed::Error(e.to_string()),
                },
                _ = closing.changed() => RawClosed::Shutdown,
            };
            tracing::debug!(conn = %Tag(Kind::Raw, id.get()), %peer, ?why, "raw proxy closed");
        });
    }

    fn connect_failed(&self, to: SocketAddr, e: &std::io::Error) {
        tracing::info!(%to, error = %e, proxy = %self.name, "raw proxy: client connection failed");
    }
}
