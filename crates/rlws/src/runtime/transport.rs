//! The byte stream under a WebSocket connection: a plain TCP socket (the
//! fast path, with direct vectored writes), TLS over TCP as rlws' client
//! opens it, or anything else that is `AsyncRead + AsyncWrite` (an HTTP/2
//! stream, a test pipe).

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A byte stream a connection can run on (`Send`, so client connections can
/// move between the threads of a multi-threaded runtime).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// The transport of one connection.
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP, as rlws' client opens it (on a service thread, its
    /// WebSocket runs as a record under the thread's poller).
    Tls(ClientTls),
    /// Anything else: TLS of your own, an HTTP/2 stream, a test pipe.
    Other(Box<dyn Stream>),
}

/// A TLS client connection over TCP whose handshake rlws did (made by
/// rlws' client only).
pub struct ClientTls(pub(crate) Box<tokio_rustls::client::TlsStream<TcpStream>>);

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            Transport::Tls(t) => f.debug_tuple("Tls").field(t.0.get_ref().0).finish(),
            Transport::Other(_) => f.write_str("Other(..)"),
        }
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClientTls")
            .field(self.0.get_ref().0)
            .finish()
    }
}

impl Transport {
    /// The TCP socket, when frames can be written to it directly.
    pub(crate) fn direct(&self) -> Option<&TcpStream> {
        match self {
            Transport::Tcp(s) => Some(s),
            Transport::Tls(_) | Transport::Other(_) => None,
        }
    }

    pub(crate) fn set_nodelay(&self) {
        match self {
            Transport::Tcp(s) => {
                let _ = s.set_nodelay(true);
            }
            Transport::Tls(t) => {
                let _ = t.0.get_ref().0.set_nodelay(true);
            }
            Transport::Other(_) => {}
        }
    }

    /// True when written bytes may sit in the transport until flushed (TLS).
    pub(crate) fn buffers_writes(&self) -> bool {
        !matches!(self, Transport::Tcp(_))
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(t) => Pin::new(t.0.as_mut()).poll_read(cx, buf),
            Transport::Other(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(t) => Pin::new(t.0.as_mut()).poll_write(cx, buf),
            Transport::Other(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Transport::Tls(t) => Pin::new(t.0.as_mut()).poll_write_vectored(cx, bufs),
            Transport::Other(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::Tls(t) => t.0.is_write_vectored(),
            Transport::Other(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(t) => Pin::new(t.0.as_mut()).poll_flush(cx),
            Transport::Other(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(t) => Pin::new(t.0.as_mut()).poll_shutdown(cx),
            Transport::Other(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
