//! Virtual hosts: several sites on shared listen sockets, chosen by TLS SNI
//! and by the `Host` header (or `:authority`), as lws does it.
//!
//! Selection for a name (SNI or Host): strip a trailing `:port`, then an
//! exact name match among the vhosts on the listening socket, then the
//! longest vhost name the name ends with after a dot (`cats.abc.com` →
//! `abc.com`), then the socket's default vhost (the first one created on it)
//! unless that vhost has `strict_host_check`, in which case the request is
//! answered `421 Misdirected Request`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderMap;

use crate::site::{header_map, Mount, MountRt, Origin, WebSocketRoute};
use crate::tls::TlsServerOptions;
use crate::ws::ErasedProtocol;

/// A virtual host: a name, where it listens, and what it serves.
///
/// Vhosts with the same listen address share one socket. On TLS sockets SNI
/// picks the vhost and its certificate before the handshake; on cleartext
/// sockets each request's `Host` does.
#[derive(Debug, Clone)]
#[doc(alias = "lws_vhost")]
pub struct Vhost {
    pub(crate) name: String,
    pub(crate) listen: SocketAddr,
    pub(crate) tls: Option<TlsServerOptions>,
    pub(crate) protocols: Option<Vec<String>>,
    /// Per-vhost protocol options (lws' pvo), by protocol name.
    pub(crate) protocol_options: Vec<(String, Vec<(String, String)>)>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) strict_host_check: bool,
    pub(crate) http2: bool,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) keepalive_timeout: Option<Duration>,
    pub(crate) error_document_404: Option<String>,
    pub(crate) access_log: Option<std::path::PathBuf>,
    /// ALPN list replacing the TLS options' own.
    pub(crate) alpn: Option<Vec<String>>,
    /// TCP keepalive for the connections it accepts (else the context's).
    pub(crate) tcp_keepalive: Option<crate::runtime::TcpKeepalive>,
    /// Every connection on its socket goes to this raw protocol.
    pub(crate) raw: Option<String>,
    pub(crate) validity: Option<crate::Validity>,
}

impl Vhost {
    /// The proof-of-life rule for WebSockets upgraded on this vhost (lws'
    /// vhost `retry_and_idle_policy`): ping after
    /// [`crate::RetryPolicy::ping_after`] without data, hang up at
    /// [`crate::RetryPolicy::hangup_after`]. It wins over the protocol's
    /// and the context's.
    #[doc(alias = "retry_and_idle_policy")]
    pub fn validity(mut self, v: impl Into<crate::Validity>) -> Self {
        self.validity = Some(v.into());
        self
    }

    /// Makes this a raw vhost (lws' raw-skt listen role): every connection
    /// accepted on its socket is run by raw protocol `protocol` (see
    /// [`crate::ContextBuilder::raw_protocol`], [`crate::RawProxy`])
    /// instead of HTTP. It must be the only vhost on its address, without
    /// TLS.
    #[doc(alias = "LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG")]
    pub fn raw(mut self, protocol: &str) -> Self {
        self.raw = Some(protocol.to_string());
        self
    }

    /// A vhost named `name` (a host name, matched case-insensitively)
    /// listening on `listen`, offering every protocol of the context and
    /// serving nothing over plain HTTP until it gets a mount (404).
    pub fn new(name: &str, listen: SocketAddr) -> Self {
        Vhost {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            listen,
            tls: None,
            protocols: None,
            protocol_options: Vec::new(),
            mounts: Vec::new(),
            headers: Vec::new(),
            strict_host_check: false,
            http2: true,
            tls_handshake_timeout: Duration::from_secs(10),
            keepalive_timeout: None,
            alpn: None,
            error_document_404: None,
            access_log: None,
            tcp_keepalive: None,
            raw: None,
            validity: None,
        }
    }

    /// TCP keepalive on the connections accepted on this vhost's socket
    /// (the socket's first vhost decides), instead of the context's
    /// [`crate::ContextBuilder::tcp_keepalive`].
    #[doc(alias = "ka_time")]
    pub fn tcp_keepalive(mut self, ka: crate::runtime::TcpKeepalive) -> Self {
        self.tcp_keepalive = Some(ka);
        self
    }

