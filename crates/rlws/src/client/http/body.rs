//! [`RequestBody`]: what a request sends: nothing, bytes, a file, a stream,
//! or a form (urlencoded or multipart, with file parts streamed from disk).
//! Always framed: a known length goes out as `Content-Length`, an unknown
//! one chunked (HTTP/1.1) or as DATA frames ending the stream (h2).

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Frame, SizeHint};
use tokio::io::AsyncRead;

/// A stream of body pieces.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// The body of a request.
pub struct RequestBody {
    inner: Inner,
    content_type: Option<String>,
    /// Bytes still to come when the length is known: a file or stream that
    /// yields another amount is an error, not a mis-framed request.
    remaining: Option<u64>,
}

enum Inner {
    Pieces {
        pieces: VecDeque<Piece>,
        len: u64,
        file: Option<tokio::fs::File>,
        file_left: u64,
    },
    Stream {
        stream: BodyStream,
        len: Option<u64>,
    },
    /// Written by `writeable` callbacks on a service thread.
    Writeable { len: Option<u64> },
}

/// One piece of a body made of bytes and files.
#[derive(Clone)]
enum Piece {
    Bytes(Bytes),
    File { path: PathBuf, len: u64 },
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Pieces { len, .. } => write!(f, "RequestBody({len} bytes)"),
            Inner::Stream { len, .. } => write!(f, "RequestBody(stream, {len:?} bytes)"),
            Inner::Writeable { len } => write!(f, "RequestBody(writeable, {len:?} bytes)"),
        }
    }
}

impl Default for RequestBody {
    fn default() -> Self {
        RequestBody::empty()
    }
}

impl From<Bytes> for RequestBody {
    fn from(b: Bytes) -> Self {
        RequestBody::bytes(b)
    }
}

impl From<Vec<u8>> for RequestBody {
    fn from(b: Vec<u8>) -> Self {
        RequestBody::bytes(b)
    }
}

impl From<String> for RequestBody {
    fn from(s: String) -> Self {
        RequestBody::bytes(s)
    }
}

impl From<&'static str> for RequestBody {
    fn from(s: &'static str) -> Self {
        RequestBody::bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl RequestBody {
    /// No body.
    pub fn empty() -> Self {
        RequestBody {
            inner: Inner::pieces(VecDeque::new(), 0),
            content_type: None,
            remaining: Some(0),
        }
    }

    /// These bytes.
    pub fn bytes(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        let len = b.len() as u64;
        RequestBody {
            inner: Inner::pieces(VecDeque::from([Piece::Bytes(b)]), len),
            content_type: None,
            remaining: Some(len),
        }
    }

    /// The contents of a file, read as it is sent (its length now, for
    /// `Content-Length`).
    pub fn file(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let len = std::fs::metadata(&path)?.len();
        Ok(RequestBody {
            inner: Inner::pieces(VecDeque::from([Piece::File { path, len }]), len),
            content_type: None,
            remaining: Some(len),
        })
    }

    /// Pieces from a stream; `len`, when known, is sent as `Content-Length`
    /// (a stream that then yields another amount fails the request). A
    /// streamed body cannot be sent again, so a 307/308 redirect of it is
    /// not followed.
    pub fn stream(stream: BodyStream, len: Option<u64>) -> Self {
        RequestBody {
            inner: Inner::Stream { stream, len },
            content_type: None,
            remaining: len,
        }
    }

    /// A body written piece by piece in [`super::HttpHandler::writeable`]
    /// callbacks, for requests started on a service thread
    /// ([`crate::Context::http_request`]); `len`, when known, is sent as
    /// `Content-Length`. Sent by the async API it fails the request.
    pub fn from_writeable(len: Option<u64>) -> Self {
        RequestBody {
            inner: Inner::Writeable { len },
            content_type: None,
            remaining: len,
        }
    }

    /// The length of a body to come from writeable callbacks.
    pub(crate) fn writeable_len(&self) -> Option<Option<u64>> {
        match self.inner {
            Inner::Writeable { len } => Some(len),
            _ => None,
        }
    }

    /// The `Content-Type` this body implies (forms set it).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The length, when known.
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Pieces { len, .. } => Some(*len),
            Inner::Stream { len, .. } | Inner::Writeable { len } => *len,
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// A copy to send again (after a redirect, on a new connection, to
    /// another URL), unless it is a stream or has started being sent.
    pub fn try_clone(&self) -> Option<RequestBody> {
        match &self.inner {
            // Only a body not yet sent from is copied.
            Inner::Pieces {
                pieces,
                len,
                file: None,
                ..
            } if self.remaining == Some(*len) => Some(RequestBody {
                inner: Inner::pieces(pieces.clone(), *len),
                content_type: self.content_type.clone(),
                remaining: Some(*len),
            }),
            Inner::Pieces { .. } | Inner::Stream { .. } | Inner::Writeable { .. } => None,
        }
    }

    /// `application/x-www-form-urlencoded` from name/value pairs.
    pub fn urlencoded<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        let mut s = String::new();
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                s.push('&');
            }
            form_encode(k.as_ref(), &mut s);
            s.push('=');
            form_encode(v.as_ref(), &mut s);
        }
        let mut b = RequestBody::bytes(s);
        b.content_type = Some("application/x-www-form-urlencoded".into());
        b
    }
}

