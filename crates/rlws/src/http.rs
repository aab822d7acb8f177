//! The HTTP/1.1 side: hyper connections, WebSocket upgrades, and the site.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rlws_ws::handshake::{self, HandshakeError};
use tokio::net::TcpStream;

use crate::context::{LiveGuard, ThreadCore};
use crate::mount;
use crate::protocol::Handshake;
use crate::transport::Transport;
use crate::vhost::{select, Match};

pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

pub(crate) fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

pub(crate) fn simple(core: &ThreadCore, status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    server_header(core, h);
    r
}

pub(crate) fn server_header(core: &ThreadCore, h: &mut hyper::HeaderMap) {
    if let Some(v) = &core.shared.server_header {
        h.insert(header::SERVER, v.clone());
    }
}

/// Facts about a connection that each request on it needs.
struct ConnInfo {
    peer: SocketAddr,
    listener: usize,
    /// The vhost SNI chose (TLS connections).
    sni_vhost: Option<usize>,
    h2: bool,
}

/// Runs HTTP/2 stream tasks on this service thread.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one accepted TCP connection on listen socket `li`.
pub(crate) async fn serve(
    core: Rc<ThreadCore>,
    stream: TcpStream,
    peer: SocketAddr,
    guard: LiveGuard,
    li: usize,
) {
    let _ = stream.set_nodelay(true);
    let Some(l) = core.shared.listeners.get(li) else {
        return;
    };
    let guard = Rc::new(guard);
    if l.tls {
        let timeout = l.handshake_timeout;
        match tokio::time::timeout(timeout, tls_accept(&core, stream, li)).await {
            Ok(Ok((tls, vi))) => {
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let info = ConnInfo {
                    peer,
                    listener: li,
                    sni_vhost: Some(vi),
                    h2,
                };
                serve_http(core, tls, info, guard).await;
            }
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    } else {
        let h2 = l.http2 && sniff_h2(&stream, core.shared.http.header_timeout).await;
        let info = ConnInfo {
            peer,
            listener: li,
            sni_vhost: None,
            h2,
        };
        serve_http(core, stream, info, guard).await;
    }
}

/// Reads the ClientHello, lets SNI pick the vhost, and completes the
/// handshake with that vhost's certificate.
async fn tls_accept(
    core: &ThreadCore,
    stream: TcpStream,
    li: usize,
) -> std::io::Result<(tokio_rustls::server::TlsStream<TcpStream>, usize)> {
    let acceptor =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = acceptor.await?;
    let sh = &core.shared;
    let candidates = sh.listeners.get(li).map_or(&[][..], |l| &l.vhosts[..]);
    let vi = select(&sh.vhosts, candidates, start.client_hello().server_name()).index();
    let cfg = sh
        .vhosts
        .get(vi)
        .and_then(|v| v.tls.clone())
        .ok_or_else(|| std::io::Error::other("vhost without TLS on a TLS socket"))?;
    let tls = start.into_stream(cfg).await?;
    Ok((tls, vi))
}

/// True when the client opens with the HTTP/2 preface (prior knowledge).
async fn sniff_h2(stream: &TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    let look = async {
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if buf[..n] != H2_PREFACE[..n] => return false,
                Ok(n) if n == H2_PREFACE.len() => return true,
                // A prefix of the preface so far: wait for more.
                Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    };
    tokio::time::timeout(limit, look).await.unwrap_or(false)
}

async fn serve_http<I>(core: Rc<ThreadCore>, io: I, info: ConnInfo, guard: Rc<LiveGuard>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http = &core.shared.http;
    let info = Rc::new(info);
    let svc_core = core.clone();
    let svc_info = info.clone();
    let svc = hyper::service::service_fn(move |req| {
        let core = svc_core.clone();
        let guard = guard.clone();
        let info = svc_info.clone();
        async move { Ok::<_, Infallible>(handle(core, req, info, guard).await) }
    });
    let res = if info.h2 {
        let io = TokioIo::new(crate::h2guard::H2Guard::new(io));
        let mut b = hyper::server::conn::http2::Builder::new(LocalExec);
        b.timer(TokioTimer::new())
            .enable_connect_protocol()
            .max_concurrent_streams(http.h2_max_streams)
            .max_header_list_size(u32::try_from(http.max_header_bytes).unwrap_or(u32::MAX))
            // Rapid reset (CVE-2023-44487) and streams the server resets
            // for errors: a connection that causes many is dropped.
            .max_pending_accept_reset_streams(Some(20))
            .max_local_error_reset_streams(Some(256));
        b.serve_connection(io, svc).await
    } else {
        let io = TokioIo::new(io);
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(
                core.shared
                    .listeners
                    .get(info.listener)
                    .and_then(|l| l.keepalive)
                    .unwrap_or(http.header_timeout),
            )
            .max_headers(http.max_headers)
            .max_buf_size(http.max_header_bytes.max(8192))
            .serve_connection(io, svc)
            .with_upgrades()
            .await
    };
    if let Err(e) = res {
        tracing::debug!(peer = %info.peer, error = %e, "http connection ended with error");
    }
}

/// The vhost that serves a request: by `Host` (or `:authority`), within
/// what the connection's SNI allows.
fn choose_vhost(core: &ThreadCore, info: &ConnInfo, host: Option<&str>) -> Option<usize> {
    let sh = &core.shared;
    let l = sh.listeners.get(info.listener)?;
    let m = select(&sh.vhosts, &l.vhosts, host);
    let strict = |i: usize| sh.vhosts.get(i).is_some_and(|v| v.strict_host_check);
    match (info.sni_vhost, m) {
        // The request names a vhost other than the one whose certificate
        // (and client-certificate policy) the connection was made with.
        (Some(sni), Match::Named(i)) if i != sni => None,
        (Some(sni), Match::Named(_)) => Some(sni),
        (Some(sni), Match::Default(_)) if strict(sni) => None,
        (Some(sni), Match::Default(_)) => Some(sni),
        (None, Match::Named(i)) => Some(i),
        (None, Match::Default(d)) if strict(d) => None,
        (None, Match::Default(d)) => Some(d),
    }
}

async fn handle(
    core: Rc<ThreadCore>,
    req: Request<Incoming>,
    info: Rc<ConnInfo>,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let peer = info.peer;
    let host = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    let Some(vi) = choose_vhost(&core, &info, host) else {
        tracing::debug!(%peer, host = host.unwrap_or(""), "misdirected request");
        let mut r = simple(
            &core,
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected request",
        );
        if !info.h2 {
            // The client should ask again on a connection made for that name.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        return r;
    };
    let ws = if info.h2 {
        req.method() == Method::CONNECT
            && req
                .extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
    } else {
        req.headers()
            .get(header::UPGRADE)
            .is_some_and(|u| handshake::header_has_token(u.as_bytes(), "websocket"))
    };
    let log = core
        .shared
        .vhosts
        .get(vi)
        .and_then(|v| v.access_log.as_ref())
        .map(|_| crate::accesslog::RequestLine::new(peer, &req));
    let mut resp = if ws {
        ws_upgrade(&core, vi, req, &info, guard)
    } else {
        site(&core, vi, &req)
    };
    if let Some(v) = core.shared.vhosts.get(vi) {
        for (k, val) in &v.headers {
            resp.headers_mut().append(k, val.clone());
        }
        if let (Some(line), Some(file)) = (&log, &v.access_log) {
            use hyper::body::Body as _;
            line.write(
                file,
                resp.status().as_u16(),
                resp.body().size_hint().exact(),
            );
        }
    }
    tracing::debug!(%peer, vhost = vi, status = resp.status().as_u16(), "http response");
    resp
}

fn ws_upgrade(
    core: &Rc<ThreadCore>,
    vi: usize,
    req: Request<Incoming>,
    info: &ConnInfo,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let mut resp = try_upgrade(core, vi, req, info, guard);
    if !info.h2 && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A failed upgrade ends the connection: the client expected another protocol on it.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// `426 Upgrade Required` naming the one WebSocket version spoken.
fn version_required(core: &ThreadCore) -> Response<Body> {
    let mut r = simple(
        core,
        StatusCode::UPGRADE_REQUIRED,
        "websocket version 13 required",
    );
    r.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    r
}

fn try_upgrade(
    core: &Rc<ThreadCore>,
    vi: usize,
    mut req: Request<Incoming>,
    info: &ConnInfo,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let peer = info.peer;
    let h = req.headers();
    let get = |n: header::HeaderName| h.get(n).map(|v| v.as_bytes());
    // RFC 8441: over HTTP/2 the extended CONNECT replaces Upgrade and the key.
    let key = if info.h2 {
        match get(header::SEC_WEBSOCKET_VERSION) {
            Some(b"13") => None,
            _ => {
                return version_required(core);
            }
        }
    } else {
        match handshake::validate_request(
            req.method().as_str().as_bytes(),
            get(header::UPGRADE),
            get(header::CONNECTION),
            get(header::SEC_WEBSOCKET_VERSION),
            get(header::SEC_WEBSOCKET_KEY),
        ) {
            Ok(k) => Some(handshake::accept_key(k)),
            Err(HandshakeError::Version) => {
                return version_required(core);
            }
            Err(e) => return simple(core, StatusCode::BAD_REQUEST, &e.to_string()),
        }
    };
    let Some(vh) = core.shared.vhosts.get(vi) else {
        return simple(core, StatusCode::INTERNAL_SERVER_ERROR, "no vhost");
    };
    if mount::find(&vh.mounts, req.uri().path()).is_some_and(|(m, _)| m.no_ws_upgrades) {
        return simple(core, StatusCode::FORBIDDEN, "no WebSocket upgrades here");
    }
    let sh = &core.shared;
    let path = req.uri().path().to_string();
    // Subprotocol: the client's first offer that the vhost has, else the
    // path's protocol, else (no offer at all) the vhost's default protocol.
    let offered = h.get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes());
    let by_name = offered.and_then(|o| {
        handshake::subprotocols(o).find_map(|name| {
            vh.protocols
                .iter()
                .copied()
                .find(|&i| sh.protocols.get(i).is_some_and(|p| p.name() == name))
        })
    });
    let by_path = vh
        .ws_paths
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, i)| *i);
    let (index, echo_name) = match (by_name, by_path, offered, vh.protocols.first()) {
        (Some(i), _, _, _) => (i, true),
        (None, Some(i), _, _) => (i, false),
        (None, None, None, Some(&i)) => (i, false),
        _ => {
            return simple(
                core,
                StatusCode::BAD_REQUEST,
                "no supported websocket subprotocol",
            )
        }
    };
    let proto = &sh.protocols[index];
    // permessage-deflate: the first acceptable offer, if the protocol wants it.
    let offers: Vec<&str> = h
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let deflate = match proto.deflate_config() {
        Some(cfg) if !offers.is_empty() => {
            rlws_ws::deflate::negotiate_server(&offers.join(", "), &cfg)
        }
        _ => None,
    };
    let id = sh.next_id();
    let hs = Handshake {
        path: &path,
        query: req.uri().query(),
        headers: h,
        peer,
        client: false,
    };
    let start = match proto.accept(&core.slots[index], &hs, id, deflate.as_ref().map(|d| d.0)) {
        Ok(s) => s,
        Err(c) => {
            tracing::info!(%peer, protocol = proto.name(), reason = %c.reason, "websocket refused by protocol");
            return simple(core, StatusCode::FORBIDDEN, "refused");
        }
    };
    // HTTP/1.1 answers 101 with the accept key; HTTP/2 answers 200.
    let mut resp = Response::new(full(Bytes::new()));
    if let Some(key) = key {
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let rh = resp.headers_mut();
        rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        rh.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&key) {
            rh.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
    }
    let rh = resp.headers_mut();
    if let Some((_, resp)) = &deflate {
        if let Ok(v) = HeaderValue::from_str(resp) {
            rh.insert(header::SEC_WEBSOCKET_EXTENSIONS, v);
        }
    }
    if echo_name {
        if let Ok(v) = HeaderValue::from_str(proto.name()) {
            rh.insert(header::SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    server_header(core, rh);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tracing::debug!(%peer, id, protocol = proto.name(), tsi = core.tsi, h2 = info.h2, "websocket established");
    start.spawn_upgrade(on_upgrade, guard);
    resp
}

/// The stream hyper hands over after a `101 Switching Protocols`, and the
/// bytes it had already read past the request; `None` if the upgrade failed.
pub(crate) async fn upgraded(upgrade: hyper::upgrade::OnUpgrade) -> (Option<Transport>, Bytes) {
    match upgrade.await {
        Ok(up) => match up.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Some(Transport::Tcp(parts.io.into_inner())), parts.read_buf),
            Err(up) => match up.downcast::<TokioIo<tokio_rustls::server::TlsStream<TcpStream>>>() {
                Ok(parts) => (
                    Some(Transport::Other(Box::new(parts.io.into_inner()))),
                    parts.read_buf,
                ),
                // An HTTP/2 stream: run on the upgraded stream.
                Err(up) => (
                    Some(Transport::Other(Box::new(TokioIo::new(up)))),
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

/// Plain HTTP requests: the vhost's mounts, then its 404 document.
fn site(core: &ThreadCore, vi: usize, req: &Request<Incoming>) -> Response<Body> {
    let Some(vh) = core.shared.vhosts.get(vi) else {
        return mount::not_found(core);
    };
    let inm = req.headers().get(header::IF_NONE_MATCH);
    let served = mount::serve(
        core,
        &vh.mounts,
        req.method(),
        req.uri().path(),
        req.uri().query(),
        inm,
    );
    match served {
        Some(r) if r.status() != StatusCode::NOT_FOUND => r,
        _ => {
            // lwsws' error-document-404: that page's content, status 404.
            let doc = vh.error_document_404.as_deref().and_then(|doc| {
                mount::serve(core, &vh.mounts, &Method::GET, doc, None, None)
                    .filter(|r| r.status() == StatusCode::OK)
            });
            match doc {
                Some(mut r) => {
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r.headers_mut().remove(header::ETAG);
                    r.headers_mut().remove(header::CACHE_CONTROL);
                    r
                }
                None => mount::not_found(core),
            }
        }
    }
}
