//! The stream an HTTP upgrade hands over, as a [`Transport`].

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::runtime::{FileSendTcp, Transport};

/// What an upgrade hands over: a transport, or TLS over TCP (which a
/// service thread's table runs through rustls directly, as it does a
/// client's [`Transport::Tls`]).
pub(crate) enum Handed {
    Io(Transport),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Handed {
    /// TLS over TCP, taken apart into the socket and the rustls connection.
    pub(crate) fn tls_parts(self) -> Result<(TcpStream, rustls::Connection), Transport> {
        match self {
            Handed::Tls(t) => {
                let (tcp, conn) = (*t).into_inner();
                Ok((tcp, rustls::Connection::Server(conn)))
            }
            Handed::Io(Transport::Tls(t)) => {
                let (tcp, conn) = (*t.0).into_inner();
                Ok((tcp, rustls::Connection::Client(conn)))
            }
            Handed::Io(io) => Err(io),
        }
    }
}

/// The stream hyper hands over after a `101 Switching Protocols` (or an
/// HTTP/2 extended CONNECT), and the bytes it had already read past the
/// request; `None` if the upgrade failed.
pub(crate) async fn upgraded(upgrade: hyper::upgrade::OnUpgrade) -> (Option<Handed>, Bytes) {
    match upgrade.await {
        Ok(up) => match up.downcast::<TokioIo<FileSendTcp>>() {
            Ok(parts) => (
                Some(Handed::Io(Transport::Tcp(
                    parts.io.into_inner().into_inner(),
                ))),
                parts.read_buf,
            ),
            Err(up) => match up.downcast::<TokioIo<tokio_rustls::server::TlsStream<TcpStream>>>() {
                Ok(parts) => (
                    Some(Handed::Tls(Box::new(parts.io.into_inner()))),
                    parts.read_buf,
                ),
                // An HTTP/2 stream: run on the upgraded stream.
                Err(up) => (
                    Some(Handed::Io(Transport::Other(Box::new(TokioIo::new(up))))),
                    Bytes::new(),
                ),
            },
        },
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            (None, Bytes::new())
        }
    }
}
