//! [`Proxy`]: reaching a server through an HTTP proxy (`CONNECT`, with
//! Basic proxy authentication) or a SOCKS5 proxy (RFC 1928, with RFC 1929
//! user/password), and which proxy the environment asks for
//! (`http_proxy`, `https_proxy`, `all_proxy`, `no_proxy`, as curl reads them).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::url::{Scheme, Url, UrlError, UrlProblem};

/// The kind of a [`Proxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// An HTTP proxy: `CONNECT` tunnels for TLS and WebSockets, absolute-form
    /// requests for plain `http://`.
    Http,
    /// A SOCKS5 proxy; host names are sent to it to resolve.
    Socks5,
}

/// A proxy to connect through.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    auth: Option<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl Proxy {
    /// Parses a proxy URL: `http://[user:pass@]host[:port]` (port 1080 when
    /// absent, as curl), `socks5://…` or `socks5h://…` (port 1080; both have
    /// the proxy resolve names), or a bare `host:port`, taken as HTTP.
    pub fn parse(s: &str) -> Result<Proxy, UrlError> {
        let (kind, rest) = match s.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => (ProxyKind::Http, rest),
                "socks5" | "socks5h" => (ProxyKind::Socks5, rest),
                other => return Err(UrlError::new(s, UrlProblem::Scheme(other.to_string()))),
            },
            None => (ProxyKind::Http, s),
        };
        let rest = rest.trim_end_matches('/');
        let u = Url::parse(&format!("http://{rest}"))
            .map_err(|e| UrlError::new(s, e.problem().clone()))?;
        if u.path() != "/" {
            return Err(UrlError::new(s, UrlProblem::Path));
        }
        let port = if rest.rsplit_once(']').map_or(rest, |(_, p)| p).contains(':') {
            u.port()
        } else {
            1080
        };
        Ok(Proxy {
            kind,
            host: u.host().to_string(),
            port,
            auth: u.user().map(|(a, b)| (a.to_string(), b.to_string())),
        })
    }

    /// An HTTP proxy at `host:port`.
    pub fn http(host: &str, port: u16) -> Proxy {
        Proxy {
            kind: ProxyKind::Http,
            host: host.to_string(),
            port,
            auth: None,
        }
    }

    /// A SOCKS5 proxy at `host:port`.
    pub fn socks5(host: &str, port: u16) -> Proxy {
        Proxy {
            kind: ProxyKind::Socks5,
            host: host.to_string(),
            port,
            auth: None,
        }
    }

    /// With a user and password (HTTP Basic for an HTTP proxy, RFC 1929 for
    /// SOCKS5).
    pub fn with_auth(mut self, user: &str, password: &str) -> Proxy {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The proxy the environment names for `url`, as curl chooses it:
    /// `http_proxy` for `http`/`ws`, `https_proxy` (or `HTTPS_PROXY`) for
    /// `https`/`wss`, else `all_proxy` (or `ALL_PROXY`); none when the host
    /// matches `no_proxy` (or `NO_PROXY`). Upper-case `HTTP_PROXY` is
    /// ignored, as curl does (CGI programs get it from a request header).
    pub fn from_env(url: &Url) -> Option<Proxy> {
        Self::from_vars(url, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub(crate) fn from_vars(url: &Url, var: impl Fn(&str) -> Option<String>) -> Option<Proxy> {
        let no_proxy = var("no_proxy").or_else(|| var("NO_PROXY"));
        if let Some(list) = no_proxy {
            if no_proxy_matches(&list, url.host()) {
                return None;
            }
        }
        let own = match url.scheme() {
            Scheme::Http | Scheme::Ws => var("http_proxy"),
            Scheme::Https | Scheme::Wss => var("https_proxy").or_else(|| var("HTTPS_PROXY")),
        };
        let v = own
            .or_else(|| var("all_proxy"))
            .or_else(|| var("ALL_PROXY"))?;
        match Proxy::parse(&v) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!("ignoring proxy from the environment: {e}");
                None
            }
        }
    }

    /// `Proxy-Authorization` for an HTTP proxy with a user.
    pub(crate) fn authorization(&self) -> Option<String> {
        let (u, p) = self.auth.as_ref()?;
        Some(basic_auth(u, p))
    }

    /// Opens a tunnel to `host:port` over `io`, a connection to this proxy.
    pub(crate) async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError> {
        match self.kind {
            ProxyKind::Http => self.http_connect(io, host, port).await,
            ProxyKind::Socks5 => self.socks5_connect(io, host, port).await,
        }
    }

    async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError> {
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(a) = self.authorization() {
            req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        req.push_str("\r\n");
        io.write_all(req.as_bytes()).await.map_err(ProxyError::Io)?;
        io.flush().await.map_err(ProxyError::Io)?;
        // Read the response head only: a byte at a time is fine for one
        // short head, and never takes bytes of the tunnel.
        let mut head = Vec::with_capacity(256);
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 16 * 1024 {
                return Err(ProxyError::Malformed);
            }
            match io.read(&mut b).await.map_err(ProxyError::Io)? {
                0 => return Err(ProxyError::Closed),
                _ => head.push(b[0]),
            }
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Err(ProxyError::Malformed),
        }
        match resp.code {
            Some(200..=299) => Ok(()),
            Some(407) => Err(ProxyError::Auth),
            Some(c) => Err(ProxyError::Status(c)),
            None => Err(ProxyError::Malformed),
        }
    }

    async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: &mut S,
        host: &str,
        port: u16,
    ) -> Result<(), ProxyError> {
        // Greeting: offer "no authentication", and user/password when we have one.
        let greeting: &[u8] = if self.auth.is_some() {
            &[5, 2, 0, 2]
        } else {
            &[5, 1, 0]
        };
        io.write_all(greeting).await.map_err(ProxyError::Io)?;
        let mut choice = [0u8; 2];
        io.read_exact(&mut choice).await.map_err(eof_closed)?;
        if choice[0] != 5 {
            return Err(ProxyError::Malformed);
        }
        match (choice[1], &self.auth) {
            (0, _) => {}
            (2, Some((u, p))) => {
                if u.len() > 255 || p.len() > 255 {
                    return Err(ProxyError::Auth);
                }
                let mut m = vec![1, u.len() as u8];
                m.extend_from_slice(u.as_bytes());
                m.push(p.len() as u8);
                m.extend_from_slice(p.as_bytes());
                io.write_all(&m).await.map_err(ProxyError::Io)?;
                let mut r = [0u8; 2];
                io.read_exact(&mut r).await.map_err(eof_closed)?;
                if r[1] != 0 {
                    return Err(ProxyError::Auth);
                }
            }
            // 0xff: none of our methods is acceptable (it wants a password).
            _ => return Err(ProxyError::Auth),
        }
        let mut req = vec![5, 1, 0];
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => {
                req.push(1);
                req.extend_from_slice(&a.octets());
            }
            Ok(std::net::IpAddr::V6(a)) => {
                req.push(4);
                req.extend_from_slice(&a.octets());
            }
            Err(_) => {
                if host.len() > 255 {
                    return Err(ProxyError::Malformed);
                }
                req.push(3);
                req.push(host.len() as u8);
                req.extend_from_slice(host.as_bytes());
            }
        }
        req.extend_from_slice(&port.to_be_bytes());
        io.write_all(&req).await.map_err(ProxyError::Io)?;
        let mut r = [0u8; 4];
        io.read_exact(&mut r).await.map_err(eof_closed)?;
        if r[0] != 5 {
            return Err(ProxyError::Malformed);
        }
        if r[1] != 0 {
            return Err(ProxyError::Socks(r[1]));
        }
        // The bound address, which we do not need.
        let rest = match r[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut l = [0u8; 1];
                io.read_exact(&mut l).await.map_err(eof_closed)?;
                l[0] as usize + 2
            }
            _ => return Err(ProxyError::Malformed),
        };
        let mut skip = [0u8; 257];
        io.read_exact(&mut skip[..rest]).await.map_err(eof_closed)?;
        Ok(())
    }
}