impl Inner {
    fn pieces(pieces: VecDeque<Piece>, len: u64) -> Inner {
        Inner::Pieces {
            pieces,
            len,
            file: None,
            file_left: 0,
        }
    }
}

/// Percent-encodes for a form: unreserved characters as they are, space as
/// `+`, everything else `%XX`.
fn form_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// A `multipart/form-data` body under construction (RFC 7578): text fields
/// and files, the files streamed from disk when the request is sent.
#[derive(Debug, Clone)]
pub struct Multipart {
    boundary: String,
    parts: Vec<PartOut>,
}

#[derive(Debug, Clone)]
enum PartOut {
    Bytes(Bytes),
    File(PathBuf, u64),
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart::new()
    }
}

impl Multipart {
    /// An empty form with a random boundary.
    pub fn new() -> Multipart {
        Multipart {
            boundary: format!(
                "rlws-{:016x}{:016x}",
                rlws_ws::mask::random_u64(),
                rlws_ws::mask::random_u64()
            ),
            parts: Vec::new(),
        }
    }

    /// The boundary.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// A text field.
    pub fn text(mut self, name: &str, value: &str) -> Multipart {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
            self.boundary,
            quote(name)
        );
        self.parts.push(PartOut::Bytes(head.into()));
        self
    }

    /// A file field: `filename` is the file's name, the type guessed from it.
    pub fn file(mut self, name: &str, path: impl AsRef<Path>) -> io::Result<Multipart> {
        let path = path.as_ref();
        let len = std::fs::metadata(path)?.len();
        let filename = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
            self.boundary,
            quote(name),
            quote(&filename)
        );
        self.parts.push(PartOut::Bytes(head.into()));
        self.parts.push(PartOut::File(path.to_path_buf(), len));
        self.parts.push(PartOut::Bytes(Bytes::from_static(b"\r\n")));
        Ok(self)
    }

    /// A field whose contents are these bytes, sent as a file named `filename`.
    pub fn bytes(
        mut self,
        name: &str,
        filename: &str,
        content_type: &str,
        data: impl Into<Bytes>,
    ) -> Multipart {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
            self.boundary,
            quote(name),
            quote(filename)
        );
        self.parts.push(PartOut::Bytes(head.into()));
        self.parts.push(PartOut::Bytes(data.into()));
        self.parts.push(PartOut::Bytes(Bytes::from_static(b"\r\n")));
        self
    }

    /// The finished body, with its `Content-Type` and length.
    pub fn into_body(self) -> RequestBody {
        let mut pieces: VecDeque<Piece> = self
            .parts
            .into_iter()
            .map(|p| match p {
                PartOut::Bytes(b) => Piece::Bytes(b),
                PartOut::File(path, len) => Piece::File { path, len },
            })
            .collect();
        pieces.push_back(Piece::Bytes(format!("--{}--\r\n", self.boundary).into()));
        let len = pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::File { len, .. } => *len,
            })
            .sum();
        RequestBody {
            inner: Inner::pieces(pieces, len),
            content_type: Some(format!("multipart/form-data; boundary={}", self.boundary)),
            remaining: Some(len),
        }
    }
}

impl From<Multipart> for RequestBody {
    fn from(m: Multipart) -> Self {
        m.into_body()
    }
}

/// Escapes `"` and line breaks in a quoted parameter (RFC 7578 §4.2 has
/// browsers percent-encode them).
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

const FILE_PIECE: usize = 64 * 1024;

