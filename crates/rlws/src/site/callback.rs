//! HTTP callback handlers (lwsws' `callback://` mounts, lws'
//! `LWSMPRO_CALLBACK`): every request under the mount goes to a handler's
//! callbacks, one per lws HTTP callback reason, on the connection's service
//! thread.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;

use super::conn_state::Slot;
use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{text, Body};

/// What [`HttpHandler::writeable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Call again when the connection can take more.
    More,
    /// Nothing to send now: call again after [`HttpHandle::writeable`]
    /// (lws' `lws_callback_on_writable`).
    Wait,
    /// The body is complete.
    Done,
}

/// An HTTP handler: lws' HTTP callbacks of a protocol, for the requests
/// under a [`Callback`] mount. All methods run on the connection's service
/// thread, like lws' callbacks: blocking in one stalls that thread.
///
/// Order: [`HttpHandler::request`] with the head, [`HttpHandler::body`]
/// for each piece of the body as it arrives, [`HttpHandler::body_complete`]
/// for the response head, then [`HttpHandler::writeable`] each time the
/// connection can take more of the response body, and
/// [`HttpHandler::closed`] once, however the exchange ended.
#[doc(alias = "LWSMPRO_CALLBACK")]
// A response is what a refusing callback gives; once per request, its size
// does not matter.
#[allow(clippy::result_large_err)]
pub trait HttpHandler: Send + Sync + 'static {
    /// The state of one request (lws' per-session data).
    type Session: Send + 'static;

    /// A request arrived: its head (lws' `LWS_CALLBACK_HTTP`). Return its
    /// session to read the body, or a response to answer at once.
    #[doc(alias = "LWS_CALLBACK_HTTP")]
    fn request(&self, cx: &HttpHandle, head: &Parts) -> Result<Self::Session, Response<Body>>;

    /// A piece of the request body (`LWS_CALLBACK_HTTP_BODY`). Return a
    /// response to answer at once (`400`, `413` ...), the rest unread.
    /// [`HttpHandle::pause_rx`] stops the pieces until
    /// [`HttpHandle::resume_rx`] (lws' RX flow control).
    #[doc(alias = "LWS_CALLBACK_HTTP_BODY")]
    fn body(
        &self,
        cx: &HttpHandle,
        session: &mut Self::Session,
        piece: &[u8],
    ) -> Result<(), Response<Body>> {
        let _ = (cx, session, piece);
        Ok(())
    }

    /// The request body is complete (`LWS_CALLBACK_HTTP_BODY_COMPLETION`):
    /// return the response head (status and headers; a `Content-Length`
    /// there must be what [`HttpHandler::writeable`] writes), or a whole
    /// response.
    #[doc(alias = "LWS_CALLBACK_HTTP_BODY_COMPLETION")]
    fn body_complete(
        &self,
        cx: &HttpHandle,
        session: &mut Self::Session,
    ) -> Result<Response<()>, Response<Body>>;

    /// The connection can take more of the response body
    /// (`LWS_CALLBACK_HTTP_WRITEABLE`): append it to `out`.
    #[doc(alias = "LWS_CALLBACK_HTTP_WRITEABLE")]
    fn writeable(
        &self,
        cx: &HttpHandle,
        session: &mut Self::Session,
        out: &mut BytesMut,
    ) -> Written {
        let _ = (cx, session, out);
        Written::Done
    }

    /// The exchange is over: answered, or the client went away
    /// (`LWS_CALLBACK_CLOSED_HTTP`).
    #[doc(alias = "LWS_CALLBACK_CLOSED_HTTP")]
    fn closed(&self, session: Self::Session) {
        let _ = session;
    }
}

/// A request's handle: its RX flow control, and a way to ask for
/// [`HttpHandler::writeable`] again after [`Written::Wait`]. Cloneable, and
/// usable from other threads.
#[derive(Debug, Clone, Default)]
pub struct HttpHandle(Arc<Control>);

#[derive(Debug, Default)]
struct Control {
    paused: AtomicBool,
    write_asked: AtomicBool,
    waker: Mutex<Option<Waker>>,
    peer: Option<std::net::SocketAddr>,
    tls: bool,
    /// The request path below the mountpoint.
    rest: String,
    /// The connection's state for this mount.
    conn: Option<Slot>,
}

