//! [`Response`] and its [`ResponseBody`]: read as the consumer asks for it
//! (a body nobody polls is not read from the socket: TCP or h2 flow control
//! pushes back on the server), gzip decoded when asked, under the idle and
//! overall timeouts.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body, Frame};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::error::HttpError;
use super::pool::{ConnInfo, StreamGuard, H1, H2};
use crate::client::url::Url;

/// A response: status, headers, and the body still to be read.
#[derive(Debug)]
pub struct Response {
    pub(super) status: StatusCode,
    pub(super) reason: Option<String>,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) url: Url,
    pub(super) conn: ConnInfo,
    pub(super) redirects: u32,
    pub(super) body: ResponseBody,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason phrase the server sent (HTTP/1.x), or the standard one
    /// for the status.
    pub fn reason(&self) -> &str {
        self.reason
            .as_deref()
            .or(self.status.canonical_reason())
            .unwrap_or("")
    }

    /// The HTTP version it came over.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers (for a gzip-decoded body, without `Content-Encoding` and
    /// `Content-Length`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL that answered (after redirects).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// How many redirects were followed to get here.
    pub fn redirects(&self) -> u32 {
        self.redirects
    }

    /// Which connection carried it, and its how-manieth transaction it was.
    pub fn connection(&self) -> ConnInfo {
        self.conn
    }

    /// The body.
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// The body, leaving the head.
    pub fn into_body(self) -> ResponseBody {
        self.body
    }

    /// Reads the whole body.
    pub async fn bytes(self) -> Result<Bytes, HttpError> {
        self.body.bytes().await
    }

    /// Reads the whole body as UTF-8 (invalid sequences replaced).
    pub async fn text(self) -> Result<String, HttpError> {
        Ok(String::from_utf8_lossy(&self.body.bytes().await?).into_owned())
    }
}

/// The body of a [`Response`]: a `Stream` of byte pieces and an
/// [`http_body::Body`], read on demand.
pub struct ResponseBody {
    inner: Option<Incoming>,
    /// A connection of this request's own, kept open until its body ends.
    _keep: Option<Keep>,
    gunzip: Option<Gunzip>,
    idle: Option<Duration>,
    idle_timer: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    deadline: Option<Pin<Box<Sleep>>>,
    done: bool,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("gzip", &self.gunzip.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ResponseBody {
    pub(super) fn new(
        inner: Incoming,
        gzip: bool,
        idle: Option<Duration>,
        deadline: Option<Instant>,
        keep: Option<Keep>,
    ) -> Self {
        ResponseBody {
            inner: Some(inner),
            _keep: keep,
            gunzip: gzip.then(Gunzip::new),
            idle,
            idle_timer: None,
            waiting: false,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            done: false,
        }
    }

    /// An empty body (HEAD, 204, 304).
    pub(super) fn empty() -> Self {
        ResponseBody {
            inner: None,
            _keep: None,
            gunzip: None,
            idle: None,
            idle_timer: None,
            waiting: false,
            deadline: None,
            done: true,
        }
    }

    /// The next piece, `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// Reads the rest of the body.
    pub async fn bytes(mut self) -> Result<Bytes, HttpError> {
        let mut all = bytes::BytesMut::new();
        while let Some(c) = self.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }

    /// Reads and drops the rest of the body, at most `limit` bytes (so a
    /// short redirect body leaves its connection reusable); false when
    /// there was more.
    pub(super) async fn drain(&mut self, limit: usize) -> bool {
        let mut seen = 0;
        loop {
            match self.chunk().await {
                Ok(Some(c)) => {
                    seen += c.len();
                    if seen > limit {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    }

    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, HttpError>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(HttpError::Body(e)))),
                Poll::Ready(Some(Ok(f))) => match f.into_data() {
                    Ok(d) if d.is_empty() => continue,
                    Ok(d) => return Poll::Ready(Some(Ok(d))),
                    // Trailers: not part of the body.
                    Err(_) => continue,
                },
            }
        }
    }

    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(d) = self.deadline.as_mut() {
            if d.as_mut().poll(cx).is_ready() {
                return true;
            }
        }
        if let Some(idle) = self.idle {
            // The idle clock runs only while we wait for the server, not
            // while the consumer does not ask.
            let t = self
                .idle_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
            if !self.waiting {
                t.as_mut().reset(Instant::now() + idle);
                self.waiting = true;
            }
            if t.as_mut().poll(cx).is_ready() {
                return true;
            }
        }
        false
    }
}

impl Stream for ResponseBody {
    type Item = Result<Bytes, HttpError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            // Output the decoder already has goes first.
            if let Some(g) = this.gunzip.as_mut() {
                match g.output() {
                    Ok(Some(b)) => return Poll::Ready(Some(Ok(b))),
                    Ok(None) => {}
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            let r = match this.poll_raw(cx) {
                Poll::Pending => {
                    if this.timed_out(cx) {
                        this.done = true;
                        this.inner = None;
                        this._keep = None;
                        return Poll::Ready(Some(Err(HttpError::Timeout)));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(r) => r,
            };
            this.waiting = false;
            match (r, this.gunzip.as_mut()) {
                (Some(Ok(b)), None) => return Poll::Ready(Some(Ok(b))),
                (Some(Ok(b)), Some(g)) => g.input(b),
                (Some(Err(e)), _) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                (None, None) => {
                    this.done = true;
                    this._keep = None;
                    return Poll::Ready(None);
                }
                (None, Some(g)) => {
                    this.done = true;
                    this._keep = None;
                    return Poll::Ready(match g.finish() {
                        Ok(Some(b)) => Some(Ok(b)),
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    });
                }
            }
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        self.poll_next(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// What a response body holds on to until it ends: the sending half of a
/// connection no other request uses, or its place among a shared h2
/// connection's open streams.
pub(super) enum Keep {
    H1(#[allow(dead_code)] H1),
    H2(#[allow(dead_code)] H2),
    Stream(#[allow(dead_code)] StreamGuard),
}

/// gzip decoding in bounded steps: at most `STEP` compressed bytes are
/// inflated per output piece, so a small compressed piece cannot make one
/// huge allocation (at most about 1 000 × `STEP`).
struct Gunzip {
    dec: flate2::write::MultiGzDecoder<Vec<u8>>,
    pending: Bytes,
}

const STEP: usize = 4096;

impl Gunzip {
    fn new() -> Self {
        Gunzip {
            dec: flate2::write::MultiGzDecoder::new(Vec::new()),
            pending: Bytes::new(),
        }
    }

    fn input(&mut self, b: Bytes) {
        self.pending = b;
    }

    fn take(&mut self) -> Option<Bytes> {
        let out = std::mem::take(self.dec.get_mut());
        (!out.is_empty()).then(|| Bytes::from(out))
    }

    fn output(&mut self) -> Result<Option<Bytes>, HttpError> {
        while !self.pending.is_empty() {
            let n = self.pending.len().min(STEP);
            let piece = self.pending.split_to(n);
            self.dec.write_all(&piece).map_err(HttpError::Decode)?;
            if let Some(b) = self.take() {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    fn finish(&mut self) -> Result<Option<Bytes>, HttpError> {
        self.dec.try_finish().map_err(HttpError::Decode)?;
        Ok(self.take())
    }
}
