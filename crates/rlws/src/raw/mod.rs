//! Raw connections (lws' raw roles): bytes in, bytes out, with the same
//! writeable and flow-control rules as WebSockets. A [`RawProtocol`] gets
//! `adopted`, `receive`, `writeable` and `closed` callbacks on the
//! connection's service thread, for sockets accepted on a raw vhost
//! ([`crate::Vhost::raw`]), raw client connections
//! ([`crate::Poster::raw_connect`]), and adopted sockets and file
//! descriptors (pipes, FIFOs, ttys: [`crate::Poster::adopt_fd`]).
//! [`RawProxy`] (lws' raw-proxy) is built in: every connection it gets is
//! piped to a fixed address.
//!
//! Imports: `runtime`.

mod cx;
mod driver;
mod fd;
mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;

pub use cx::{RawCx, RawHandle, RawWriter};
pub(crate) use fd::FdStream;
pub use proxy::RawProxy;

/// A callback returned this to close the connection (lws' "return -1").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hangup;

/// Where a raw connection's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawPeer {
    /// A TCP peer (accepted, adopted, or connected to).
    Tcp(SocketAddr),
    /// An adopted Unix socket.
    Unix,
    /// An adopted file descriptor (pipe, FIFO, tty), by number.
    Fd(i32),
}

impl std::fmt::Display for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawPeer::Tcp(a) => a.fmt(f),
            RawPeer::Unix => f.write_str("unix"),
            RawPeer::Fd(n) => write!(f, "fd {n}"),
        }
    }
}

/// Why a raw connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawClosed {
    /// The peer closed its end (end of file).
    PeerClosed,
    /// Reading or writing failed.
    Error(String),
    /// A callback returned [`Hangup`], or [`RawCx::close`] /
    /// [`RawHandle::close`] was called.
    Hangup,
    /// The deadline set with [`RawCx::set_timeout`] passed; its reason.
    Timeout(&'static str),
    /// The context is shutting down.
    Shutdown,
}

/// A raw protocol: callbacks on the connection's service thread, one at a
/// time per connection. Data goes out only from [`RawProtocol::writeable`];
/// ask for it with [`RawCx::request_writeable`] (or [`RawHandle`] from
/// another thread).
pub trait RawProtocol: Send + Sync + 'static {
    /// Per-connection state.
    type Session: 'static;

    /// The protocol's name, as vhosts and [`crate::Poster::raw_connect`]
    /// name it.
    fn name(&self) -> &str;

    /// A connection was adopted, accepted or connected (lws'
    /// `LWS_CALLBACK_RAW_ADOPT`, `RAW_CONNECTED`): returns its state, or
    /// [`Hangup`] to close it at once.
    #[doc(alias = "LWS_CALLBACK_RAW_ADOPT")]
    fn adopted(&self, cx: &mut RawCx<'_>) -> Result<Self::Session, Hangup>;

    /// Bytes arrived (`LWS_CALLBACK_RAW_RX`).
    #[doc(alias = "LWS_CALLBACK_RAW_RX")]
    fn receive(
        &self,
        cx: &mut RawCx<'_>,
        session: &mut Self::Session,
        data: &[u8],
    ) -> Result<(), Hangup>;

    /// The connection can take bytes (`LWS_CALLBACK_RAW_WRITEABLE`), once
    /// per [`RawCx::request_writeable`], only after what the last call
    /// wrote has gone to the kernel.
    #[doc(alias = "LWS_CALLBACK_RAW_WRITEABLE")]
    fn writeable(
        &self,
        cx: &mut RawCx<'_>,
        session: &mut Self::Session,
        out: &mut RawWriter<'_>,
    ) -> Result<(), Hangup> {
        let _ = (cx, session, out);
        Ok(())
    }

    /// The connection is gone (`LWS_CALLBACK_RAW_CLOSE`); the last callback.
    #[doc(alias = "LWS_CALLBACK_RAW_CLOSE")]
    fn closed(&self, session: Self::Session, why: &RawClosed) {
        let _ = (session, why);
    }

    /// A raw client connection could not be made
    /// (`LWS_CALLBACK_RAW_CONNECTED` never came).
    #[doc(alias = "LWS_CALLBACK_CLIENT_CONNECTION_ERROR")]
    fn connection_error(&self, to: SocketAddr, error: &std::io::Error) {
        let _ = (to, error);
    }
}

/// A raw protocol without its types, as the context keeps it.
pub(crate) trait ErasedRaw: Send + Sync {
    fn name(&self) -> &str;
    /// Runs a connection on the current service thread.
    fn run(self: Arc<Self>, conn: driver::RawConn);
    fn connect_failed(&self, to: SocketAddr, e: &std::io::Error);
}

struct Erased<P>(P);

impl<P: RawProtocol> ErasedRaw for Erased<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn run(self: Arc<Self>, conn: driver::RawConn) {
        driver::spawn(self, conn);
    }

    fn connect_failed(&self, to: SocketAddr, e: &std::io::Error) {
        self.0.connection_error(to, e);
    }
}

impl<P: RawProtocol> std::ops::Deref for Erased<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.0
    }
}

/// `p` as the context keeps it.
pub(crate) fn erase<P: RawProtocol>(p: P) -> Arc<dyn ErasedRaw> {
    Arc::new(Erased(p))
}

pub(crate) use driver::RawConn;