impl HttpHandle {
    fn for_request(req: &OriginRequest<'_>) -> Self {
        HttpHandle(Arc::new(Control {
            peer: Some(req.peer()),
            tls: req.is_tls(),
            rest: req.path_in_mount().to_string(),
            conn: req.conn_slot(),
            ..Control::default()
        }))
    }

    /// The client's address.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.0.peer
    }

    /// Whether the request came over TLS.
    pub fn is_tls(&self) -> bool {
        self.0.tls
    }

    /// The request path below the mountpoint: empty or starting with `/`.
    pub fn path_in_mount(&self) -> &str {
        &self.0.rest
    }

    /// What the handler keeps for this connection while its requests stay
    /// under this mount (lws' per-connection protocol user space): made as
    /// `T::default()` on first use, the same one for every later request
    /// of the connection to the mount, and dropped when the connection asks
    /// for a path outside it (or the state asked for is of another type).
    /// `None` when the request has no connection of its own (an error
    /// document's). `T` keeps its own locks or atomics: HTTP/2 requests of
    /// one connection run side by side.
    pub fn connection_state<T: Default + Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let slot = self.0.conn.as_ref()?;
        let mut held = match slot.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(t) = held.as_ref().and_then(|s| s.clone().downcast::<T>().ok()) {
            return Some(t);
        }
        let t = Arc::new(T::default());
        *held = Some(t.clone());
        Some(t)
    }

    /// Stops reading the request body (lws' `lws_rx_flow_control(wsi, 0)`).
    #[doc(alias = "lws_rx_flow_control")]
    pub fn pause_rx(&self) {
        self.0.paused.store(true, Ordering::Release);
    }

    /// Reads the request body again.
    pub fn resume_rx(&self) {
        self.0.paused.store(false, Ordering::Release);
        self.wake();
    }

    /// Asks for [`HttpHandler::writeable`] (lws' `lws_callback_on_writable`).
    #[doc(alias = "lws_callback_on_writable")]
    pub fn writeable(&self) {
        self.0.write_asked.store(true, Ordering::Release);
        self.wake();
    }

    fn wake(&self) {
        if let Ok(mut w) = self.0.waker.lock() {
            if let Some(w) = w.take() {
                w.wake();
            }
        }
    }

    fn park(&self, cx: &Context<'_>) {
        if let Ok(mut w) = self.0.waker.lock() {
            *w = Some(cx.waker().clone());
        }
    }
}

/// The origin of a `callback://` mount: requests go to `H`'s callbacks.
#[derive(Debug)]
#[doc(alias = "LWSMPRO_CALLBACK")]
pub struct Callback<H>(Arc<H>);

impl<H: HttpHandler> Callback<H> {
    /// Serves the mount's requests with `handler`.
    pub fn new(handler: H) -> Self {
        Callback(Arc::new(handler))
    }
}

impl<H: HttpHandler + std::fmt::Debug> Origin for Callback<H> {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        let cx = HttpHandle::for_request(&req);
        Box::pin(drive(self.0.clone(), req.into_request(), cx))
    }
}

/// Runs one request through the handler's callbacks.
async fn drive<H: HttpHandler>(
    h: Arc<H>,
    req: http::Request<Body>,
    cx: HttpHandle,
) -> Response<Body> {
    let (head, mut body) = req.into_parts();
    let session = match h.request(&cx, &head) {
        Ok(s) => s,
        Err(r) => return r,
    };
    // The session is handed to `closed` however this ends, even when the
    // future is dropped (the client went away mid-upload).
    let mut guard = Session {
        h: h.clone(),
        s: Some(session),
    };
    loop {
        // RX flow control: no pieces while paused.
        std::future::poll_fn(|tcx| {
            if cx.0.paused.load(Ordering::Acquire) {
                cx.park(tcx);
                // Resumed between the check and the park: go on.
                if cx.0.paused.load(Ordering::Acquire) {
                    return Poll::Pending;
                }
            }
            Poll::Ready(())
        })
        .await;
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(frame) = frame else {
            // The upload broke off; nobody will read an answer.
            return text(StatusCode::BAD_REQUEST, "request body broke off");
        };
        if let (Ok(data), Some(s)) = (frame.into_data(), guard.s.as_mut()) {
            if let Err(r) = h.body(&cx, s, &data) {
                return r;
            }
        }
    }
    let Some(s) = guard.s.as_mut() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "no session");
    };
    let head = match h.body_complete(&cx, s) {
        Ok(head) => head,
        Err(r) => return r,
    };
    let (parts, ()) = head.into_parts();
    let body = Writing {
        session: guard,
        cx,
        done: false,
    };
    Response::from_parts(parts, body.boxed_unsync())
}

