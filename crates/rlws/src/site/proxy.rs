//! Reverse proxy (lwsws' `http://`, `https://` and `unix:` origins): each
//! request under the mount goes on to a backend, request and response
//! streaming both ways; WebSocket upgrades become a tunnel.

use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

use super::activity::Activity;
use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{text, Body};
use crate::client::{ErrorKind, HttpClient, HttpError, RequestBody};
use crate::runtime::LiveGuard;
use crate::tls::TlsClientOptions;

/// Where a [`ReverseProxy`] sends requests.
#[derive(Debug, Clone)]
enum Backend {
    Tcp {
        https: bool,
        host: String,
        port: u16,
    },
    Unix(PathBuf),
}

/// A reverse proxy to one backend (lwsws' `http://` / `https://` /
/// `unix:` origins, lws' `LWSMPRO_HTTP(S)`).
///
/// * The request goes to the backend's base path followed by the path below
///   the mountpoint and the query; method, body (streamed, at the pace the
///   backend reads it) and end-to-end headers as they came. `Host` stays the
///   client's; `X-Forwarded-For` gets the client's address appended,
///   `X-Forwarded-Proto` and `X-Forwarded-Host` say how it was asked.
///   Hop-by-hop fields (RFC 9110 §7.6.1: `Connection` and those it names,
///   `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`,
///   `ReverseProxy-*`) stop here, both ways.
/// * The response streams back at the pace the client reads; HTTP/2 clients
///   can be in front of HTTP/1.1 backends and the other way round.
/// * Connections to TCP backends are kept and reused (HTTP/1.1 one request
///   at a time each, h2 streams on one connection), through rlws'
///   [`HttpClient`]; to Unix-socket backends too, up to 16 (busy or idle)
///   per socket and service thread.
/// * A WebSocket upgrade (HTTP/1.1, or an HTTP/2 extended CONNECT) is
///   asked of the backend over HTTP/1.1; when it agrees, the two
///   connections are joined and bytes flow both ways until either closes.
/// * A backend that cannot be reached answers `503`, one that fails or
///   answers nonsense `502`, one that does not answer within the timeout
///   (default 30 s, for the response head and between body pieces) `504`;
///   each with a body saying so.
#[derive(Debug, Clone)]
#[doc(alias = "LWSMPRO_HTTP")]
#[doc(alias = "LWSMPRO_HTTPS")]
pub struct ReverseProxy {
    backend: Backend,
    /// The backend's path prefix, without a trailing `/` (empty for `/`).
    base: String,
    timeout: Duration,
    tunnel_idle: Duration,
    tls: Arc<TlsClientOptions>,
    client: HttpClient,
}

/// A [`ReverseProxy`] origin that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseProxyError(String);

impl std::fmt::Display for ReverseProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReverseProxyError {}