fn eof_closed(e: std::io::Error) -> ProxyError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        ProxyError::Closed
    } else {
        ProxyError::Io(e)
    }
}

/// HTTP Basic credentials (RFC 7617), for `Authorization` and
/// `Proxy-Authorization`.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        rlws_ws::handshake::base64_encode(format!("{user}:{password}").as_bytes())
    )
}

/// True when `host` is covered by a `no_proxy` list: `*`, an exact name or
/// address, or a domain (with or without a leading dot) it is inside.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|e| {
            if e == "*" {
                return true;
            }
            let e = e.trim_start_matches('.').to_ascii_lowercase();
            // An entry may carry a port, which curl ignores for matching.
            let e = match e.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
                    h.to_string()
                }
                _ => e,
            };
            host == e || host.ends_with(&format!(".{e}"))
        })
}

/// Why a proxy did not give us a tunnel.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy could not be reached (why).
    Unreachable(String),
    /// The proxy wants credentials, or refused the ones given (HTTP 407, or
    /// SOCKS5 authentication failed / no acceptable method).
    Auth,
    /// The HTTP proxy answered `CONNECT` with this status.
    Status(u16),
    /// The SOCKS5 proxy refused the connection with this reply code
    /// (RFC 1928 §6: 1 general failure, 2 not allowed, 3 network
    /// unreachable, 4 host unreachable, 5 refused, 6 TTL expired, ...).
    Socks(u8),
    /// The proxy closed the connection during its handshake.
    Closed,
    /// The proxy's answer was not HTTP / SOCKS5.
    Malformed,
    /// An I/O error talking to the proxy.
    Io(std::io::Error),
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::Unreachable(why) => write!(f, "cannot reach the proxy: {why}"),
            ProxyError::Auth => f.write_str("the proxy refused the credentials (or wants some)"),
            ProxyError::Status(s) => write!(f, "the proxy answered CONNECT with HTTP {s}"),
            ProxyError::Socks(c) => {
                let what = match c {
                    1 => "general failure",
                    2 => "not allowed by its rules",
                    3 => "network unreachable",
                    4 => "host unreachable",
                    5 => "connection refused",
                    6 => "TTL expired",
                    7 => "command not supported",
                    8 => "address type not supported",
                    _ => "unknown reply",
                };
                write!(f, "the SOCKS5 proxy could not connect: {what} ({c})")
            }
            ProxyError::Closed => f.write_str("the proxy closed the connection"),
            ProxyError::Malformed => f.write_str("malformed answer from the proxy"),
            ProxyError::Io(e) => write!(f, "proxy: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let p = Proxy::parse("http://u:p@127.0.0.1:3128").unwrap();
        assert_eq!(
            (p.kind(), p.host(), p.port()),
            (ProxyKind::Http, "127.0.0.1", 3128)
        );
        assert_eq!(p.authorization().unwrap(), "Basic dTpw");
        let p = Proxy::parse("socks5h://proxy.example").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5, 1080));
        let p = Proxy::parse("10.0.0.1:8080/").unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Http, 8080));
        assert_eq!(Proxy::parse("[::1]:9").unwrap().port(), 9);
        assert!(Proxy::parse("ftp://x").is_err());
        assert!(Proxy::parse("http://x/path").is_err());
        assert!(!format!("{:?}", Proxy::parse("http://u:secret@h").unwrap()).contains("secret"));
    }

    #[test]
    fn env() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let http = Url::parse("http://a.example/").unwrap();
        let https = Url::parse("https://a.example/").unwrap();
        let wss = Url::parse("wss://b.internal/").unwrap();
        let v = vars(&[("http_proxy", "h:1"), ("HTTPS_PROXY", "socks5://s:2")]);
        assert_eq!(Proxy::from_vars(&http, v).unwrap().port(), 1);
        assert_eq!(
            Proxy::from_vars(&https, v).unwrap().kind(),
            ProxyKind::Socks5
        );
        // Upper-case HTTP_PROXY is not honoured.
        assert!(Proxy::from_vars(&http, vars(&[("HTTP_PROXY", "h:1")])).is_none());
        let v = vars(&[
            ("all_proxy", "h:3"),
            ("no_proxy", "localhost, .internal,x:80"),
        ]);
        assert_eq!(Proxy::from_vars(&http, v).unwrap().port(), 3);
        assert!(Proxy::from_vars(&wss, v).is_none());
        assert!(no_proxy_matches("*", "anything"));
        assert!(no_proxy_matches("example.com", "www.example.com"));
        assert!(!no_proxy_matches("example.com", "notexample.com"));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1"));
        assert!(no_proxy_matches("x:80", "x"));
    }
}