/// A session that goes to `closed` when dropped.
struct Session<H: HttpHandler> {
    h: Arc<H>,
    s: Option<H::Session>,
}

impl<H: HttpHandler> Drop for Session<H> {
    fn drop(&mut self) {
        if let Some(s) = self.s.take() {
            self.h.closed(s);
        }
    }
}

/// The response body: one `writeable` call per frame hyper asks for.
struct Writing<H: HttpHandler> {
    session: Session<H>,
    cx: HttpHandle,
    done: bool,
}

// Nothing in it is pinned: the session is only ever reached through `&mut`.
impl<H: HttpHandler> Unpin for Writing<H> {}

impl<H: HttpHandler> http_body::Body for Writing<H> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        tcx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let Some(s) = this.session.s.as_mut() else {
                return Poll::Ready(None);
            };
            this.cx.0.write_asked.store(false, Ordering::Release);
            let mut out = BytesMut::new();
            let w = this.session.h.writeable(&this.cx, s, &mut out);
            if w == Written::Done {
                this.done = true;
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
            }
            match w {
                Written::Done => return Poll::Ready(None),
                Written::More => continue,
                Written::Wait => {
                    this.cx.park(tcx);
                    if !this.cx.0.write_asked.load(Ordering::Acquire) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts body bytes, pausing after each piece until a timer resumes.
    #[derive(Debug)]
    struct Counter;

    impl HttpHandler for Counter {
        type Session = (u64, u32);

        fn request(&self, _: &HttpHandle, head: &Parts) -> Result<(u64, u32), Response<Body>> {
            if head.uri.path() == "/refuse" {
                return Err(text(StatusCode::FORBIDDEN, "no"));
            }
            Ok((0, 0))
        }

        fn body(
            &self,
            cx: &HttpHandle,
            s: &mut (u64, u32),
            piece: &[u8],
        ) -> Result<(), Response<Body>> {
            s.0 += piece.len() as u64;
            cx.pause_rx();
            let cx = cx.clone();
            tokio::spawn(async move { cx.resume_rx() });
            Ok(())
        }

        fn body_complete(
            &self,
            _: &HttpHandle,
            _: &mut (u64, u32),
        ) -> Result<Response<()>, Response<Body>> {
            Ok(Response::new(()))
        }

        fn writeable(&self, cx: &HttpHandle, s: &mut (u64, u32), out: &mut BytesMut) -> Written {
            s.1 += 1;
            match s.1 {
                1 => {
                    out.extend_from_slice(format!("{} bytes", s.0).as_bytes());
                    Written::More
                }
                2 => {
                    // Nothing now; asked again from elsewhere.
                    let cx = cx.clone();
                    tokio::spawn(async move { cx.writeable() });
                    Written::Wait
                }
                _ => {
                    out.extend_from_slice(b", done");
                    Written::Done
                }
            }
        }
    }

    #[tokio::test]
    async fn pieces_pauses_and_waits_come_in_order() {
        let h = Arc::new(Counter);
        let pieces: Vec<Result<Frame<Bytes>, std::io::Error>> = (0..5)
            .map(|_| Ok(Frame::data(Bytes::from_static(b"0123456789"))))
            .collect();
        let body = http_body_util::StreamBody::new(futures_util_stream(pieces)).boxed_unsync();
        let req = http::Request::post("/x").body(body).unwrap();
        let resp = drive(h.clone(), req, HttpHandle::default()).await;
        let got = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"50 bytes, done");
        let req = http::Request::get("/refuse")
            .body(super::super::response::empty())
            .unwrap();
        assert_eq!(
            drive(h, req, HttpHandle::default()).await.status(),
            StatusCode::FORBIDDEN
        );
    }

    fn futures_util_stream(
        v: Vec<Result<Frame<Bytes>, std::io::Error>>,
    ) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send {
        struct S(std::collections::VecDeque<Result<Frame<Bytes>, std::io::Error>>);
        impl futures_core::Stream for S {
            type Item = Result<Frame<Bytes>, std::io::Error>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                Poll::Ready(self.0.pop_front())
            }
        }
        S(v.into())
    }
}
