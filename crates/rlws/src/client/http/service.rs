//! HTTP client requests in the lws model: started from a
//! [`crate::Context`] (or from inside a callback), answered through an
//! [`HttpHandler`]'s callbacks on a service thread, on the same engine as
//! the async API.
//!
//! Order of callbacks for one request: `writeable` (only when the request
//! body comes from callbacks, [`RequestBody::from_writeable`]), then either
//! `connection_error` alone, or `established`, `receive`... , then `closed`
//! (with `completed` before it when the response ended cleanly). Callbacks
//! run on the request's service thread, never inside the call that
//! started it, and only after that call has returned the handle.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use tokio::sync::{mpsc, oneshot, Notify};

use super::body::RequestBody;
use super::error::HttpError;
use super::pool::ConnInfo;
use super::request::Request;
use super::response::ResponseBody;
use super::HttpClient;
use crate::client::url::Url;
use crate::runtime::{Kind, LiveGuard, Shared, Tag, ThreadCore, ThreadIndex};

/// Returned by a callback to end the request at once (lws' "return -1"):
/// the connection is dropped and `closed` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort;

/// The response head, as `established` sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResponseHead<'a> {
    /// The status.
    pub status: StatusCode,
    /// The HTTP version.
    pub version: Version,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The URL that answered (after redirects).
    pub url: &'a Url,
    /// Which connection carried it.
    pub connection: ConnInfo,
}

