//! [`ClientConfig`]: the URL and everything else a connection is opened with.

use std::time::Duration;

use rlws_ws::deflate::DeflateConfig;

use super::proxy::Proxy;
use super::url::{Scheme, Url, UrlError, UrlProblem};
use crate::tls::TlsClientOptions;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(super) url: Url,
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
    /// A proxy to connect through (HTTP `CONNECT` or SOCKS5); `None`
    /// connects directly. [`Proxy::from_env`] reads the one the
    /// environment names.
    pub proxy: Option<Proxy>,
    /// TCP keepalive on the socket; `None`: the kernel's default (off).
    pub tcp_keepalive: Option<crate::runtime::TcpKeepalive>,
    /// Open the WebSocket as a stream of a new HTTP/2 connection (RFC 8441:
    /// ALPN `h2` for `wss://`, prior knowledge for `ws://`). To put several
    /// WebSockets on one connection, use [`super::H2Connection`].
    pub http2: bool,
    /// Keep the connection up (lws' nailed-up client connections): after
    /// each failure, and each close by the peer, the network or a timeout,
    /// it is opened again, with the same id and callbacks, waiting this
    /// policy's delays (the count restarts after an established
    /// connection), until the policy gives up, a callback of its own closes
    /// it (returns `Err(Close)`), or the context shuts down. `None` (the
    /// default): one attempt.
    #[doc(alias = "LCCSCF_NAILED_UP")]
    pub retry: Option<crate::RetryPolicy>,
    /// Proof-of-life rule for this connection (lws' retry policy's
    /// `secs_since_valid_ping`/`_hangup`); `None`: its protocol's, else the
    /// context's.
    pub validity: Option<crate::Validity>,
}

impl ClientConfig {
    /// A configuration for `url` (`ws://` or `wss://host[:port][/path][?query]`) with
    /// defaults: no subprotocol, permessage-deflate offered, 5 s connect
    /// timeout, 16 MiB messages.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        let parsed = Url::parse(url)?;
        if !matches!(parsed.scheme(), Scheme::Ws | Scheme::Wss) {
            let scheme = parsed.scheme().as_str().to_string();
            return Err(UrlError::new(url, UrlProblem::Scheme(scheme)));
        }
        if parsed.user().is_some() {
            return Err(UrlError::new(url, UrlProblem::Host));
        }
        Ok(ClientConfig {
            url: parsed,
            tls: TlsClientOptions::default(),
            subprotocols: Vec::new(),
            headers: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            deflate: Some(DeflateConfig::default()),
            deflate_also: Vec::new(),
            max_message: 16 << 20,
            proxy: None,
            tcp_keepalive: None,
            http2: false,
            retry: None,
            validity: None,
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

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host part of the URL.
    pub fn host(&self) -> &str {
        self.url.host()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.url.port()
    }

    /// The request path (with query).
    pub fn path(&self) -> &str {
        self.url.path()
    }

    /// True for `wss://`.
    pub fn is_secure(&self) -> bool {
        self.url.scheme().is_secure()
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
            ("ftp://x/", UrlProblem::Scheme("ftp".into())),
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
