//! [`HttpError`]: why a request failed, with a coarse [`ErrorKind`] for
//! callers that only branch on the reason (and for `rlws client`'s exit
//! codes).

use std::error::Error as StdError;

use crate::client::error::{ConnectError, TlsError};
use crate::client::proxy::ProxyError;
use crate::client::url::{Url, UrlError};

/// Why a request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL cannot be used.
    Url(UrlError),
    /// The request cannot be sent as built (a header value with a line
    /// break, say).
    Request(String),
    /// Opening the connection failed: DNS, refused, connect timeout, TLS,
    /// proxy.
    Connect(ConnectError),
    /// The connection this request was queued on failed to open; the
    /// error is the leader's.
    Leader(Box<HttpError>),
    /// No response, or no more of the body, within the idle timeout, or
    /// the whole request took longer than its timeout.
    Timeout,
    /// More redirects than allowed (the count followed).
    TooManyRedirects(u32),
    /// A redirect status without a usable `Location`.
    BadRedirect(String),
    /// A redirect from `https` to `http`, not allowed.
    Downgrade(Url),
    /// The server broke HTTP, closed the connection before the response
    /// ended, or reset the stream.
    Protocol(hyper::Error),
    /// Reading the response body failed.
    Body(hyper::Error),
    /// The request body could not be read (a file, a stream).
    RequestBody(std::io::Error),
    /// The gzip-encoded body is corrupt.
    Decode(std::io::Error),
}

/// The reason of an [`HttpError`], coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A bad URL or request.
    Request,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused.
    Refused,
    /// A connect, idle or overall timeout.
    Timeout,
    /// TLS failed (settings, certificate, handshake).
    Tls,
    /// The proxy failed.
    Proxy,
    /// Redirects: too many, no `Location`, a downgrade.
    Redirect,
    /// The server broke the protocol or went away mid-response.
    Protocol,
    /// Another I/O error (a request body file, a socket).
    Io,
}

impl HttpError {
    /// The coarse reason.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HttpError::Url(_) | HttpError::Request(_) => ErrorKind::Request,
            HttpError::Connect(c) => match c {
                ConnectError::Dns(_) => ErrorKind::Dns,
                ConnectError::Refused => ErrorKind::Refused,
                ConnectError::Timeout => ErrorKind::Timeout,
                ConnectError::Tls(_) => ErrorKind::Tls,
                ConnectError::Proxy(_) => ErrorKind::Proxy,
                ConnectError::Status(_) | ConnectError::Handshake(_) => ErrorKind::Protocol,
                _ => ErrorKind::Io,
            },
            HttpError::Leader(e) => e.kind(),
            HttpError::Timeout => ErrorKind::Timeout,
            HttpError::TooManyRedirects(_)
            | HttpError::BadRedirect(_)
            | HttpError::Downgrade(_) => ErrorKind::Redirect,
            HttpError::Protocol(e) | HttpError::Body(e) => {
                if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Protocol
                }
            }
            HttpError::RequestBody(_) => ErrorKind::Io,
            HttpError::Decode(_) => ErrorKind::Protocol,
        }
    }

    /// A copy for each request queued on a leader that failed to connect
    /// (the original is not `Clone`: it holds I/O and TLS errors).
    pub(crate) fn for_queued(&self) -> HttpError {
        HttpError::Leader(Box::new(match self {
            HttpError::Leader(e) => return e.for_queued(),
            HttpError::Connect(c) => HttpError::Connect(match c {
                ConnectError::Dns(h) => ConnectError::Dns(h.clone()),
                ConnectError::Refused => ConnectError::Refused,
                ConnectError::Timeout => ConnectError::Timeout,
                // The same kind, with the leader's words.
                ConnectError::Tls(t) => ConnectError::Tls(TlsError::copy_of(t)),
                ConnectError::Proxy(p) => {
                    ConnectError::Proxy(ProxyError::Unreachable(p.to_string()))
                }
                other => ConnectError::Io(std::io::Error::other(other.to_string())),
            }),
            HttpError::Timeout => HttpError::Timeout,
            other => HttpError::Request(other.to_string()),
        }))
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Url(e) => write!(f, "{e}"),
            HttpError::Request(e) => write!(f, "invalid request: {e}"),
            HttpError::Connect(e) => write!(f, "{e}"),
            HttpError::Leader(e) => {
                write!(f, "{e} (the shared connection this request waited for)")
            }
            HttpError::Timeout => f.write_str("timed out waiting for the server"),
            HttpError::TooManyRedirects(n) => write!(f, "too many redirects ({n})"),
            HttpError::BadRedirect(why) => write!(f, "bad redirect: {why}"),
            HttpError::Downgrade(u) => write!(f, "redirect from https to {u} refused"),
            HttpError::Protocol(e) => write!(f, "{e}"),
            HttpError::Body(e) => write!(f, "reading the response body: {e}"),
            HttpError::RequestBody(e) => write!(f, "reading the request body: {e}"),
            HttpError::Decode(e) => write!(f, "gzip body: {e}"),
        }
    }
}

impl StdError for HttpError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            HttpError::Url(e) => Some(e),
            HttpError::Connect(e) => Some(e),
            HttpError::Leader(e) => Some(e),
            HttpError::Protocol(e) | HttpError::Body(e) => Some(e),
            HttpError::RequestBody(e) | HttpError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<UrlError> for HttpError {
    fn from(e: UrlError) -> Self {
        HttpError::Url(e)
    }
}

impl From<ConnectError> for HttpError {
    fn from(e: ConnectError) -> Self {
        HttpError::Connect(e)
    }
}
