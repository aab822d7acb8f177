//! WebSocket upgrades: HTTP/1.1 `Upgrade` (RFC 6455) and HTTP/2 extended
//! CONNECT (RFC 8441), subprotocol and permessage-deflate negotiation, and
//! handing the connection to its protocol's driver.

use std::rc::Rc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use rlws_ws::handshake::{self, HandshakeError};

use super::conn::ConnInfo;
use super::ServerThread;
use crate::runtime::{Kind, LiveGuard, Tag};
use crate::site::{self, full, text, Body};
use crate::ws::Handshake;

pub(super) fn ws_upgrade(
    st: &ServerThread,
    vi: usize,
    req: Request<Incoming>,
    info: &ConnInfo,
    guard: Rc<LiveGuard>,
) -> Response<Body> {
    let mut resp = try_upgrade(st, vi, req, info, guard);
    if !info.h2 && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A failed upgrade ends the connection: the client expected another protocol on it.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// `426 Upgrade Required` naming the one WebSocket version spoken.
fn version_required() -> Response<Body> {
    let mut r = text(
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
    st: &ServerThread,
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
                return version_required();
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
                return version_required();
            }
            Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    };
    let Some(vh) = st.srv.vhosts.get(vi) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "no vhost");
    };
    if site::find(&vh.mounts, req.uri().path()).is_some_and(|(m, _)| m.no_ws_upgrades) {
        return text(StatusCode::FORBIDDEN, "no WebSocket upgrades here");
    }
    let sh = &st.srv;
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
    let by_path = site::find(&vh.mounts, &path).and_then(|(m, _)| m.ws_protocol);
    let (index, echo_name) = match (by_name, by_path, offered, vh.protocols.first()) {
        (Some(i), _, _, _) => (i, true),
        (None, Some(i), _, _) => (i, false),
        (None, None, None, Some(&i)) => (i, false),
        _ => {
            return text(
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
    let id = st.core.shared.next_id();
    let hs = Handshake {
        path: &path,
        query: req.uri().query(),
        headers: h,
        peer,
        client: false,
        over_h2: info.h2,
        options: vh
            .protocol_options
            .iter()
            .find(|(n, _)| n == proto.name())
            .map_or(&[], |(_, o)| o.as_slice()),
    };
    let start = match proto.accept(
        &st.core.slots[index],
        &hs,
        id,
        deflate.as_ref().map(|d| d.0),
        vh.validity,
    ) {
        Ok(s) => s,
        Err(c) => {
            tracing::info!(conn = %Tag(Kind::Http, info.id), %peer, protocol = %proto.name(), reason = %c.reason, "websocket refused by protocol");
            return text(StatusCode::FORBIDDEN, "refused");
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
    let on_upgrade = hyper::upgrade::on(&mut req);
    tracing::debug!(conn = %Tag(Kind::Ws, id), http = %Tag(Kind::Http, info.id), %peer, protocol = %proto.name(), tsi = st.core.tsi, h2 = info.h2, "websocket established");
    start.spawn_upgrade(on_upgrade, guard);
    resp
}
