//! The HTTP client: HTTP/1.1 and HTTP/2 over TCP or TLS, directly or
//! through a proxy, with lws' connection sharing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rlws::client::{HttpClient, Request};
//! let client = HttpClient::new();
//! let resp = client.request(Request::get("https://example.com/")?).await?;
//! println!("{} {:?}", resp.status(), resp.headers().get("content-type"));
//! let mut body = resp.into_body();
//! while let Some(piece) = body.chunk().await? {
//!     // Not reading stops the socket being read: memory stays bounded.
//!     println!("{} bytes", piece.len());
//! }
//! # Ok(()) }
//! ```
//!
//! Requests to the same endpoint (scheme, host, port, HTTP version,
//! proxy) share one connection by default (lws' `LCCSCF_PIPELINE`): over
//! HTTP/1.1 they run one after another on it, in the order they were made,
//! each request's headers sent only once the one before has completed;
//! over HTTP/2 they run at once as streams. [`Request::share`] turns it off
//! for one request. See [`HttpClient::stats`] for what was opened.

mod body;
mod connect;
mod error;
mod exchange;
mod pool;
mod request;
mod response;
mod service;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use tokio::time::Instant;

pub use body::{BodyStream, Multipart, RequestBody};
pub use error::{ErrorKind, HttpError};
pub use pool::{ConnInfo, LeaderFailure};
pub use request::Request;
pub use response::{Response, ResponseBody};
pub(crate) use service::start as start_on_thread;
pub use service::{
    Abort, BodyWriter, HttpCx, HttpHandle, HttpHandler, HttpStartError, ResponseHead,
};

use super::connector::Counters;
use super::error::{ConnectError, TlsError};
use super::proxy::Proxy;
use super::url::{Scheme, Url};
use crate::tls::TlsClientOptions;
use pool::Pool;

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpVersion {
    /// Over TLS, what the server chooses by ALPN (`h2`, `http/1.1`);
    /// HTTP/1.1 over plain TCP.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS (a server that does not choose it is
    /// an error), prior knowledge over plain TCP.
    Http2,
}

/// One step of a redirect chain, shown to a redirect hook.
#[derive(Debug)]
#[non_exhaustive]
pub struct RedirectStep<'a> {
    /// The URL that answered with a redirect.
    pub from: &'a Url,
    /// Where it points.
    pub to: &'a Url,
    /// The redirect status.
    pub status: StatusCode,
    /// Its reason phrase.
    pub reason: &'a str,
    /// The HTTP version it came over.
    pub version: http::Version,
    /// The redirect response's headers.
    pub headers: &'a http::HeaderMap,
    /// Redirects already followed before this one.
    pub followed: u32,
}

/// Decides whether to follow a redirect: false stops, and the redirect
/// response is returned as it is.
pub type RedirectHook = Arc<dyn Fn(&RedirectStep<'_>) -> bool + Send + Sync>;

/// What the client has done, as lws counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Host names looked up.
    pub dns_lookups: u64,
    /// TCP connections attempted.
    pub tcp_connects: u64,
    /// TLS handshakes started.
    pub tls_handshakes: u64,
    /// TLS handshakes that resumed an earlier session.
    pub tls_resumed: u64,
    /// Connection attempts that failed.
    pub connect_failures: u64,
    /// HTTP connections opened.
    pub connections: u64,
    /// Responses received.
    pub transactions: u64,
    /// The most transactions one connection has carried.
    pub max_transactions_per_connection: u64,
}

impl std::fmt::Display for ClientStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} transaction{} on {} connection{}",
            self.transactions,
            s(self.transactions),
            self.connections,
            s(self.connections)
        )
    }
}

#[derive(Clone)]
struct Config {
    tls: TlsClientOptions,
    connect_timeout: Duration,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_redirects: u32,
    follow: bool,
    allow_downgrade: bool,
    share: bool,
    max_connections: usize,
    keep_warm: Duration,
    proxy: Option<Proxy>,
    proxy_env: bool,
    version: HttpVersion,
    gzip: bool,
    leader_failure: LeaderFailure,
    user_agent: Option<HeaderValue>,
    redirect_hook: Option<RedirectHook>,
    tcp_keepalive: Option<crate::runtime::TcpKeepalive>,
}