impl RequestBody {
    fn check(&mut self, n: usize) -> Result<(), io::Error> {
        if let Some(r) = self.remaining.as_mut() {
            *r = r.checked_sub(n as u64).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request body longer than its length",
                )
            })?;
        }
        Ok(())
    }

    fn ended(&self) -> Result<(), io::Error> {
        match self.remaining {
            Some(r) if r > 0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "request body shorter than its length",
            )),
            _ => Ok(()),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            let next = match &mut this.inner {
                Inner::Writeable { .. } => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "a body from writeable callbacks needs a request started on a Context",
                    ))))
                }
                Inner::Stream { stream: s, .. } => match s.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => None,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => continue,
                    Poll::Ready(Some(Ok(b))) => Some(b),
                },
                Inner::Pieces {
                    pieces,
                    file,
                    file_left,
                    ..
                } => {
                    if let Some(f) = file {
                        let want = (*file_left).min(FILE_PIECE as u64) as usize;
                        let mut buf = BytesMut::zeroed(want);
                        let mut rb = tokio::io::ReadBuf::new(&mut buf);
                        match Pin::new(f).poll_read(cx, &mut rb) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                            Poll::Ready(Ok(())) => {}
                        }
                        let n = rb.filled().len();
                        if n == 0 {
                            return Poll::Ready(Some(Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shrank while being sent",
                            ))));
                        }
                        *file_left -= n as u64;
                        if *file_left == 0 {
                            *file = None;
                        }
                        buf.truncate(n);
                        Some(buf.freeze())
                    } else {
                        match pieces.pop_front() {
                            None => None,
                            Some(Piece::Bytes(b)) if b.is_empty() => continue,
                            Some(Piece::Bytes(b)) => Some(b),
                            Some(Piece::File { path, len }) => {
                                if len > 0 {
                                    // A local open; the reads go through
                                    // tokio's blocking pool.
                                    match std::fs::File::open(&path) {
                                        Ok(f) => {
                                            *file = Some(tokio::fs::File::from_std(f));
                                            *file_left = len;
                                        }
                                        Err(e) => return Poll::Ready(Some(Err(e))),
                                    }
                                }
                                continue;
                            }
                        }
                    }
                }
            };
            return Poll::Ready(match next {
                None => match this.ended() {
                    Ok(()) => None,
                    Err(e) => Some(Err(e)),
                },
                Some(b) => match this.check(b.len()) {
                    Ok(()) => Some(Ok(Frame::data(b))),
                    Err(e) => Some(Err(e)),
                },
            });
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.len() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn collect(b: RequestBody) -> Result<Vec<u8>, io::Error> {
        Ok(b.collect().await?.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn forms_and_files() {
        let b = RequestBody::urlencoded(&[("a b", "c&d=é"), ("x", "")]);
        assert_eq!(b.content_type(), Some("application/x-www-form-urlencoded"));
        assert_eq!(collect(b).await.unwrap(), b"a+b=c%26d%3D%C3%A9&x=");

        let dir = std::env::temp_dir().join(format!("rlws-body-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.txt");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = RequestBody::file(&path).unwrap();
        assert_eq!(f.len(), Some(200_000));
        assert_eq!(collect(f.try_clone().unwrap()).await.unwrap(), data);

        let m = Multipart::new()
            .text("name", "value")
            .file("up", &path)
            .unwrap();
        let boundary = m.boundary().to_string();
        let body = m.into_body();
        let len = body.len().unwrap();
        let out = collect(body).await.unwrap();
        assert_eq!(out.len() as u64, len);
        let text = String::from_utf8_lossy(&out[..300]).into_owned();
        assert!(
            text.starts_with(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nvalue\r\n"
            )),
            "{text}"
        );
        assert!(
            text.contains("filename=\"data.txt\"\r\nContent-Type: text/plain\r\n\r\n"),
            "{text}"
        );
        assert!(out.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));

        // A file that changes length between building and sending fails
        // the body instead of mis-framing it.
        let f = RequestBody::file(&path).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert!(collect(f).await.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn stream_length_is_checked() {
        let s = futures_util_stream(vec![Bytes::from_static(b"abc"), Bytes::from_static(b"def")]);
        assert_eq!(
            collect(RequestBody::stream(s, None)).await.unwrap(),
            b"abcdef"
        );
        let s = futures_util_stream(vec![Bytes::from_static(b"abc")]);
        assert!(collect(RequestBody::stream(s, Some(4))).await.is_err());
        let s = futures_util_stream(vec![Bytes::from_static(b"abcde")]);
        assert!(collect(RequestBody::stream(s, Some(4))).await.is_err());
    }

    fn futures_util_stream(v: Vec<Bytes>) -> BodyStream {
        struct It(std::vec::IntoIter<Bytes>);
        impl Stream for It {
            type Item = Result<Bytes, io::Error>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                Poll::Ready(self.0.next().map(Ok))
            }
        }
        Box::pin(It(v.into_iter()))
    }
}
