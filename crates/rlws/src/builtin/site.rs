//! The test site's page and scripts, embedded in the binary, as an [`Origin`].

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::site::{full, into_directory, text, Body, BoxFuture, Origin, OriginRequest};

/// The built-in test page (counter, shared drawing, echo box, connection
/// list) with its scripts, embedded in the binary: what `rlws serve` shows
/// at `/`, and lwsws' `builtin://test-site`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TestSite;

const FILES: &[(&str, &[u8], &str)] = &[
    (
        "/index.html",
        include_bytes!("../../assets/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "/test.js",
        include_bytes!("../../assets/test.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/lws-common.js",
        include_bytes!("../../assets/lws-common.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/style.css",
        include_bytes!("../../assets/style.css"),
        "text/css; charset=utf-8",
    ),
    (
        "/404.html",
        include_bytes!("../../assets/404.html"),
        "text/html; charset=utf-8",
    ),
];

impl TestSite {
    fn answer(&self, req: &OriginRequest<'_>) -> Response<Body> {
        let method = req.request().method();
        if method != Method::GET && method != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let rest = req.path_in_mount();
        if rest.is_empty() {
            return into_directory(req);
        }
        let name = if rest.ends_with('/') {
            format!("{rest}{}", req.default_document())
        } else {
            rest.to_string()
        };
        let (status, (body, mime)) = match file(&name) {
            Some(f) => (StatusCode::OK, f),
            None => (
                StatusCode::NOT_FOUND,
                file("/404.html").unwrap_or((b"404 Not Found\n", "text/plain")),
            ),
        };
        let mut r = Response::new(full(Bytes::from_static(body)));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        r
    }
}

impl Origin for TestSite {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        Box::pin(std::future::ready(self.answer(&req)))
    }
}

/// The embedded file at `path`, with its MIME type.
fn file(path: &str) -> Option<(&'static [u8], &'static str)> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, b, m)| (*b, *m))
}