/// Builds an [`HttpClient`].
#[derive(Clone)]
pub struct HttpClientBuilder {
    cfg: Config,
}

impl std::fmt::Debug for HttpClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientBuilder")
            .field("tls", &self.cfg.tls)
            .field("connect_timeout", &self.cfg.connect_timeout)
            .field("share", &self.cfg.share)
            .field("proxy", &self.cfg.proxy)
            .finish_non_exhaustive()
    }
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        HttpClientBuilder {
            cfg: Config {
                tls: TlsClientOptions::default(),
                connect_timeout: Duration::from_secs(5),
                timeout: None,
                idle_timeout: Some(Duration::from_secs(30)),
                max_redirects: 4,
                follow: true,
                allow_downgrade: false,
                share: true,
                max_connections: 1,
                keep_warm: connect::KEEP_WARM,
                proxy: None,
                proxy_env: false,
                version: HttpVersion::Auto,
                gzip: false,
                leader_failure: LeaderFailure::FailQueued,
                user_agent: Some(HeaderValue::from_static(concat!(
                    "rlws/",
                    env!("CARGO_PKG_VERSION")
                ))),
                redirect_hook: None,
                tcp_keepalive: None,
            },
        }
    }
}

impl HttpClientBuilder {
    /// TLS settings: CA certificates, client certificate, insecure mode,
    /// SNI name.
    pub fn tls(mut self, tls: TlsClientOptions) -> Self {
        self.cfg.tls = tls;
        self
    }

    /// Time allowed for DNS, TCP, proxy and TLS (default 5 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.cfg.connect_timeout = t;
        self
    }

    /// Time allowed for a whole request, redirects and body included
    /// (default: none).
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.cfg.timeout = t;
        self
    }

    /// Longest wait for the server: for the response head, and between
    /// pieces of the body while the consumer is asking for more (default
    /// 30 s; a consumer that pauses does not run this clock).
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.cfg.idle_timeout = t;
        self
    }

    /// Follow at most `n` redirects (default 4; the next is an error).
    /// 0 follows none and returns redirect responses as they are.
    pub fn redirects(mut self, n: u32) -> Self {
        self.cfg.max_redirects = n;
        self.cfg.follow = n > 0;
        self
    }

    /// Follow redirects from `https` to `http` (default: refused).
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.cfg.allow_downgrade = allow;
        self
    }

    /// Asked before each redirect is followed.
    pub fn redirect_hook(
        mut self,
        hook: impl Fn(&RedirectStep<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.cfg.redirect_hook = Some(Arc::new(hook));
        self
    }

    /// Share connections between requests to the same endpoint (default
    /// on; lws' `LCCSCF_PIPELINE`).
    pub fn share(mut self, share: bool) -> Self {
        self.cfg.share = share;
        self
    }

    /// How many HTTP/1.1 connections shared requests to one endpoint may
    /// use at once (default 1, as lws: they queue on one connection and
    /// run in order). With more, a request takes a warm connection, or
    /// opens another while fewer than `n` exist, or waits for the first
    /// to come free; order then holds per connection only. HTTP/2 always
    /// uses one connection.
    pub fn max_connections_per_endpoint(mut self, n: usize) -> Self {
        self.cfg.max_connections = n.max(1);
        self
    }

    /// How long an idle shared HTTP/1.1 connection stays open (default 5 s,
    /// lws' `keep_warm_secs`).
    pub fn keep_warm(mut self, t: Duration) -> Self {
        self.cfg.keep_warm = t;
        self
    }

    /// What requests queued on a leader that cannot connect do.
    pub fn leader_failure(mut self, f: LeaderFailure) -> Self {
        self.cfg.leader_failure = f;
        self
    }

    /// Connect through this proxy (for every URL).
    pub fn proxy(mut self, p: Option<Proxy>) -> Self {
        self.cfg.proxy = p;
        self
    }

    /// Take the proxy for each URL from `http_proxy`, `https_proxy`,
    /// `all_proxy` and `no_proxy`, as curl does ([`Proxy::from_env`]),
    /// when no proxy is set.
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.cfg.proxy_env = yes;
        self
    }

    /// TCP keepalive on every connection (default: the kernel's, off).
    #[doc(alias = "ka_time")]
    pub fn tcp_keepalive(mut self, ka: Option<crate::runtime::TcpKeepalive>) -> Self {
        self.cfg.tcp_keepalive = ka;
        self
    }

    /// The HTTP version (default: by ALPN).
    pub fn version(mut self, v: HttpVersion) -> Self {
        self.cfg.version = v;
        self
    }

    /// Ask for gzip and decode it (default off).
    pub fn gzip(mut self, yes: bool) -> Self {
        self.cfg.gzip = yes;
        self
    }

    /// The `User-Agent` sent when a request has none (default
    /// `rlws/VERSION`; `None` sends none).
    pub fn user_agent(mut self, ua: Option<&str>) -> Result<Self, HttpError> {
        self.cfg.user_agent = match ua {
            Some(s) => Some(
                HeaderValue::from_str(s)
                    .map_err(|_| HttpError::Request("bad user agent".into()))?,
            ),
            None => None,
        };
        Ok(self)
    }

    /// The client. TLS settings given explicitly (a CA, a client
    /// certificate) are checked here.
    pub fn build(self) -> Result<HttpClient, HttpError> {
        let shared = Shared {
            pool: Pool::new(
                self.cfg.max_connections,
                self.cfg.keep_warm,
                self.cfg.leader_failure,
            ),
            counters: Counters::new(),
            tls: Default::default(),
            cfg: self.cfg,
        };
        if shared.cfg.tls.ca_pem.is_some() || shared.cfg.tls.client_cert_pem.is_some() {
            shared.tls_config(shared.cfg.version)?;
        }
        Ok(HttpClient {
            shared: Arc::new(shared),
        })
    }
}

