//! [`ClientConfig`]: the URL and everything else a connection is opened with.

use std::time::Duration;

use rlws_ws::deflate::DeflateConfig;

use crate::tls::TlsClientOptions;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) path: String,
    pub(super) secure: bool,
    /// TLS settings for `wss://` (CA, client certificate, SNI name).
    pub tls: TlsClientOptions,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers. A `Host` here replaces the one made from the
    /// URL (over HTTP/1.1).
    pub headers: Vec<(String, String)>,
    /// Time allowed for DNS, TCP connect and the opening handshake together.
    pub connect_timeout: Duration,
    /// permessage-deflate to offer; `None` offers nothing.
    pub deflate: Option<DeflateConfig>,
    /// Further permessage-deflate offers, sent after `deflate` in the same
    /// header (the server takes the first it can accept).
    pub deflate_also: Vec<DeflateConfig>,
    /// Largest message accepted (bytes, after inflating); larger closes with 1009.
    pub max_message: u64,
    /// Open the WebSocket as a stream of a new HTTP/2 connection (RFC 8441:
    /// ALPN `h2` for `wss://`, prior knowledge for `ws://`). To put several
    /// WebSockets on one connection, use [`super::H2Connection`].
    pub http2: bool,
}

/// A URL this client cannot use: the URL and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    problem: UrlProblem,
}

/// What is wrong with a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// No `scheme://`.
    NoScheme,
    /// A scheme other than `ws` or `wss`.
    Scheme(String),
    /// The host is missing, has user information, or is a malformed IPv6 literal.
    Host,
    /// The port is not a number from 0 to 65535.
    Port,
}

impl UrlError {
    fn new(url: &str, problem: UrlProblem) -> Self {
        UrlError {
            url: url.to_string(),
            problem,
        }
    }

    /// What is wrong.
    pub fn problem(&self) -> &UrlProblem {
        &self.problem
    }
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.url;
        match &self.problem {
            UrlProblem::NoScheme => write!(f, "bad WebSocket URL: {url}: no scheme"),
            UrlProblem::Scheme(s) => {
                write!(f, "bad WebSocket URL: {url}: scheme {s} is not ws or wss")
            }
            UrlProblem::Host => write!(f, "bad WebSocket URL: {url}: bad host"),
            UrlProblem::Port => write!(f, "bad WebSocket URL: {url}: bad port"),
        }
    }
}

impl std::error::Error for UrlError {}

impl ClientConfig {
    /// A configuration for `url` (`ws://` or `wss://host[:port][/path][?query]`) with
    /// defaults: no subprotocol, permessage-deflate offered, 5 s connect
    /// timeout, 16 MiB messages.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError::new(url, UrlProblem::NoScheme))?;
        let (default_port, secure) = match scheme.to_ascii_lowercase().as_str() {
            "ws" => (80, false),
            "wss" => (443, true),
            other => return Err(UrlError::new(url, UrlProblem::Scheme(other.to_string()))),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(UrlError::new(url, UrlProblem::Host));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::new(url, UrlProblem::Host))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| UrlError::new(url, UrlProblem::Port))?,
                None if after.is_empty() => default_port,
                None => return Err(UrlError::new(url, UrlProblem::Host)),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse()
                        .map_err(|_| UrlError::new(url, UrlProblem::Port))?,
                ),
                None => (authority.to_string(), default_port),
            }
        };
        Ok(ClientConfig {
            host,
            port,
            path,
            secure,
            tls: TlsClientOptions::default(),
            subprotocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            deflate: Some(DeflateConfig::default()),
            deflate_also: Vec::new(),
            max_message: 16 << 20,
            http2: false,
        })
    }

    /// Adds a subprotocol to offer.
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.subprotocols.push(name.to_string());
        self
    }

    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The host part of the URL.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request path (with query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True for `wss://`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = ClientConfig::new("ws://127.0.0.1:7681/echo?x=1").unwrap();
        assert_eq!(
            (c.host(), c.port(), c.path()),
            ("127.0.0.1", 7681, "/echo?x=1")
        );
        let c = ClientConfig::new("ws://example.com").unwrap();
        assert_eq!((c.host(), c.port(), c.path()), ("example.com", 80, "/"));
        let c = ClientConfig::new("ws://[::1]:9/a").unwrap();
        assert_eq!((c.host(), c.port(), c.path()), ("::1", 9, "/a"));
        let c = ClientConfig::new("ws://h?q").unwrap();
        assert_eq!(c.path(), "/?q");
        let c = ClientConfig::new("WSS://example.com/x").unwrap();
        assert_eq!(
            (c.host(), c.port(), c.is_secure()),
            ("example.com", 443, true)
        );
        assert!(!ClientConfig::new("ws://h/").unwrap().is_secure());
        for (bad, why) in [
            ("http://x/", UrlProblem::Scheme("http".into())),
            ("https://x/", UrlProblem::Scheme("https".into())),
            ("127.0.0.1:80", UrlProblem::NoScheme),
            ("ws://", UrlProblem::Host),
            ("wss://", UrlProblem::Host),
            ("ws://h:port/", UrlProblem::Port),
            ("ws://h:70000/", UrlProblem::Port),
            ("ws://u@h/", UrlProblem::Host),
            ("ws://[::1/", UrlProblem::Host),
        ] {
            let e = ClientConfig::new(bad).unwrap_err();
            assert_eq!(e.problem(), &why, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
