//! One request and its response head: take a connection from the pool (or
//! open one), send, hand the connection on when the transaction completes,
//! and retry on another connection when a shared one turned out to be
//! closing (the request given back unsent, a stream refused by GOAWAY).

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Version};
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::body::RequestBody;
use super::connect::{self, count_transaction, Opened};
use super::error::HttpError;
use super::pool::{ConnInfo, Grant, Key, StreamGuard, H2};
use super::response::{Keep, ResponseBody};
use super::{HttpVersion, Shared};
use crate::client::connector::Route;
use crate::client::proxy::basic_auth;
use crate::client::url::Url;

/// What one exchange sends.
pub(super) struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: RequestBody,
    pub share: bool,
    pub version: HttpVersion,
    pub gzip: bool,
    pub deadline: Option<Instant>,
}

/// The response head and body of one exchange.
pub(super) struct Incoming1 {
    pub status: http::StatusCode,
    /// The reason phrase, when the server's differs from the standard one
    /// (HTTP/1.x only).
    pub reason: Option<String>,
    pub version: Version,
    pub headers: HeaderMap,
    pub conn: ConnInfo,
    pub body: ResponseBody,
}

/// Runs the exchange on a task of its own, so that the pool's state stays
/// right even if the caller stops waiting.
pub(super) async fn run(shared: Arc<Shared>, out: Outgoing) -> Result<Incoming1, HttpError> {
    let (mut tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let r = exchange(&shared, out, &mut tx).await;
        let _ = tx.send(r);
    });
    rx.await
        .unwrap_or_else(|_| Err(HttpError::Request("the runtime is shutting down".into())))
}

/// How many times one request may move to another connection.
const ATTEMPTS: u32 = 6;

type Reply = oneshot::Sender<Result<Incoming1, HttpError>>;

