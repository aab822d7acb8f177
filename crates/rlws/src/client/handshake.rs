//! The client's opening handshake over HTTP/1.1 (RFC 6455 §4.1) and the
//! checks of the server's answer (accept key, subprotocol, extensions).

use std::pin::Pin;

use rlws_ws::deflate::{self, DeflateConfig};
use rlws_ws::handshake;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::config::ClientConfig;
use super::error::{ConnectError, HandshakeError};

/// What the opening handshake settled.
pub(crate) struct Opened {
    pub(crate) protocol: Option<String>,
    pub(crate) deflate: Option<deflate::Params>,
    /// Bytes after the response head (the first frames).
    pub(crate) leftover: Vec<u8>,
    /// The response headers.
    pub(crate) headers: http::HeaderMap,
}

pub(super) async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    cfg: &ClientConfig,
) -> Result<Opened, ConnectError> {
    let key = handshake::new_key();
    let mut req = format!("GET {} HTTP/1.1\r\n", cfg.url.path());
    // A `Host` among the configured headers replaces the URL's (a name
    // other than the address connected to, as lws' `host` beside `address`).
    if !cfg
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        req.push_str(&format!("Host: {}\r\n", cfg.url.authority()));
    }
    req.push_str(&format!(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    ));
    if !cfg.subprotocols.is_empty() {
        req.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            cfg.subprotocols.join(", ")
        ));
    }
    if let Some(e) = extension_offer(cfg) {
        req.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    for (k, v) in &cfg.headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(HandshakeError::InvalidHeader(k.clone()).into());
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes())
        .await
        .map_err(ConnectError::Io)?;

    // Read the response head.
    let mut buf = vec![0u8; 16 * 1024];
    let mut have = 0;
    let head_len = loop {
        let mut rb = ReadBuf::new(&mut buf[have..]);
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, &mut rb))
            .await
            .map_err(ConnectError::Io)?;
        let n = rb.filled().len();
        if n == 0 {
            return Err(HandshakeError::Closed.into());
        }
        have += n;
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if have == buf.len() {
            return Err(HandshakeError::HeadTooLarge.into());
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(HandshakeError::Malformed.into()),
    }
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(ConnectError::Status(code));
    }
    let get = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if !get("upgrade").is_some_and(|v| handshake::header_has_token(v, "websocket")) {
        return Err(HandshakeError::NoUpgrade.into());
    }
    if !get("connection").is_some_and(|v| handshake::header_has_token(v, "upgrade")) {
        return Err(HandshakeError::NoConnectionUpgrade.into());
    }
    let want = handshake::accept_key(key.as_bytes());
    if get("sec-websocket-accept").map(|v| v.trim_ascii()) != Some(want.as_bytes()) {
        return Err(HandshakeError::AcceptMismatch.into());
    }
    let (protocol, params) = negotiate(
        cfg,
        get("sec-websocket-protocol"),
        get("sec-websocket-extensions"),
    )?;
    let mut headers = http::HeaderMap::new();
    for h in resp.headers.iter() {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(h.name.as_bytes()),
            http::header::HeaderValue::from_bytes(h.value),
        ) {
            headers.append(k, v);
        }
    }
    Ok(Opened {
        protocol,
        deflate: params,
        leftover: buf[head_len..have].to_vec(),
        headers,
    })
}

/// The permessage-deflate offers of `cfg`, for `Sec-WebSocket-Extensions`.
pub(super) fn extension_offer(cfg: &ClientConfig) -> Option<String> {
    let list: Vec<String> = cfg
        .deflate
        .iter()
        .chain(cfg.deflate_also.iter())
        .map(deflate::client_offer)
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

/// Checks the server's subprotocol and extension answers against what
/// `cfg` offered.
pub(super) fn negotiate(
    cfg: &ClientConfig,
    protocol: Option<&[u8]>,
    extensions: Option<&[u8]>,
) -> Result<(Option<String>, Option<deflate::Params>), ConnectError> {
    let offers: Vec<&DeflateConfig> = cfg.deflate.iter().chain(cfg.deflate_also.iter()).collect();
    let protocol = match protocol {
        None => None,
        Some(p) => {
            let p = std::str::from_utf8(p).unwrap_or("").trim().to_string();
            if !cfg.subprotocols.contains(&p) {
                return Err(HandshakeError::UnofferedSubprotocol(p).into());
            }
            Some(p)
        }
    };
    let ext = extensions.map(|v| String::from_utf8_lossy(v).to_string());
    let params = match ext.as_deref() {
        None => None,
        Some(e) => {
            // The response must fit one of the offers.
            let mut first_err = "server accepted an extension that was not offered";
            let mut found = None;
            for (i, d) in offers.iter().enumerate() {
                match deflate::client_accept(Some(e), d) {
                    Ok(p) => {
                        found = p;
                        break;
                    }
                    Err(err) if i == 0 => first_err = err,
                    Err(_) => {}
                }
            }
            Some(found.ok_or(HandshakeError::Extension(first_err))?)
        }
    };
    Ok((protocol, params))
}