impl ReverseProxy {
    /// A proxy to `origin`: `http://host[:port][/base]`,
    /// `https://host[:port][/base]` or `unix:/path/to/socket[:/base]`.
    pub fn new(origin: &str) -> Result<ReverseProxy, ReverseProxyError> {
        let bad = |why: &str| ReverseProxyError(format!("\"{origin}\": {why}"));
        let (backend, base) = if let Some(rest) = origin.strip_prefix("unix:") {
            let (path, base) = match rest.split_once(":/") {
                Some((p, b)) => (p, format!("/{b}")),
                None => (rest, String::new()),
            };
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute"));
            }
            (Backend::Unix(PathBuf::from(path)), base)
        } else {
            let uri: Uri = origin
                .parse()
                .map_err(|e| bad(&format!("not a URL ({e})")))?;
            let https = match uri.scheme_str() {
                Some("http") => false,
                Some("https") => true,
                _ => return Err(bad("the scheme must be http, https or unix")),
            };
            let host = uri.host().ok_or_else(|| bad("no host"))?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            if uri.query().is_some() {
                return Err(bad("a backend URL takes no query"));
            }
            (Backend::Tcp { https, host, port }, uri.path().to_string())
        };
        let base = base.trim_end_matches('/').to_string();
        let mut p = ReverseProxy {
            backend,
            base,
            timeout: Duration::from_secs(30),
            tunnel_idle: Duration::from_secs(300),
            tls: Arc::default(),
            client: HttpClient::new(),
        };
        p.client = p.build_client()?;
        Ok(p)
    }

    /// TLS settings for an `https://` backend (its CA, a client
    /// certificate); default: the system's roots.
    pub fn tls(mut self, tls: TlsClientOptions) -> Result<Self, ReverseProxyError> {
        self.tls = Arc::new(tls);
        self.client = self.build_client()?;
        Ok(self)
    }

    /// How long the backend may take to answer, and to send each next
    /// piece of its body (default 30 s): past it, `504` or a cut-off body.
    pub fn timeout(mut self, t: Duration) -> Result<Self, ReverseProxyError> {
        self.timeout = t;
        self.client = self.build_client()?;
        Ok(self)
    }

    /// How long a WebSocket tunnel may carry nothing either way before it
    /// is closed (default 300 s, lws' validity hang-up time).
    pub fn tunnel_idle(mut self, t: Duration) -> Self {
        self.tunnel_idle = t;
        self
    }

    fn build_client(&self) -> Result<HttpClient, ReverseProxyError> {
        HttpClient::builder()
            .tls((*self.tls).clone())
            .redirects(0)
            .gzip(false)
            .user_agent(None)
            .and_then(|b| {
                // The proxy keeps its own clocks: for the head from the end
                // of the request body, for the body between its pieces.
                b.connect_timeout(self.timeout).idle_timeout(None).build()
            })
            .map_err(|e| ReverseProxyError(e.to_string()))
    }

    /// The backend's URL for a request path below the mountpoint.
    fn target_path(&self, rest: &str, query: Option<&str>) -> String {
        let mut p = format!("{}{}", self.base, rest);
        if p.is_empty() {
            p.push('/');
        }
        if let Some(q) = query {
            p.push('?');
            p.push_str(q);
        }
        p
    }

    async fn forward(&self, req: OriginRequest<'_>) -> Response<Body> {
        let path = self.target_path(req.path_in_mount(), req.request().uri().query());
        let peer = req.peer();
        let tls = req.is_tls();
        let guard = req.live_guard();
        let mut request = req.into_request();
        let headers = forward_headers(&request, peer, tls);
        if is_websocket(&request) {
            return self.tunnel(&mut request, path, headers, guard).await;
        }
        if request.method() == Method::CONNECT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not proxied");
        }
        let (parts, body) = request.into_parts();
        // The clock for the backend's answer starts when the request body
        // has gone: an upload may take longer than the timeout.
        // Until then, the upload itself may not stall for longer.
        let sent = Arc::new(tokio::sync::Notify::new());
        let moved = Activity::new();
        let upload = Arc::new(std::sync::Mutex::new(None));
        let body = if body.is_end_stream() {
            sent.notify_one();
            body
        } else {
            *upload.lock().unwrap_or_else(|e| e.into_inner()) = Some(body);
            Watched {
                inner: upload.clone(),
                done: Some(sent.clone()),
                moved: moved.clone(),
            }
            .boxed_unsync()
        };
        let head = async {
            match &self.backend {
                Backend::Tcp { https, host, port } => {
                    let scheme = if *https { "https" } else { "http" };
                    let url = format!("{scheme}://{}{path}", authority(host, *port));
                    self.over_client(&url, parts.method, headers, body).await
                }
                Backend::Unix(sock) => {
                    super::proxy_unix::request(sock, parts.method, &path, headers, body).await
                }
            }
        };
        let clock = async {
            loop {
                let last = moved.last();
                let until = moved.quiet_until(self.timeout);
                tokio::select! {
                    _ = sent.notified() => {
                        tokio::time::sleep(self.timeout).await;
                        return;
                    }
                    _ = tokio::time::sleep_until(until) => {
                        if moved.last() == last {
                            // Nothing of the upload went for the whole time.
                            return;
                        }
                    }
                }
            }
        };
        let answer = tokio::select! {
            r = head => r,
            _ = clock => {
                // What is left of the upload goes: nobody will read it.
                let left = upload.lock().ok().and_then(|mut g| g.take());
                drop(left);
                Err(Failure::Timeout)
            }
        };
        match answer {
            Ok(r) => r.map(|b| Idle::new(b, self.timeout).boxed_unsync()),
            Err(e) => e.answer(&self.describe()),
        }
    }

    async fn over_client(
        &self,
        url: &str,
        method: Method,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response<Body>, Failure> {
        let len = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = if body.is_end_stream() && len.unwrap_or(0) == 0 {
            RequestBody::empty()
        } else {
            RequestBody::stream(Box::pin(BodyPieces(body)), len)
        };
        let mut req = crate::client::Request::new(method, url)
            .map_err(|e| Failure::Broken(format!("bad backend URL: {e}")))?;
        for (k, v) in &headers {
            req = req.header_value(k.clone(), v.clone());
        }
        let resp = self
            .client
            .request(req.body(body).follow_redirects(false))
            .await
            .map_err(|e| Failure::from(&e))?;
        let status = resp.status();
        let mut out_headers = resp.headers().clone();
        strip_hop_by_hop(&mut out_headers);
        let body = resp
            .into_body()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed_unsync();
        let mut r = Response::new(body);
        *r.status_mut() = status;
        *r.headers_mut() = out_headers;
        Ok(r)
    }

    /// A WebSocket upgrade: asked of the backend over HTTP/1.1, and the
    /// two connections joined when it agrees.
    async fn tunnel(
        &self,
        request: &mut Request<Body>,
        path: String,
        mut headers: HeaderMap,
        guard: Option<Rc<LiveGuard>>,
    ) -> Response<Body> {
        let h2 = request.version() == Version::HTTP_2;
        // Over h2 (RFC 8441) there is no key: the backend gets one of ours.
        let key = if h2 {
            let k = rlws_ws::handshake::new_key();
            headers.insert(
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_str(&k).unwrap_or(HeaderValue::from_static("")),
            );
            Some(k)
        } else {
            None
        };
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        let io = match self.dial().await {
            Ok(io) => io,
            Err(e) => return e.answer(&self.describe()),
        };
        let handshake = hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io));
        let (mut send, conn) = match handshake.await {
            Ok(x) => x,
            Err(e) => return Failure::Broken(e.to_string()).answer(&self.describe()),
        };
        tokio::task::spawn_local(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut breq = Request::new(http_body_util::Empty::<Bytes>::new());
        *breq.uri_mut() = match path.parse() {
            Ok(u) => u,
            Err(_) => return text(StatusCode::BAD_REQUEST, "bad path"),
        };
        *breq.headers_mut() = headers;
        let sent = tokio::time::timeout(self.timeout, send.send_request(breq)).await;
        let mut bresp = match sent {
            Err(_) => return Failure::Timeout.answer(&self.describe()),
            Ok(Err(e)) => return Failure::Broken(e.to_string()).answer(&self.describe()),
            Ok(Ok(r)) => r,
        };
        if bresp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // The backend said no: its answer goes back as it is.
            let status = bresp.status();
            let mut h = std::mem::take(bresp.headers_mut());
            strip_hop_by_hop(&mut h);
            let body = bresp.into_body().map_err(std::io::Error::other);
            let body = Idle::new(body.boxed_unsync(), self.timeout);
            let mut r = Response::new(body.boxed_unsync());
            *r.status_mut() = status;
            *r.headers_mut() = h;
            return r;
        }
        if let Some(k) = &key {
            let want = rlws_ws::handshake::accept_key(k.as_bytes());
            let got = bresp.headers().get(header::SEC_WEBSOCKET_ACCEPT);
            if got.is_none_or(|g| g.as_bytes() != want.as_bytes()) {
                return Failure::Broken("wrong Sec-WebSocket-Accept".into())
                    .answer(&self.describe());
            }
        }
        let backend_side = hyper::upgrade::on(&mut bresp);
        let client_side = hyper::upgrade::on(&mut *request);
        let idle = self.tunnel_idle;
        tokio::task::spawn_local(async move {
            // The tunnel counts as a connection of the thread while it lives.
            let _guard = guard;
            let (Ok(a), Ok(b)) = (client_side.await, backend_side.await) else {
                return;
            };
            pump(TokioIo::new(a), TokioIo::new(b), idle).await;
        });
        let mut r = Response::new(super::response::empty());
        // RFC 8441: over h2 a 200 opens the stream's tunnel.
        *r.status_mut() = if h2 {
            StatusCode::OK
        } else {
            StatusCode::SWITCHING_PROTOCOLS
        };
        let h = r.headers_mut();
        for name in [
            header::SEC_WEBSOCKET_PROTOCOL,
            header::SEC_WEBSOCKET_EXTENSIONS,
            header::SET_COOKIE,
        ] {
            for v in bresp.headers().get_all(&name) {
                h.append(name.clone(), v.clone());
            }
        }
        if !h2 {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            if let Some(a) = bresp.headers().get(header::SEC_WEBSOCKET_ACCEPT) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, a.clone());
            }
        }
        r
    }

    /// A connection of its own to the backend.
    async fn dial(&self) -> Result<crate::runtime::Transport, Failure> {
        let connect = async {
            match &self.backend {
                Backend::Unix(p) => tokio::net::UnixStream::connect(p)
                    .await
                    .map(|s| crate::runtime::Transport::Other(Box::new(s)))
                    .map_err(|e| Failure::Unreachable(e.to_string())),
                Backend::Tcp { https, host, port } => {
                    let tls = if *https {
                        let cfg = crate::tls::client_config(&self.tls, &[b"http/1.1"])
                            .map_err(Failure::Broken)?;
                        let name = self.tls.server_name.as_deref().unwrap_or(host);
                        Some((cfg, name))
                    } else {
                        None
                    };
                    let t = crate::client::connector::Target {
                        host,
                        port: *port,
                        tls,
                        route: crate::client::connector::Route::Direct,
                        keepalive: None,
                    };
                    static COUNTERS: crate::client::connector::Counters =
                        crate::client::connector::Counters::new();
                    crate::client::connector::dial(&t, &COUNTERS)
                        .await
                        .map(|d| d.io)
                        .map_err(|e| Failure::from(&HttpError::Connect(e)))
                }
            }
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Timeout),
        }
    }

    fn describe(&self) -> String {
        match &self.backend {
            Backend::Tcp { https, host, port } => format!(
                "{}://{}{}",
                if *https { "https" } else { "http" },
                authority(host, *port),
                self.base
            ),
            Backend::Unix(p) => format!("unix:{}", p.display()),
        }
    }
}

