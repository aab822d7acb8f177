//! Requests to a reverse proxy's Unix-socket backend (`unix:` origins) over
//! HTTP/1.1, on connections kept per service thread and reused one request
//! at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::proxy::{strip_hop_by_hop, Failure};
use super::response::Body;

/// Connections kept per socket and service thread, busy or idle.
const KEPT: usize = 16;

thread_local! {
    /// Connections to each socket, for the next request that finds one free.
    static KEPT_CONNS: RefCell<HashMap<PathBuf, Vec<SendRequest<Body>>>> =
        RefCell::default();
}

/// A connection to `sock` that can take a request now: a kept one (`true`)
/// or, always when `fresh`, a new one.
async fn connection(sock: &Path, fresh: bool) -> Result<(SendRequest<Body>, bool), Failure> {
    let kept = (!fresh)
        .then(|| {
            KEPT_CONNS.with(|k| {
                let mut k = k.borrow_mut();
                let list = k.get_mut(sock)?;
                // Closed ones (the backend ended them) go.
                list.retain(|s| !s.is_closed());
                let free = list.iter().position(SendRequest::is_ready)?;
                Some(list.swap_remove(free))
            })
        })
        .flatten();
    if let Some(s) = kept {
        return Ok((s, true));
    }
    let io = tokio::net::UnixStream::connect(sock)
        .await
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let (send, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| Failure::Broken(e.to_string()))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok((send, false))
}

/// Keeps `send` for later requests (it takes one once this response's body
/// is read), unless enough are kept.
fn keep(sock: &Path, send: SendRequest<Body>) {
    KEPT_CONNS.with(|k| {
        let mut k = k.borrow_mut();
        let list = k.entry(sock.to_path_buf()).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < KEPT {
            list.push(send);
        }
    });
}

/// One request to the backend at `sock`. A request a kept connection could
/// not send (the backend had closed it) goes again on a new one, and so
/// does a `GET` or `HEAD` without a body that such a connection sent but
/// got no answer to (the backend closed it as the request went out).
pub(super) async fn request(
    sock: &Path,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<Response<Body>, Failure> {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = path
        .parse()
        .map_err(|_| Failure::Broken("bad path".into()))?;
    *req.headers_mut() = headers;
    let mut again = (matches!(*req.method(), Method::GET | Method::HEAD)
        && http_body::Body::is_end_stream(req.body()))
    .then(|| {
        (
            req.method().clone(),
            req.uri().clone(),
            req.headers().clone(),
        )
    });
    let mut fresh = false;
    loop {
        let (mut send, kept) = connection(sock, fresh).await?;
        match send.try_send_request(req).await {
            Ok(resp) => {
                keep(sock, send);
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                let body = body.map_err(std::io::Error::other).boxed_unsync();
                return Ok(Response::from_parts(parts, body));
            }
            Err(mut e) => match e.take_message() {
                // Not sent: once more, on a new connection.
                Some(r) if kept => req = r,
                _ => {
                    let e = e.into_error();
                    match again.take() {
                        Some((m, u, h)) if kept && e.is_incomplete_message() => {
                            req = Request::new(super::response::empty());
                            *req.method_mut() = m;
                            *req.uri_mut() = u;
                            *req.headers_mut() = h;
                            // Not on another kept one, which may be closing too.
                            fresh = true;
                        }
                        _ => return Err(Failure::Broken(e.to_string())),
                    }
                }
            },
        }
    }
}