/// What the client's requests share: settings, TLS configurations (one
/// per ALPN offer, so sessions resume across connections), the pool and
/// the counters.
pub(super) struct Shared {
    cfg: Config,
    pool: Arc<Pool>,
    counters: Counters,
    tls: [OnceLock<Arc<rustls::ClientConfig>>; 3],
}

impl Shared {
    fn tls_config(&self, v: HttpVersion) -> Result<Arc<rustls::ClientConfig>, HttpError> {
        let (slot, alpn): (usize, &[&[u8]]) = match v {
            HttpVersion::Auto => (0, &[b"h2", b"http/1.1"]),
            HttpVersion::Http1 => (1, &[b"http/1.1"]),
            HttpVersion::Http2 => (2, &[b"h2"]),
        };
        if let Some(c) = self.tls[slot].get() {
            return Ok(c.clone());
        }
        let c = crate::tls::client_config(&self.cfg.tls, alpn)
            .map_err(|e| HttpError::Connect(ConnectError::Tls(TlsError::settings(e))))?;
        Ok(self.tls[slot].get_or_init(|| c).clone())
    }

    fn proxy_for(&self, url: &Url) -> Option<Proxy> {
        match (&self.cfg.proxy, self.cfg.proxy_env) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => Proxy::from_env(url),
            (None, false) => None,
        }
    }
}