impl Origin for ReverseProxy {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        Box::pin(self.forward(req))
    }

    fn handles_upgrades(&self) -> bool {
        true
    }
}

/// `host:port`, with IPv6 addresses bracketed.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn is_websocket(r: &Request<Body>) -> bool {
    // Over HTTP/1.1 only a GET of HTTP/1.1 can be upgraded (RFC 6455 §4.1).
    super::ws_route::asks_websocket(r)
        && (r.version() == Version::HTTP_2
            || (r.method() == Method::GET && r.version() == Version::HTTP_11))
}

/// Fields that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::PROXY_AUTHENTICATE,
];

/// Removes hop-by-hop fields, and those `Connection` names.
pub(super) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in named.iter().chain(HOP_BY_HOP) {
        h.remove(n);
    }
    for n in ["keep-alive", "proxy-connection"] {
        h.remove(n);
    }
}

/// The request's headers as the backend gets them.
fn forward_headers(r: &Request<Body>, peer: std::net::SocketAddr, tls: bool) -> HeaderMap {
    let mut h = r.headers().clone();
    strip_hop_by_hop(&mut h);
    // The name the vhost was chosen by: the request target's authority
    // (HTTP/2's `:authority`, an absolute-form target) before `Host`; one
    // value only.
    let host = r
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .or_else(|| h.get(header::HOST).cloned());
    h.remove(header::HOST);
    if let Some(host) = &host {
        h.insert(header::HOST, host.clone());
        h.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    // HTTP/2 may split cookies into several fields; HTTP/1.1 wants one
    // (RFC 9113 §8.2.3).
    if h.get_all(header::COOKIE).iter().count() > 1 {
        let joined: Vec<u8> = h
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.as_bytes())
            .collect::<Vec<_>>()
            .join(&b"; "[..]);
        if let Ok(v) = HeaderValue::from_bytes(&joined) {
            h.insert(header::COOKIE, v);
        }
    }
    let ip = peer.ip().to_string();
    let xff = match h.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        h.insert(HeaderName::from_static("x-forwarded-for"), v);
    }
    h.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if r.version() == Version::HTTP_2 {
        // h2 has no Sec-WebSocket-Key / Version to strip, but h1 needs the version.
        if is_websocket(r) && !h.contains_key(header::SEC_WEBSOCKET_VERSION) {
            h.insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
    }
    h
}