/// Callbacks for client HTTP requests run on service threads (lws'
/// `LWS_CALLBACK_*_CLIENT_HTTP` reasons), with a per-request `Session`
/// (lws' opaque user data).
#[doc(alias = "LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP")]
pub trait HttpHandler: Send + Sync + 'static {
    /// Per-request state, given when the request starts.
    type Session: Send + 'static;

    /// The request body is wanted: write a piece with [`BodyWriter::write`],
    /// the last with [`BodyWriter::finish`]. Writing nothing and not
    /// finishing waits for [`HttpCx::request_writeable`] (lws'
    /// `LWS_CALLBACK_CLIENT_HTTP_WRITEABLE`).
    #[doc(alias = "LWS_CALLBACK_CLIENT_HTTP_WRITEABLE")]
    fn writeable(
        &self,
        _cx: &mut HttpCx<'_>,
        _s: &mut Self::Session,
        body: &mut BodyWriter,
    ) -> Result<(), Abort> {
        body.finish();
        Ok(())
    }

    /// The response head arrived.
    #[doc(alias = "LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP")]
    fn established(
        &self,
        _cx: &mut HttpCx<'_>,
        _s: &mut Self::Session,
        _head: &ResponseHead<'_>,
    ) -> Result<(), Abort> {
        Ok(())
    }

    /// A piece of the body (de-chunked, decoded). [`HttpCx::pause_rx`]
    /// stops further pieces, and the socket being read, until
    /// [`HttpCx::resume_rx`] or [`HttpHandle::resume_rx`].
    #[doc(alias = "LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ")]
    fn receive(&self, cx: &mut HttpCx<'_>, s: &mut Self::Session, data: &[u8])
        -> Result<(), Abort>;

    /// The whole response has arrived.
    #[doc(alias = "LWS_CALLBACK_COMPLETED_CLIENT_HTTP")]
    fn completed(&self, _cx: &mut HttpCx<'_>, _s: &mut Self::Session) {}

    /// The request failed before a response head: why (DNS, refused,
    /// timeout, TLS, proxy, protocol...). Nothing follows it.
    #[doc(alias = "LWS_CALLBACK_CLIENT_CONNECTION_ERROR")]
    fn connection_error(&self, cx: &mut HttpCx<'_>, s: &mut Self::Session, error: &HttpError);

    /// The request is over, after `established`: `error` says why if the
    /// body did not complete (or `None` after `completed`, or an abort).
    #[doc(alias = "LWS_CALLBACK_CLOSED_CLIENT_HTTP")]
    fn closed(&self, _cx: &mut HttpCx<'_>, _s: &mut Self::Session, _error: Option<&HttpError>) {}
}

/// Collects the request body written in a `writeable` callback.
#[derive(Debug, Default)]
pub struct BodyWriter {
    buf: BytesMut,
    done: bool,
}

impl BodyWriter {
    /// Sends these bytes.
    pub fn write(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Sends these bytes as the last piece.
    pub fn write_last(&mut self, data: &[u8]) {
        self.write(data);
        self.done = true;
    }

    /// Ends the body.
    pub fn finish(&mut self) {
        self.done = true;
    }
}

/// The per-request switches the callbacks and handles flip.
#[derive(Default)]
struct Ctl {
    paused: Cell<bool>,
    want_write: Cell<bool>,
    cancelled: Cell<bool>,
    /// A deadline set by a callback, and its reason.
    deadline: Cell<Option<(tokio::time::Instant, &'static str)>>,
    wake: Notify,
}

thread_local! {
    /// This service thread's requests, for handles used from elsewhere.
    static REQUESTS: RefCell<HashMap<u64, Rc<Ctl>>> = RefCell::new(HashMap::new());
}

/// What a callback can do besides returning.
pub struct HttpCx<'a> {
    ctl: &'a Ctl,
    handle: &'a HttpHandle,
}

impl std::fmt::Debug for HttpCx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCx")
            .field("request", &self.handle.id)
            .finish()
    }
}

impl HttpCx<'_> {
    /// This request's handle.
    pub fn handle(&self) -> &HttpHandle {
        self.handle
    }

    /// Asks for another `writeable` callback.
    #[doc(alias = "lws_callback_on_writable")]
    pub fn request_writeable(&self) {
        self.ctl.want_write.set(true);
        self.ctl.wake.notify_one();
    }

    /// Stops body pieces (and reading the socket) until resumed.
    #[doc(alias = "lws_rx_flow_control")]
    pub fn pause_rx(&self) {
        self.ctl.paused.set(true);
    }

    /// Delivers body pieces again.
    pub fn resume_rx(&self) {
        self.ctl.paused.set(false);
        self.ctl.wake.notify_one();
    }

    /// Gives the request a deadline (lws' `lws_set_timeout`): if it has
    /// not ended after `after`, it is ended (`connection_error` with a
    /// timeout before a response, else `closed` with it) and `reason` is
    /// logged. Setting it again moves it.
    #[doc(alias = "lws_set_timeout")]
    pub fn set_timeout(&self, reason: &'static str, after: std::time::Duration) {
        self.ctl
            .deadline
            .set(Some((tokio::time::Instant::now() + after, reason)));
        self.ctl.wake.notify_one();
    }

    /// Cancels the deadline.
    pub fn cancel_timeout(&self) {
        self.ctl.deadline.set(None);
        self.ctl.wake.notify_one();
    }
}

/// A request started on a service thread. Cheap to clone, usable from any
/// thread; its methods reach the request through its thread.
#[derive(Clone)]
pub struct HttpHandle {
    id: u64,
    tsi: usize,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for HttpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHandle")
            .field("id", &self.id)
            .field("thread", &self.tsi)
            .finish()
    }
}

impl PartialEq for HttpHandle {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
    }
}

impl Eq for HttpHandle {}

impl HttpHandle {
    /// The request's number, unique in its context.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The service thread its callbacks run on.
    pub fn thread(&self) -> ThreadIndex {
        ThreadIndex(self.tsi)
    }

    fn on_thread(&self, f: impl FnOnce(&Ctl) + Send + 'static) {
        let id = self.id;
        self.shared.run_on(
            self.tsi,
            Box::new(move |_core: &Rc<ThreadCore>| {
                let ctl = REQUESTS.with(|r| r.borrow().get(&id).cloned());
                if let Some(c) = ctl {
                    f(&c);
                }
            }),
        );
    }