/// An HTTP client. Cloning is cheap and shares connections and counters.
/// Its futures need a tokio runtime (connections run as tasks on it).
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with the defaults: platform CA roots, 5 s connect timeout,
    /// 30 s idle timeout, up to 4 redirects, shared connections kept warm
    /// 5 s, no proxy.
    pub fn new() -> HttpClient {
        // Nothing explicit to check: cannot fail.
        HttpClientBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable!("default client settings are valid"))
    }

    /// A builder for other settings.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.request(Request::get(url)?).await
    }

    /// What this client has opened and sent so far.
    pub fn stats(&self) -> ClientStats {
        let c = &self.shared.counters;
        let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            dns_lookups: g(&c.dns),
            tcp_connects: g(&c.tcp),
            tls_handshakes: g(&c.tls),
            tls_resumed: g(&c.resumed),
            connect_failures: g(&c.failed),
            connections: g(&c.opened),
            transactions: g(&c.transactions),
            max_transactions_per_connection: g(&c.max_per_connection),
        }
    }

    /// Sends `req`, following redirects as configured; resolves with the
    /// response head once it has arrived (the body is read from the
    /// [`Response`]).
    pub async fn request(&self, req: Request) -> Result<Response, HttpError> {
        if let Some(e) = req.error {
            return Err(e);
        }
        let deadline = req
            .opts
            .timeout
            .or(self.shared.cfg.timeout)
            .map(|t| Instant::now() + t);
        let fut = self.follow(req, deadline);
        match deadline {
            Some(d) => tokio::time::timeout_at(d, fut)
                .await
                .unwrap_or(Err(HttpError::Timeout)),
            None => fut.await,
        }
    }

    async fn follow(&self, req: Request, deadline: Option<Instant>) -> Result<Response, HttpError> {
        let cfg = &self.shared.cfg;
        let Request {
            mut method,
            mut url,
            mut headers,
            mut body,
            opts,
            ..
        } = req;
        let follow = opts.follow.unwrap_or(cfg.follow);
        let share = opts.share.unwrap_or(cfg.share);
        let version = opts.version.unwrap_or(cfg.version);
        let gzip = opts.gzip.unwrap_or(cfg.gzip);
        if let Some(ua) = &cfg.user_agent {
            if !headers.contains_key(header::USER_AGENT) {
                headers.insert(header::USER_AGENT, ua.clone());
            }
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        let mut followed = 0;
        loop {
            let replay = if follow { body.try_clone() } else { None };
            let out = exchange::Outgoing {
                method: method.clone(),
                url: url.clone(),
                headers: headers.clone(),
                body: std::mem::take(&mut body),
                share,
                version,
                gzip,
                deadline,
            };
            let r = exchange::run(self.shared.clone(), out).await?;
            let mut resp = Response {
                status: r.status,
                reason: r.reason,
                version: r.version,
                headers: r.headers,
                url: url.clone(),
                conn: r.conn,
                redirects: followed,
                body: r.body,
            };
            let status = resp.status;
            if !follow || !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let location = resp
                .headers
                .get(header::LOCATION)
                .ok_or_else(|| HttpError::BadRedirect(format!("{status} without Location")))?
                .to_str()
                .map_err(|_| HttpError::BadRedirect("Location is not text".into()))?;
            let next = url
                .join(location)
                .map_err(|e| HttpError::BadRedirect(e.to_string()))?;
            if !matches!(next.scheme(), Scheme::Http | Scheme::Https) {
                return Err(HttpError::BadRedirect(format!("to {next}")));
            }
            if followed >= cfg.max_redirects {
                return Err(HttpError::TooManyRedirects(followed + 1));
            }
            if url.scheme() == Scheme::Https
                && next.scheme() == Scheme::Http
                && !cfg.allow_downgrade
            {
                return Err(HttpError::Downgrade(next));
            }
            if let Some(hook) = opts.redirect_hook.as_ref().or(cfg.redirect_hook.as_ref()) {
                let step = RedirectStep {
                    from: &url,
                    to: &next,
                    status,
                    reason: resp.reason(),
                    version: resp.version,
                    headers: &resp.headers,
                    followed,
                };
                if !hook(&step) {
                    return Ok(resp);
                }
            }
            // 303, and 301/302 of a POST (as browsers and curl do), turn
            // into a GET without a body; 307/308 repeat the request.
            let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
            if to_get {
                method = Method::GET;
                body = RequestBody::empty();
                for h in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::TRANSFER_ENCODING,
                ] {
                    headers.remove(h);
                }
            } else {
                match replay {
                    Some(b) => body = b,
                    // A streamed body cannot be sent again: stop here.
                    None => return Ok(resp),
                }
            }
            if !url.same_origin(&next) {
                headers.remove(header::AUTHORIZATION);
                headers.remove(header::COOKIE);
                if next.host() != url.host() {
                    headers.remove(header::HOST);
                }
            }
            // A short body is read so that its connection can be reused.
            resp.body.drain(64 * 1024).await;
            tracing::debug!(from = %url, to = %next, %status, "following redirect");
            url = next;
            followed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_line() {
        let s = ClientStats {
            transactions: 8,
            connections: 1,
            ..Default::default()
        };
        assert_eq!(s.to_string(), "8 transactions on 1 connection");
    }
}
