//! The HTTP/1.1 side: hyper connections, WebSocket upgrades, and the site.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rlws_ws::handshake::{self, HandshakeError};
use tokio::net::TcpStream;

use crate::assets;
use crate::context::{LiveGuard, Site, ThreadCore};
use crate::protocol::Handshake;
use crate::transport::Transport;

pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn simple(core: &ThreadCore, status: StatusCode, msg: &str) -> Response<Body> {
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

fn server_header(core: &ThreadCore, h: &mut hyper::HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&core.shared.http.server_name) {
        h.insert(header::SERVER, v);
    }
}

/// Serves one accepted TCP connection.
pub(crate) async fn serve(
    core: Rc<ThreadCore>,
    stream: TcpStream,
    peer: SocketAddr,
    guard: LiveGuard,
) {
    let _ = stream.set_nodelay(true);
    let guard = Rc::new(guard);
    let http = &core.shared.http;
    let svc_core = core.clone();
    let svc = hyper::service::service_fn(move |req| {
        let core = svc_core.clone();
        let guard = guard.clone();
        async move { Ok::<_, Infallible>(handle(core, req, peer, guard).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_timeout)
        .max_headers(http.max_headers)
        .max_buf_size(http.max_header_bytes.max(8192))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "http connection ended with error");
    }
}

async fn handle(
    core: Rc<ThreadCore>,
    req: Request<Incoming>,
    peer: SocketAddr,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|u| handshake::header_has_token(u.as_bytes(), "websocket"));
    let resp = if upgrade {
        ws_upgrade(&core, req, peer, guard)
    } else {
        site(&core, &req).await
    };
    tracing::debug!(%peer, status = resp.status().as_u16(), "http response");
    resp
}

fn ws_upgrade(
    core: &Rc<ThreadCore>,
    req: Request<Incoming>,
    peer: SocketAddr,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let mut resp = try_upgrade(core, req, peer, guard);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A failed upgrade ends the connection: the client expected another protocol on it.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn try_upgrade(
    core: &Rc<ThreadCore>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let h = req.headers();
    let get = |n: header::HeaderName| h.get(n).map(|v| v.as_bytes());
    let key = match handshake::validate_request(
        req.method().as_str().as_bytes(),
        get(header::UPGRADE),
        get(header::CONNECTION),
        get(header::SEC_WEBSOCKET_VERSION),
        get(header::SEC_WEBSOCKET_KEY),
    ) {
        Ok(k) => handshake::accept_key(k),
        Err(HandshakeError::Version) => {
            let mut r = simple(
                core,
                StatusCode::UPGRADE_REQUIRED,
                "websocket version 13 required",
            );
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return r;
        }
        Err(e) => return simple(core, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let sh = &core.shared;
    let path = req.uri().path().to_string();
    // Subprotocol: the client's first offer that we have, else the path's
    // protocol, else (no offer at all) the default protocol.
    let offered = h.get(header::SEC_WEBSOCKET_PROTOCOL).map(|v| v.as_bytes());
    let by_name = offered.and_then(|o| {
        handshake::subprotocols(o)
            .find_map(|name| sh.protocols.iter().position(|p| p.name() == name))
    });
    let by_path = sh
        .ws_paths
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, i)| *i);
    let (index, echo_name) = match (by_name, by_path, offered) {
        (Some(i), _, _) => (i, true),
        (None, Some(i), _) => (i, false),
        (None, None, None) if !sh.protocols.is_empty() => (0, false),
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
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let rh = resp.headers_mut();
    rh.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    rh.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        rh.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
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
    tracing::debug!(%peer, id, protocol = proto.name(), tsi = core.tsi, "websocket established");
    start.spawn_upgrade(on_upgrade, guard);
    resp
}

/// The stream hyper hands over after a `101 Switching Protocols`, and the
/// bytes it had already read past the request; `None` if the upgrade failed.
pub(crate) async fn upgraded(upgrade: hyper::upgrade::OnUpgrade) -> (Option<Transport>, Bytes) {
    match upgrade.await {
        Ok(up) => match up.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Some(Transport::Tcp(parts.io.into_inner())), parts.read_buf),
            // Not plain TCP (TLS, an HTTP/2 stream): run on the upgraded stream.
            Err(up) => (
                Some(Transport::Other(Box::new(TokioIo::new(up)))),
                Bytes::new(),
            ),
        },
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            (None, Bytes::new())
        }
    }
}

async fn site(core: &ThreadCore, req: &Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = simple(core, StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    match &core.shared.site {
        Site::Embedded => {
            let name = if path == "/" { "/index.html" } else { path };
            match assets::get(name) {
                Some((body, mime)) => {
                    file_response(core, StatusCode::OK, Bytes::from_static(body), mime)
                }
                None => not_found(core),
            }
        }
        Site::Dir(root) => {
            let Some(file) = resolve(root, path) else {
                return simple(core, StatusCode::BAD_REQUEST, "bad path");
            };
            let file = match tokio::fs::metadata(&file).await {
                Ok(m) if m.is_dir() => file.join("index.html"),
                _ => file,
            };
            match tokio::fs::read(&file).await {
                Ok(data) => {
                    let mime = mime_guess::from_path(&file).first_or_octet_stream();
                    let mut r = file_response(core, StatusCode::OK, Bytes::from(data), "");
                    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
                        r.headers_mut().insert(header::CONTENT_TYPE, v);
                    }
                    r
                }
                Err(_) => not_found(core),
            }
        }
    }
}

fn not_found(core: &ThreadCore) -> Response<Body> {
    let (body, mime) = assets::get("/404.html").unwrap_or((b"404 Not Found\n", "text/plain"));
    file_response(core, StatusCode::NOT_FOUND, Bytes::from_static(body), mime)
}

fn file_response(
    core: &ThreadCore,
    status: StatusCode,
    body: Bytes,
    mime: &'static str,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    if !mime.is_empty() {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    }
    server_header(core, h);
    r
}

/// Maps a URL path into `root`, refusing anything that could leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for c in Path::new(&decoded).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_traversal() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve(root, "/a/b.html"),
            Some(PathBuf::from("/srv/www/a/b.html"))
        );
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/www")));
        assert_eq!(
            resolve(root, "/a/%20b"),
            Some(PathBuf::from("/srv/www/a/ b"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/etc"), None);
        assert_eq!(resolve(root, "/a%00b"), None);
        assert_eq!(resolve(root, "/a%5c..%5cb"), None);
        assert_eq!(resolve(root, "/%zz"), None);
    }
}
