//! Why connecting failed, and errors on an open WebSocket.

use std::io;

use rlws_ws::ProtocolError;

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// The host name did not resolve.
    Dns(String),
    /// The server refused the TCP connection.
    Refused,
    /// The connect timeout passed.
    Timeout,
    /// TLS failed (certificate not trusted, wrong name, no common protocol...).
    Tls(String),
    /// The server answered the upgrade with another HTTP status.
    Status(u16),
    /// The server's handshake did not match the request.
    Handshake(String),
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
            ConnectError::Status(s) => write!(f, "server answered the upgrade with HTTP {s}"),
            ConnectError::Handshake(s) => write!(f, "handshake failed: {s}"),
            ConnectError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// An error on an open WebSocket.
#[derive(Debug)]
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

impl std::error::Error for WsError {}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}