    /// Serves TLS with these settings (certificate, key, mTLS, ALPN, ciphers).
    /// All vhosts on one listen address must agree on whether it is TLS.
    pub fn tls(mut self, tls: TlsServerOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The context's protocols this vhost offers, by name; the first is the
    /// default when a client names none. Default: all, in registration order.
    pub fn protocols(mut self, names: &[&str]) -> Self {
        self.protocols = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Gives protocol `name` the option `key` = `value` on this vhost (lws'
    /// per-vhost protocol options, "pvo"; lwsws' `ws-protocols` entries):
    /// its connections here see it in [`crate::Handshake::option`].
    #[doc(alias = "lws_protocol_vhost_options")]
    pub fn protocol_option(mut self, name: &str, key: &str, value: &str) -> Self {
        match self.protocol_options.iter_mut().find(|(n, _)| n == name) {
            Some((_, opts)) => opts.push((key.into(), value.into())),
            None => self
                .protocol_options
                .push((name.into(), vec![(key.into(), value.into())])),
        }
        self
    }

    /// Runs protocol `name` for upgrades on `path` when the client names no
    /// subprotocol.
    pub fn ws_path(self, path: &str, name: &str) -> Self {
        self.mount(Mount::new(path, WebSocketRoute::new(name)))
    }

    /// What plain HTTP requests to this vhost are served from: shorthand
    /// for a mount of `origin` at `/` (replacing one there).
    pub fn site(self, origin: impl Origin) -> Self {
        self.mount(Mount::new("/", origin))
    }

    /// Adds a mount (replacing one on the same mountpoint). A vhost without
    /// mounts answers plain HTTP requests with 404 and serves only WebSocket
    /// upgrades.
    #[doc(alias = "lws_http_mount")]
    pub fn mount(mut self, m: Mount) -> Self {
        self.mounts.retain(|x| x.mountpoint != m.mountpoint);
        self.mounts.push(m);
        self
    }

    /// The address it listens on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// The ALPN protocols offered over TLS, in order (lwsws' `alpn`); HTTP/2
    /// is spoken only when the list has `h2`.
    pub fn alpn(mut self, protocols: &[String]) -> Self {
        self.http2 = protocols.iter().any(|a| a == "h2");
        self.alpn = Some(protocols.to_vec());
        self
    }

    /// How long an idle HTTP/1.1 connection is kept, and the time allowed
    /// for a request head on it (lwsws' `keepalive_timeout`). Applies to
    /// the listen socket when this is its first (default) vhost. Default:
    /// the context's [`HttpOptions::header_timeout`](crate::HttpOptions).
    pub fn keepalive_timeout(mut self, t: Duration) -> Self {
        self.keepalive_timeout = Some(t);
        self
    }

    /// Appends a line per HTTP request to this file, in the combined log
    /// format (peer, time, request line, status, size, referer, user agent),
    /// as lwsws' `access-log`. The file is opened (and created) at start.
    pub fn access_log(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.access_log = Some(path.into());
        self
    }

    /// A URL path served (with status 404) when nothing else matches, from
    /// this vhost's mounts.
    pub fn error_document_404(mut self, path: &str) -> Self {
        self.error_document_404 = Some(path.into());
        self
    }

    /// Adds a header to every HTTP response of this vhost (lwsws' `headers`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Refuses requests whose `Host` matches no vhost on this socket with
    /// `421 Misdirected Request` instead of serving them from this vhost (when
    /// it is the socket's default).
    pub fn strict_host_check(mut self, on: bool) -> Self {
        self.strict_host_check = on;
        self
    }

    /// Whether HTTP/2 is spoken (by ALPN over TLS, by prior knowledge in
    /// cleartext). Default on.
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Time allowed for a client's TLS handshake. Default 10 s.
    pub fn tls_handshake_timeout(mut self, t: Duration) -> Self {
        self.tls_handshake_timeout = t;
        self
    }

    /// The vhost's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A vhost as the service threads use it.
pub(crate) struct VhostRt {
    pub(crate) name: String,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Indices into the context's protocols; the first is the default.
    pub(crate) protocols: Vec<usize>,
    /// Per-vhost protocol options, by protocol name.
    pub(crate) protocol_options: Vec<(String, Vec<(String, String)>)>,
    /// The mount for a path is found by [`crate::site::find`].
    pub(crate) mounts: Vec<MountRt>,
    pub(crate) error_document_404: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) strict_host_check: bool,
    pub(crate) access_log: Option<std::fs::File>,
    /// Proof-of-life rule for its WebSockets.
    pub(crate) validity: Option<crate::Validity>,
}

/// A listen socket and the vhosts on it.
pub(crate) struct ListenerRt {
    /// Which listen socket: stable across reloads that keep its address.
    pub(crate) key: u32,
    pub(crate) tls: bool,
    /// Indices into the context's vhosts; the first is the default.
    pub(crate) vhosts: Vec<usize>,
    pub(crate) handshake_timeout: Duration,
    /// Idle / request-head time for HTTP/1.1 (the default vhost's setting).
    pub(crate) keepalive: Option<Duration>,
    /// HTTP/2 allowed: some vhost on the socket speaks it.
    pub(crate) http2: bool,
    /// TCP keepalive for accepted connections.
    pub(crate) tcp_keepalive: Option<crate::runtime::TcpKeepalive>,
    /// A raw socket: the raw protocol (index) every connection goes to.
    pub(crate) raw: Option<usize>,
}

/// How a name matched a vhost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// Exact name or a parent domain of it.
    Named(usize),
    /// No vhost has the name: the socket's default.
    Default(usize),
}

impl Match {
    pub(crate) fn index(self) -> usize {
        match self {
            Match::Named(i) | Match::Default(i) => i,
        }
    }
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets)
/// and without a trailing dot. Compare it ignoring ASCII case.
pub(crate) fn host_name(host: &str) -> &str {
    let h = if host.starts_with('[') {
        match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    h.trim_end_matches('.')
}

/// Picks a vhost among `candidates` (the socket's, default first) for a
/// client-given name, as the module documentation says.
pub(crate) fn select(vhosts: &[VhostRt], candidates: &[usize], name: Option<&str>) -> Match {
    let default = candidates.first().copied().unwrap_or(0);
    let Some(name) = name else {
        return Match::Default(default);
    };
    // Vhost names are stored lower-case; requests are matched without
    // allocating, ignoring ASCII case.
    let name = host_name(name).as_bytes();
    if let Some(&i) = candidates
        .iter()
        .find(|&&i| vhosts[i].name.as_bytes().eq_ignore_ascii_case(name))
    {
        return Match::Named(i);
    }
    let parent = candidates
        .iter()
        .filter(|&&i| {
            let v = vhosts[i].name.as_bytes();
            let cut = name.len().wrapping_sub(v.len());
            !v.is_empty()
                && name.len() > v.len() + 1
                && name[cut..].eq_ignore_ascii_case(v)
                && name[cut - 1] == b'.'
        })
        .max_by_key(|&&i| vhosts[i].name.len());
    match parent {
        Some(&i) => Match::Named(i),
        None => Match::Default(default),
    }
}

/// Resolves a vhost's protocol names, routes, TLS and headers.
pub(crate) fn compile(v: &Vhost, protocols: &[Arc<dyn ErasedProtocol>]) -> Result<VhostRt, String> {
    let find = |name: &str| {
        protocols
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| format!("vhost {}: no protocol named {name}", v.name))
    };
    let offered: Vec<usize> = match &v.protocols {
        Some(names) => names.iter().map(|n| find(n)).collect::<Result<_, _>>()?,
        None => (0..protocols.len()).collect(),
    };
    let mut mounts = Vec::new();
    for m in &v.mounts {
        let mut rt = MountRt::new(m, &v.name)?;
        if let Some(name) = m.origin().websocket_protocol() {
            let path = m.mountpoint();
            let i = find(name).map_err(|e| format!("{e} (ws path {path})"))?;
            if !offered.contains(&i) {
                return Err(format!(
                    "vhost {}: ws path {path} names protocol {name}, which the vhost does not offer",
                    v.name
                ));
            }
            rt.ws_protocol = Some(i);
        }
        mounts.push(rt);
    }
    let tls = match &v.tls {
        Some(o) => {
            let mut o = o.clone();
            if let Some(list) = &v.alpn {
                o.alpn = list.clone();
            }
            if !v.http2 {
                o.alpn.retain(|a| a != "h2");
            }
            Some(Arc::new(
                crate::tls::server_config(&o).map_err(|e| format!("vhost {}: {e}", v.name))?,
            ))
        }
        None => None,
    };
    Ok(VhostRt {
        name: v.name.clone(),
        tls,
        protocols: offered,
        protocol_options: v.protocol_options.clone(),
        mounts,
        error_document_404: v.error_document_404.clone(),
        headers: header_map(&v.name, &v.headers)?,
        strict_host_check: v.strict_host_check,
        validity: v.validity,
        access_log: match &v.access_log {
            Some(p) => Some(
                // Its directory too, as daemons' log files usually get.
                p.parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| {
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(p)
                    })
                    .map_err(|e| format!("vhost {}: access log {}: {e}", v.name, p.display()))?,
            ),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(name: &str) -> VhostRt {
        VhostRt {
            name: name.into(),
            tls: None,
            protocols: Vec::new(),
            protocol_options: Vec::new(),
            mounts: Vec::new(),
            error_document_404: None,
            headers: HeaderMap::new(),
            strict_host_check: false,
            access_log: None,
            validity: None,
        }
    }

    #[test]
    fn host_names_lose_port_and_dot() {
        assert_eq!(host_name("abc.com:1234"), "abc.com");
        assert!(host_name("ABC.com.").eq_ignore_ascii_case("abc.com"));
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("abc.com:x"), "abc.com:x");
    }

    #[test]
    fn exact_then_parent_then_default() {
        let v = vec![
            rt("default"),
            rt("abc.com"),
            rt("cats.abc.com"),
            rt("xyz.org"),
        ];
        let all = [0, 1, 2, 3];
        assert_eq!(select(&v, &all, Some("abc.com:1234")), Match::Named(1));
        assert_eq!(select(&v, &all, Some("cats.abc.com")), Match::Named(2));
        assert_eq!(select(&v, &all, Some("Cats.ABC.com.")), Match::Named(2));
        assert_eq!(select(&v, &all, Some("DOGS.Abc.Com")), Match::Named(1));
        assert_eq!(select(&v, &all, Some("big.cats.abc.com")), Match::Named(2));
        assert_eq!(select(&v, &all, Some("dogs.abc.com")), Match::Named(1));
        assert_eq!(select(&v, &all, Some("xabc.com")), Match::Default(0));
        assert_eq!(select(&v, &all, Some("other")), Match::Default(0));
        assert_eq!(select(&v, &all, None), Match::Default(0));
        // Only vhosts on this socket count.
        assert_eq!(select(&v, &[3, 1], Some("cats.abc.com")), Match::Named(1));
        assert_eq!(select(&v, &[3], Some("abc.com")), Match::Default(3));
    }
}
