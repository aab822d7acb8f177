//! [`WebSocketRoute`]: a mount whose WebSocket upgrades go to one protocol
//! (lwsws' `callback://PROTOCOL` mounts, `Vhost::ws_path`).

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{text, Body};

/// Upgrades under this mount run `protocol` when the client names no
/// subprotocol of the vhost's; plain HTTP requests are answered `426 Upgrade
/// Required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketRoute {
    protocol: String,
}

impl WebSocketRoute {
    /// Upgrades run the protocol named `protocol`.
    pub fn new(protocol: impl Into<String>) -> Self {
        WebSocketRoute {
            protocol: protocol.into(),
        }
    }
}

impl Origin for WebSocketRoute {
    fn serve<'a>(&'a self, _req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        let mut r = text(StatusCode::UPGRADE_REQUIRED, "a WebSocket endpoint");
        r.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        Box::pin(std::future::ready(r))
    }

    fn websocket_protocol(&self) -> Option<&str> {
        Some(&self.protocol)
    }
}

/// Whether `r` asks for a WebSocket: an HTTP/2 extended CONNECT with
/// `:protocol websocket` (RFC 8441), or an `Upgrade: websocket` (RFC 6455;
/// whether the rest of the handshake is right is the upgrade's to check).
pub(crate) fn asks_websocket<B>(r: &http::Request<B>) -> bool {
    if r.version() == http::Version::HTTP_2 {
        return r.method() == http::Method::CONNECT
            && r.extensions()
                .get::<hyper::ext::Protocol>()
                .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    }
    r.headers()
        .get(http::header::UPGRADE)
        .is_some_and(|u| rlws_ws::handshake::header_has_token(u.as_bytes(), "websocket"))
}
