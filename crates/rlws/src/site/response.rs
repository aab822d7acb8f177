//! The response body type of origins, and small responses.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};

/// A request or response body: a boxed stream of byte chunks (it need not
/// be `Send`: bodies live on their connection's service thread).
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// A body of `b`, whole.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A short plain-text response (`msg` and a line feed).
pub fn text(status: StatusCode, msg: &str) -> Response<Body> {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The `404 Not Found` page.
pub fn not_found() -> Response<Body> {
    let mut r = Response::new(full(Bytes::from_static(NOT_FOUND)));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

const NOT_FOUND: &[u8] = b"<!doctype html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>404 Not Found</h1></body></html>\n";

/// A body that is empty.
pub fn empty() -> Body {
    full(Bytes::new())
}
