//! The stream an HTTP upgrade hands over, as a [`Transport`].

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::runtime::{FileSendTcp, Transport};
use crate::tls::SealedStream;

/// What an upgrade hands over: a transport, or a server's TLS connection
/// (which a service thread's table carries on with the same record keys).
pub(crate) enum Handed {
    Io(Transport),
    Sealed(Box<SealedStream<TcpStream>>),
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
            Err(up) => match up.downcast::<TokioIo<SealedStream<TcpStream>>>() {
                Ok(parts) => (
                    Some(Handed::Sealed(Box::new(parts.io.into_inner()))),
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