    /// Delivers body pieces again after [`HttpCx::pause_rx`].
    pub fn resume_rx(&self) {
        self.on_thread(|c| {
            c.paused.set(false);
            c.wake.notify_one();
        });
    }

    /// Asks for another `writeable` callback.
    pub fn request_writeable(&self) {
        self.on_thread(|c| {
            c.want_write.set(true);
            c.wake.notify_one();
        });
    }

    /// [`HttpCx::set_timeout`] from any thread.
    #[doc(alias = "lws_set_timeout")]
    pub fn set_timeout(&self, reason: &'static str, after: std::time::Duration) {
        let at = tokio::time::Instant::now() + after;
        self.on_thread(move |c| {
            c.deadline.set(Some((at, reason)));
            c.wake.notify_one();
        });
    }

    /// Ends the request: its connection is dropped, `closed` (or, before a
    /// response, `connection_error`) follows.
    pub fn cancel(&self) {
        self.on_thread(|c| {
            c.cancelled.set(true);
            c.wake.notify_one();
        });
    }
}

/// Why a request could not be started at all (no callback follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpStartError {
    /// There is no such service thread.
    NoSuchThread,
    /// The context is shutting down.
    Stopped,
    /// Every service thread is at its connection cap.
    Full,
}

impl std::fmt::Display for HttpStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HttpStartError::NoSuchThread => "no such service thread",
            HttpStartError::Stopped => "the context is shutting down",
            HttpStartError::Full => "every service thread is at its connection cap",
        })
    }
}

impl std::error::Error for HttpStartError {}

/// Starts `req` on thread `tsi` (or the least loaded) with `handler`'s
/// callbacks.
pub(crate) fn start<H: HttpHandler>(
    shared: &Arc<Shared>,
    client: &HttpClient,
    tsi: Option<usize>,
    handler: Arc<H>,
    session: H::Session,
    req: Result<Request, HttpError>,
) -> Result<HttpHandle, HttpStartError> {
    let tsi = match tsi {
        Some(t) if shared.reserve(t) => t,
        Some(_) => return Err(HttpStartError::NoSuchThread),
        None => shared.place().ok_or(HttpStartError::Full)?,
    };
    let handle = HttpHandle {
        id: shared.next_id(),
        tsi,
        shared: shared.clone(),
    };
    let (go, go_rx) = oneshot::channel::<()>();
    let client = client.clone();
    let guard = LiveGuard::new(shared.clone(), tsi);
    let h = handle.clone();
    let job = Box::new(move |_core: &Rc<ThreadCore>| {
        // Registered now, so that what the handle posts right after the
        // start (resume, cancel, a deadline) finds the request.
        let ctl = Rc::new(Ctl::default());
        ctl.want_write.set(true);
        REQUESTS.with(|r| r.borrow_mut().insert(h.id, ctl.clone()));
        let registered = Unregister(h.id);
        tokio::task::spawn_local(async move {
            // Not before the caller has the handle.
            let _ = go_rx.await;
            run(client, handler, session, req, h, ctl, guard).await;
            drop(registered);
        });
    });
    if !shared.run_on(tsi, job) {
        return Err(HttpStartError::Stopped);
    }
    let _ = go.send(());
    Ok(handle)
}

