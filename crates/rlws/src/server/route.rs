//! One request: choosing its vhost, then an upgrade or the vhost's mounts;
//! the `Server` header and the vhost's headers are added here, to every
//! response, and the access log line written.

use std::rc::Rc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::conn::ConnInfo;
use super::counted::Counted;
use super::upgrade::ws_upgrade;
use super::vhost::{select, Match};
use super::ServerThread;
use crate::runtime::{Kind, LiveGuard, Shard, Tag, VhostCounts};
use crate::site::{self, text, Body};

/// The vhost that serves a request: by `Host` (or `:authority`), within
/// what the connection's SNI allows.
fn choose_vhost(st: &ServerThread, info: &ConnInfo, host: Option<&str>) -> Option<usize> {
    let sh = &st.srv;
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

/// The `Server` header: added here, once, to every response.
fn server_header(st: &ServerThread, r: &mut Response<Body>) {
    if let Some(v) = &st.srv.server_header {
        r.headers_mut().insert(header::SERVER, v.clone());
    }
}

pub(super) async fn handle(
    st: Rc<ServerThread>,
    req: Request<Incoming>,
    info: Rc<ConnInfo>,
    guard: Rc<LiveGuard>,
) -> Response<Counted> {
    let peer = info.peer;
    let host = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    let Some(vi) = choose_vhost(&st, &info, host) else {
        tracing::debug!(conn = %Tag(Kind::Http, info.id), %peer, host = host.unwrap_or(""), "misdirected request");
        let mut r = text(StatusCode::MISDIRECTED_REQUEST, "misdirected request");
        if !info.h2 {
            // The client should ask again on a connection made for that name.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        server_header(&st, &mut r);
        return r.map(|b| Counted::new(b, None));
    };
    let counts = st.counts(vi);
    let wants_ws = site::asks_websocket(&req);
    // Upgrades under a mount whose origin takes them (a reverse proxy) go
    // to that origin like any request.
    let ws = wants_ws
        && !st.srv.vhosts.get(vi).is_some_and(|v| {
            site::find(&v.mounts, req.uri().path())
                .is_some_and(|(m, _)| m.origin.handles_upgrades() && !m.no_ws_upgrades)
        });
    let log = st
        .srv
        .vhosts
        .get(vi)
        .and_then(|v| v.access_log.as_ref())
        .map(|_| super::accesslog::RequestLine::new(peer, &req));
    let mut resp = if ws {
        ws_upgrade(&st, vi, req, &info, guard)
    } else {
        site(&st, vi, req, &info, guard, counts.as_ref()).await
    };
    server_header(&st, &mut resp);
    if let Some(v) = st.srv.vhosts.get(vi) {
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
    tracing::debug!(conn = %Tag(Kind::Http, info.id), %peer, vhost = vi, status = resp.status().as_u16(), "http response");
    if let Some(c) = &counts {
        let status = resp.status();
        c.response(status.as_u16());
        // 101 for HTTP/1.1, 200 for an h2 extended CONNECT.
        if ws && (status == StatusCode::SWITCHING_PROTOCOLS || status == StatusCode::OK) {
            c.upgrades.add(1);
        }
    }
    resp.map(|b| Counted::new(b, counts))
}

/// Whether the connection's listen socket is TLS.
fn over_tls(st: &ServerThread, info: &ConnInfo) -> bool {
    st.srv.listeners.get(info.listener).is_some_and(|l| l.tls)
}

/// Plain HTTP requests: the vhost's mounts, then its 404 document.
async fn site(
    st: &ServerThread,
    vi: usize,
    req: Request<Incoming>,
    info: &Rc<ConnInfo>,
    guard: Rc<LiveGuard>,
    counts: Option<&Shard<VhostCounts>>,
) -> Response<Body> {
    let peer = info.peer;
    let Some(vh) = st.srv.vhosts.get(vi) else {
        return site::not_found();
    };
    // Bodies are counted as they are read; most requests have none.
    let counts = counts
        .filter(|_| !hyper::body::Body::is_end_stream(req.body()))
        .cloned();
    let req = req.map(|b| match counts {
        Some(c) => b
            .map_frame(move |f| {
                if let Some(data) = f.data_ref() {
                    c.request_bytes.add(data.len() as u64);
                }
                f
            })
            .map_err(std::io::Error::other)
            .boxed_unsync(),
        None => b.map_err(std::io::Error::other).boxed_unsync(),
    });
    let link = |guard, state| site::Link {
        peer,
        local: info.local,
        tls: over_tls(st, info),
        guard,
        state,
    };
    let state: Rc<dyn site::HasConnState> = info.clone();
    let served = site::serve(
        &vh.mounts,
        req,
        link(Some(guard), Some(state)),
        &info.timeout,
    )
    .await;
    match served {
        Ok(r) if r.status() != StatusCode::NOT_FOUND => r,
        _ => {
            // lwsws' error-document-404: that page's content, status 404.
            let mut doc = None;
            if let Some(path) = vh.error_document_404.as_deref() {
                if let Ok(get) = Request::get(path).body(site::empty()) {
                    // A page of its own: nothing outlives it.
                    doc = site::serve(&vh.mounts, get, link(None, None), &info.timeout)
                        .await
                        .ok()
                        .filter(|r| r.status() == StatusCode::OK);
                }
            }
            match doc {
                Some(mut r) => {
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r.headers_mut().remove(header::ETAG);
                    r.headers_mut().remove(header::CACHE_CONTROL);
                    r
                }
                None => match served {
                    Ok(r) => r,
                    Err(_) => site::not_found(),
                },
            }
        }
    }
}