/// Why the backend gave no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// It could not be reached: `503`.
    Unreachable(String),
    /// It did not answer in time: `504`.
    Timeout,
    /// It failed or broke the protocol: `502`.
    Broken(String),
}

impl From<&HttpError> for Failure {
    fn from(e: &HttpError) -> Failure {
        match e.kind() {
            ErrorKind::Refused | ErrorKind::Dns => Failure::Unreachable(e.to_string()),
            ErrorKind::Timeout => Failure::Timeout,
            _ => Failure::Broken(e.to_string()),
        }
    }
}

impl Failure {
    fn answer(&self, backend: &str) -> Response<Body> {
        let (status, msg) = match self {
            Failure::Unreachable(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("backend {backend} unreachable: {e}"),
            ),
            Failure::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                format!("backend {backend} did not answer in time"),
            ),
            Failure::Broken(e) => (
                StatusCode::BAD_GATEWAY,
                format!("backend {backend} failed: {e}"),
            ),
        };
        tracing::warn!(target: "rlws::proxy", status = status.as_u16(), "{msg}");
        text(status, &msg)
    }
}

/// A request body as the stream of pieces the HTTP client sends.
struct BodyPieces(Body);

impl futures_core::Stream for BodyPieces {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let frame = match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(f))) => f,
            };
            // Trailers are not forwarded.
            if let Ok(d) = frame.into_data() {
                return Poll::Ready(Some(Ok(d)));
            }
        }
    }
}