async fn exchange(
    shared: &Arc<Shared>,
    out: Outgoing,
    tx: &mut Reply,
) -> Result<Incoming1, HttpError> {
    let key = Key {
        secure: out.url.scheme().is_secure(),
        host: out.url.host().to_ascii_lowercase(),
        port: out.url.port(),
        version: out.version,
        proxy: shared.proxy_for(&out.url),
    };
    let pool = &shared.pool;
    let mut out = out;
    let mut body = Some(std::mem::take(&mut out.body));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let grant = if out.share {
            pool.acquire(&key).await
        } else {
            Grant::Private
        };
        if tx.is_closed() {
            // The caller went away while this request waited its turn.
            match grant {
                Grant::H1(c) => pool.release_h1(&key, c),
                Grant::Lead => pool.lead_abandoned(&key),
                _ => {}
            }
            return Err(HttpError::Request("abandoned".into()));
        }
        let (conn, private) = match grant {
            Grant::Failed(e) => return Err(e),
            Grant::H1(c) => (Opened::H1(c), false),
            Grant::H2(c) => (Opened::H2(c), false),
            Grant::Lead => match connect::open(shared, &key).await {
                Ok(o) => {
                    match &o {
                        Opened::H1(_) => pool.connected_h1(&key),
                        Opened::H2(c) => pool.connected_h2(&key, c),
                    }
                    (o, false)
                }
                Err(e) => {
                    pool.lead_failed(&key, &e);
                    return Err(e);
                }
            },
            Grant::Private => (connect::open(shared, &key).await?, true),
        };
        let b = body.take().unwrap_or_default();
        let replay = b.try_clone();
        let retry = attempt < ATTEMPTS;
        match conn {
            Opened::H1(mut c) => {
                if c.send.ready().await.is_err() {
                    // Closed while warm: try again on a new one.
                    if !private {
                        pool.h1_gone(&key);
                    }
                    match replay {
                        Some(r) if retry => {
                            body = Some(r);
                            continue;
                        }
                        _ => {
                            return Err(HttpError::Request(
                                "connection closed before the request".into(),
                            ))
                        }
                    }
                }
                let req = build(&out, &key, b, false)?;
                let sent = c.send.try_send_request(req);
                let meta = c.meta.clone();
                let keep = if private {
                    Some(Keep::H1(c.send))
                } else {
                    // Hand the connection on once this transaction is over.
                    let pool = Arc::clone(&shared.pool);
                    let k = key.clone();
                    tokio::spawn(async move {
                        match c.send.ready().await {
                            Ok(()) => pool.release_h1(&k, c),
                            Err(_) => pool.h1_gone(&k),
                        }
                    });
                    None
                };
                match head(sent, shared, tx).await? {
                    Ok(resp) => {
                        if !keeps_alive(&resp) && !private {
                            pool.no_keepalive(&key);
                        }
                        let n = count_transaction(&shared.counters, &meta);
                        return Ok(finish(
                            shared,
                            &out,
                            resp,
                            ConnInfo {
                                id: meta.id,
                                transaction: n,
                                h2: false,
                            },
                            keep,
                        ));
                    }
                    Err(mut e) => {
                        if let Some(r) = e.take_message() {
                            if retry {
                                body = Some(r.into_body());
                                continue;
                            }
                        }
                        let e = e.into_error();
                        // A reused connection the server closed as we sent:
                        // safe to repeat an idempotent request.
                        let reused = meta.transaction_count() > 0;
                        if reused
                            && retry
                            && idempotent(&out.method)
                            && (e.is_incomplete_message() || e.is_canceled())
                        {
                            if let Some(r) = replay {
                                body = Some(r);
                                continue;
                            }
                        }
                        return Err(HttpError::Protocol(e));
                    }
                }
            }
            Opened::H2(c) => {
                let req = build(&out, &key, b, true)?;
                let mut send: H2 = c.send.clone();
                let id = c.meta.id;
                let stream = StreamGuard::new(&c.meta);
                match head(send.try_send_request(req), shared, tx).await? {
                    Ok(resp) => {
                        let n = count_transaction(&shared.counters, &c.meta);
                        let keep = if private {
                            Keep::H2(c.send)
                        } else {
                            Keep::Stream(stream)
                        };
                        return Ok(finish(
                            shared,
                            &out,
                            resp,
                            ConnInfo {
                                id,
                                transaction: n,
                                h2: true,
                            },
                            Some(keep),
                        ));
                    }
                    Err(mut e) => {
                        if let Some(r) = e.take_message() {
                            pool.h2_gone(&key, id);
                            if retry {
                                body = Some(r.into_body());
                                continue;
                            }
                        }
                        let e = e.into_error();
                        if refused(&e) {
                            pool.h2_gone(&key, id);
                            if let (Some(r), true) = (replay, retry) {
                                body = Some(r);
                                continue;
                            }
                        }
                        return Err(HttpError::Protocol(e));
                    }
                }
            }
        }
    }
}

