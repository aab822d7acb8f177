//! Why connecting failed, and errors on an open WebSocket.

use std::error::Error as StdError;
use std::io;

use rlws_ws::ProtocolError;

use super::proxy::ProxyError;

/// Why a connection could not be opened (lws' CLIENT_CONNECTION_ERROR reasons).
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name did not resolve.
    Dns(String),
    /// The server refused the TCP connection.
    Refused,
    /// The connect timeout passed.
    Timeout,
    /// TLS failed: the settings, or the handshake (certificate not trusted,
    /// wrong name, no common protocol...).
    Tls(TlsError),
    /// The proxy did not open a tunnel.
    Proxy(ProxyError),
    /// The server answered the upgrade with another HTTP status.
    Status(u16),
    /// The server's handshake did not match the request.
    Handshake(HandshakeError),
    /// Another I/O error.
    Io(io::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Dns(h) => write!(f, "cannot resolve {h}"),
            ConnectError::Refused => f.write_str("connection refused"),
            ConnectError::Timeout => f.write_str("connect timed out"),
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Proxy(e) => write!(f, "{e}"),
            ConnectError::Status(s) => write!(f, "server answered the upgrade with HTTP {s}"),
            ConnectError::Handshake(e) => write!(f, "handshake failed: {e}"),
            ConnectError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ConnectError::Tls(e) => Some(e),
            ConnectError::Proxy(e) => Some(e),
            ConnectError::Handshake(e) => Some(e),
            ConnectError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A TLS failure: the rustls error when the handshake failed, or what is
/// wrong with the TLS settings.
#[derive(Debug)]
pub struct TlsError {
    what: String,
    rustls: Option<rustls::Error>,
}

impl TlsError {
    pub(crate) fn settings(what: String) -> Self {
        TlsError { what, rustls: None }
    }

    /// The same failure again (for requests that waited on the connection
    /// that had it).
    pub(crate) fn copy_of(t: &TlsError) -> Self {
        TlsError {
            what: t.what.clone(),
            rustls: t.rustls.clone(),
        }
    }

    /// From the I/O error of a failed TLS handshake.
    pub(crate) fn handshake(e: io::Error) -> Self {
        let rustls = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .cloned();
        TlsError {
            what: match &rustls {
                Some(r) => r.to_string(),
                None => e.to_string(),
            },
            rustls,
        }
    }

    /// The rustls error, when the handshake failed (e.g.
    /// `InvalidCertificate(UnknownIssuer)`).
    pub fn rustls(&self) -> Option<&rustls::Error> {
        self.rustls.as_ref()
    }
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

impl StdError for TlsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.rustls.as_ref().map(|e| e as _)
    }
}

/// How the server's answer to the opening handshake was wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A request header of the configuration cannot be sent (its name).
    InvalidHeader(String),
    /// The connection closed before the response head ended.
    Closed,
    /// The response head is larger than 16 KiB.
    HeadTooLarge,
    /// The response is not HTTP.
    Malformed,
    /// No `Upgrade: websocket` in the response.
    NoUpgrade,
    /// No `Connection: upgrade` in the response.
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Accept` does not match the key sent.
    AcceptMismatch,
    /// The server chose a subprotocol that was not offered.
    UnofferedSubprotocol(String),
    /// The server's `Sec-WebSocket-Extensions` answer fits no offer.
    Extension(&'static str),
    /// Over TLS, the server did not choose `h2` by ALPN (HTTP/2 was asked for).
    NoH2,
    /// HTTP/2 failed (the connection, the extended CONNECT, the stream).
    Http2(hyper::Error),
    /// The request could not be built from the configuration.
    Request(http::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::InvalidHeader(k) => write!(f, "invalid request header {k:?}"),
            HandshakeError::Closed => f.write_str("connection closed during the handshake"),
            HandshakeError::HeadTooLarge => f.write_str("response head too large"),
            HandshakeError::Malformed => f.write_str("malformed HTTP response"),
            HandshakeError::NoUpgrade => f.write_str("no 'Upgrade: websocket' in the response"),
            HandshakeError::NoConnectionUpgrade => {
                f.write_str("no 'Connection: upgrade' in the response")
            }
            HandshakeError::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept does not match the key")
            }
            HandshakeError::UnofferedSubprotocol(p) => {
                write!(f, "server chose subprotocol {p:?}, which was not offered")
            }
            HandshakeError::Extension(why) => write!(f, "permessage-deflate: {why}"),
            HandshakeError::NoH2 => f.write_str("the server did not choose h2 by ALPN"),
            HandshakeError::Http2(e) => write!(f, "HTTP/2: {e}"),
            HandshakeError::Request(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl StdError for HandshakeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            HandshakeError::Http2(e) => Some(e),
            HandshakeError::Request(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HandshakeError> for ConnectError {
    fn from(e: HandshakeError) -> Self {
        ConnectError::Handshake(e)
    }
}

/// An error on an open WebSocket.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsError {
    /// The peer broke the protocol; we closed with this code.
    Protocol(ProtocolError),
    /// The connection is closed; nothing more can be sent.
    Closed,
    /// An I/O error.
    Io(io::Error),
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WsError::Protocol(e) => write!(f, "protocol error: {e}"),
            WsError::Closed => f.write_str("connection closed"),
            WsError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl StdError for WsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            WsError::Protocol(e) => Some(e),
            WsError::Io(e) => Some(e),
            WsError::Closed => None,
        }
    }
}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}