/// A request body that says when it has been sent whole.
struct Watched {
    /// Taken (and so dropped) when the proxy gives up on the backend: the
    /// client's connection then knows nobody reads the rest of its upload.
    inner: Arc<std::sync::Mutex<Option<Body>>>,
    done: Option<Arc<tokio::sync::Notify>>,
    /// When a piece last went.
    moved: Activity,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let gave_up = || Poll::Ready(Some(Err(std::io::Error::other("the proxy gave up"))));
        let this = self.get_mut();
        let (r, ended) = {
            let Ok(mut g) = this.inner.lock() else {
                return gave_up();
            };
            let Some(b) = g.as_mut() else {
                return gave_up();
            };
            let r = Pin::new(&mut *b).poll_frame(cx);
            (r, b.is_end_stream())
        };
        if matches!(r, Poll::Ready(Some(Ok(_)))) {
            this.moved.touch();
        }
        if matches!(r, Poll::Ready(None)) || ended {
            if let Some(n) = this.done.take() {
                n.notify_one();
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .lock()
            .map_or(true, |g| g.as_ref().is_none_or(|b| b.is_end_stream()))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|b| b.size_hint()))
            .unwrap_or_default()
    }
}

/// A backend's response body, cut off when it sends nothing for `idle`.
struct Idle {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Idle {
    fn new(inner: Body, idle: Duration) -> Self {
        Idle {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl http_body::Body for Idle {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                let next = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(next);
                Poll::Ready(r)
            }
            Poll::Pending => match std::future::Future::poll(this.timer.as_mut(), cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "backend sent nothing in time",
                )))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Copies bytes one way until the reader ends or a write fails, noting
/// when bytes last moved; then shuts the writer down.
async fn one_way<R, W>(mut r: R, mut w: W, moved: &std::cell::Cell<tokio::time::Instant>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
        moved.set(tokio::time::Instant::now());
    }
    let _ = w.shutdown().await;
}

/// Copies bytes both ways between a client and a backend until both
/// directions end, or nothing moves either way for `idle`.
async fn pump<A, B>(a: A, b: B, idle: Duration)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let moved = std::cell::Cell::new(tokio::time::Instant::now());
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let both = async {
        tokio::join!(one_way(ar, bw, &moved), one_way(br, aw, &moved));
    };
    let watchdog = async {
        loop {
            let until = moved.get() + idle;
            if tokio::time::Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    };
    tokio::select! {
        _ = both => {}
        _ = watchdog => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_paths() {
        let p = ReverseProxy::new("http://127.0.0.1:8080/app/").unwrap();
        assert_eq!(p.target_path("/x", Some("a=1")), "/app/x?a=1");
        assert_eq!(p.target_path("", None), "/app");
        let p = ReverseProxy::new("https://example.com").unwrap();
        assert_eq!(p.target_path("", None), "/");
        assert_eq!(p.describe(), "https://example.com:443");
        let p = ReverseProxy::new("unix:/run/app.sock:/base").unwrap();
        assert_eq!(p.target_path("/y", None), "/base/y");
        assert_eq!(p.describe(), "unix:/run/app.sock");
        assert!(ReverseProxy::new("unix:relative.sock").is_err());
        assert!(ReverseProxy::new("ftp://x/").is_err());
        assert!(ReverseProxy::new("http://x/?q=1").is_err());
        let p = ReverseProxy::new("http://[::1]:9/").unwrap();
        assert_eq!(p.describe(), "http://[::1]:9");
    }

    #[test]
    fn forwarded_headers_name_the_chosen_host_one_cookie_and_the_client() {
        let mut r = Request::new(super::super::response::empty());
        *r.uri_mut() = "http://public.example/x".parse().unwrap();
        let h = r.headers_mut();
        h.insert(header::HOST, HeaderValue::from_static("admin.internal"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        let f = forward_headers(&r, "192.0.2.7:5000".parse().unwrap(), true);
        assert_eq!(f.get_all(header::HOST).iter().count(), 1);
        assert_eq!(f[header::HOST], "public.example");
        assert_eq!(f["x-forwarded-host"], "public.example");
        assert_eq!(f.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(f[header::COOKIE], "a=1; b=2");
        assert_eq!(f["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
        assert_eq!(f["x-forwarded-proto"], "https");
        // A POST carrying Upgrade is not a WebSocket.
        *r.method_mut() = Method::POST;
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_websocket(&r));
        *r.method_mut() = Method::GET;
        assert!(is_websocket(&r));
    }

    #[test]
    fn hop_by_hop_fields_stop_here() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "5"),
            ("x-private", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic eA=="),
            ("upgrade", "h2c"),
            ("x-end-to-end", "kept"),
            ("cookie", "a=1"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-end-to-end", "cookie"]);
    }
}