async fn run<H: HttpHandler>(
    client: HttpClient,
    handler: Arc<H>,
    mut s: H::Session,
    req: Result<Request, HttpError>,
    handle: HttpHandle,
    ctl: Rc<Ctl>,
    _guard: LiveGuard,
) {
    let mut cx = HttpCx {
        ctl: &ctl,
        handle: &handle,
    };
    let mut req = match req {
        Ok(r) => r,
        Err(e) => return handler.connection_error(&mut cx, &mut s, &e),
    };
    // A body from writeable callbacks goes through a one-piece channel:
    // the next callback comes when the connection has taken the last piece.
    let mut body_tx = None;
    if let Some(len) = req.body.writeable_len() {
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        req.body = RequestBody::stream(Box::pin(Pieces(rx)), len);
        body_tx = Some(tx);
    }
    let mut head = std::pin::pin!(client.request(req));
    let mut body: Option<ResponseBody> = None;
    loop {
        if ctl.cancelled.get() {
            return match body {
                None => handler.connection_error(
                    &mut cx,
                    &mut s,
                    &HttpError::Request("cancelled".into()),
                ),
                Some(_) => handler.closed(&mut cx, &mut s, None),
            };
        }
        let writing = body_tx.is_some() && ctl.want_write.get();
        let reading = body.is_some() && !ctl.paused.get();
        let deadline = ctl.deadline.get();
        tokio::select! {
            biased;
            _ = until(deadline) => {
                let reason = deadline.map_or("", |d| d.1);
                tracing::info!(conn = %Tag(Kind::Request, handle.id), reason, "client request timed out: ending it");
                return match body {
                    None => handler.connection_error(&mut cx, &mut s, &HttpError::Timeout),
                    Some(_) => handler.closed(&mut cx, &mut s, Some(&HttpError::Timeout)),
                };
            }
            permit = reserve(body_tx.clone()), if writing => {
                let Ok(permit) = permit else {
                    body_tx = None;
                    continue;
                };
                let mut w = BodyWriter::default();
                if handler.writeable(&mut cx, &mut s, &mut w).is_err() {
                    return end_aborted(&*handler, &mut cx, &mut s, body.is_some());
                }
                if !w.buf.is_empty() {
                    drop(permit.send(Ok(w.buf.freeze())));
                } else if !w.done {
                    ctl.want_write.set(false);
                }
                if w.done {
                    body_tx = None;
                }
            }
            r = &mut head, if body.is_none() => {
                let resp = match r {
                    Ok(r) => r,
                    Err(e) => return handler.connection_error(&mut cx, &mut s, &e),
                };
                let info = ResponseHead {
                    status: resp.status(),
                    version: resp.version(),
                    headers: resp.headers(),
                    url: resp.url(),
                    connection: resp.connection(),
                };
                if handler.established(&mut cx, &mut s, &info).is_err() {
                    return handler.closed(&mut cx, &mut s, None);
                }
                body = Some(resp.into_body());
            }
            piece = async { body.as_mut()?.chunk().await.transpose() }, if reading => {
                match piece {
                    Some(Ok(data)) => {
                        if handler.receive(&mut cx, &mut s, &data).is_err() {
                            return handler.closed(&mut cx, &mut s, None);
                        }
                    }
                    None => {
                        handler.completed(&mut cx, &mut s);
                        return handler.closed(&mut cx, &mut s, None);
                    }
                    Some(Err(e)) => return handler.closed(&mut cx, &mut s, Some(&e)),
                }
            }
            _ = ctl.wake.notified() => {}
        }
    }
}

async fn until(deadline: Option<(tokio::time::Instant, &'static str)>) {
    match deadline {
        Some((at, _)) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn reserve(
    tx: Option<mpsc::Sender<Result<Bytes, std::io::Error>>>,
) -> Result<mpsc::OwnedPermit<Result<Bytes, std::io::Error>>, ()> {
    match tx {
        Some(t) => t.reserve_owned().await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

fn end_aborted<H: HttpHandler>(h: &H, cx: &mut HttpCx<'_>, s: &mut H::Session, established: bool) {
    if established {
        h.closed(cx, s, None)
    } else {
        h.connection_error(cx, s, &HttpError::Request("aborted by its handler".into()))
    }
}

/// The receiving end of the body channel as a stream.
struct Pieces(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for Pieces {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Removes a request from its thread's table when it ends.
struct Unregister(u64);

impl Drop for Unregister {
    fn drop(&mut self) {
        let id = self.0;
        // Ignore the table being gone (thread ending).
        let _ = REQUESTS.try_with(|r| r.borrow_mut().remove(&id));
    }
}