/// Waits for a response head, at most the idle timeout; gives up (and so
/// cancels the request: h1 closes the connection, h2 resets the stream)
/// when the caller has stopped waiting, so that a request nobody wants
/// does not hold a shared connection.
async fn head<T>(
    sent: impl std::future::Future<Output = T>,
    shared: &Shared,
    tx: &mut Reply,
) -> Result<T, HttpError> {
    let idle = async {
        match shared.cfg.idle_timeout {
            Some(t) => tokio::time::timeout(t, sent)
                .await
                .map_err(|_| HttpError::Timeout),
            None => Ok(sent.await),
        }
    };
    tokio::select! {
        r = idle => r,
        _ = tx.closed() => Err(HttpError::Request("abandoned".into())),
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// True when an h2 stream was refused unprocessed (REFUSED_STREAM, or past
/// the last stream of a GOAWAY), or never opened because the connection
/// shut down while it waited for a free stream: safe to send again
/// elsewhere.
fn refused(e: &hyper::Error) -> bool {
    // hyper has no predicate for the last case: a user-kind error whose
    // text is that of its dropped dispatch callback.
    if e.is_canceled() || (e.is_user() && e.to_string().starts_with("dispatch task is gone")) {
        return true;
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(h) = s.downcast_ref::<h2::Error>() {
            return h.reason() == Some(h2::Reason::REFUSED_STREAM)
                || (h.is_go_away() && h.reason() == Some(h2::Reason::NO_ERROR));
        }
        src = s.source();
    }
    false
}

/// True unless an HTTP/1.x response says the connection ends with it.
fn keeps_alive(resp: &http::Response<Incoming>) -> bool {
    let conn = resp.headers().get_all(header::CONNECTION);
    let has = |t: &str| {
        conn.iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|x| x.trim().eq_ignore_ascii_case(t)))
                .unwrap_or(false)
        })
    };
    match resp.version() {
        Version::HTTP_10 => has("keep-alive"),
        Version::HTTP_11 => !has("close"),
        _ => true,
    }
}

/// The hyper request for one attempt.
fn build(
    out: &Outgoing,
    key: &Key,
    body: RequestBody,
    h2: bool,
) -> Result<http::Request<RequestBody>, HttpError> {
    let forward = matches!(connect::route(key), Route::Forward(_));
    let mut headers = out.headers.clone();
    let host = match headers.remove(header::HOST) {
        Some(h) => h,
        None => HeaderValue::from_str(&out.url.authority())
            .map_err(|_| HttpError::Request("host cannot be sent".into()))?,
    };
    let uri = if h2 || forward {
        let authority = host.to_str().unwrap_or_default();
        format!(
            "{}://{}{}",
            if key.secure { "https" } else { "http" },
            authority,
            out.url.path()
        )
    } else {
        out.url.path().to_string()
    };
    if !h2 {
        headers.insert(header::HOST, host);
    }
    if let (Some(ct), false) = (
        body.content_type(),
        headers.contains_key(header::CONTENT_TYPE),
    ) {
        if let Ok(v) = HeaderValue::from_str(ct) {
            headers.insert(header::CONTENT_TYPE, v);
        }
    }
    if let (Some((u, p)), false) = (out.url.user(), headers.contains_key(header::AUTHORIZATION)) {
        if let Ok(v) = HeaderValue::from_str(&basic_auth(u, p)) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    if forward {
        if let Some(a) = key.proxy.as_ref().and_then(|p| p.authorization()) {
            if let Ok(v) = HeaderValue::from_str(&a) {
                headers.insert(header::PROXY_AUTHORIZATION, v);
            }
        }
    }
    if out.gzip && !headers.contains_key(header::ACCEPT_ENCODING) {
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let mut req = http::Request::builder()
        .method(out.method.clone())
        .uri(uri)
        .version(if h2 {
            Version::HTTP_2
        } else {
            Version::HTTP_11
        })
        .body(body)
        .map_err(|e| HttpError::Request(e.to_string()))?;
    *req.headers_mut() = headers;
    Ok(req)
}

fn finish(
    shared: &Shared,
    out: &Outgoing,
    resp: http::Response<Incoming>,
    conn: ConnInfo,
    keep: Option<Keep>,
) -> Incoming1 {
    let (mut head, incoming) = resp.into_parts();
    let gzip = out.gzip
        && head
            .headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if gzip {
        head.headers.remove(header::CONTENT_ENCODING);
        head.headers.remove(header::CONTENT_LENGTH);
    }
    let body = if out.method == Method::HEAD {
        ResponseBody::empty()
    } else {
        ResponseBody::new(incoming, gzip, shared.cfg.idle_timeout, out.deadline, keep)
    };
    let reason = head
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    Incoming1 {
        reason,
        status: head.status,
        version: head.version,
        headers: head.headers,
        conn,
        body,
    }
}
