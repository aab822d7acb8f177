//! [`Redirect`]: a `301` to another URL (lwsws' `>https://...` origins).

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{text, Body};

/// Answers everything with `301 Moved Permanently` to a URL; with the
/// mount's `append_path`, the path below the mountpoint and the query are
/// appended to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "LWSMPRO_REDIR_HTTPS")]
pub struct Redirect {
    to: String,
}

impl Redirect {
    /// A redirect to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Redirect { to: url.into() }
    }

    /// The target URL.
    pub fn url(&self) -> &str {
        &self.to
    }
}

impl Origin for Redirect {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        let mut target = self.to.clone();
        if req.append_path() {
            let tail = req.path_in_mount().trim_start_matches('/');
            if !tail.is_empty() {
                if !target.ends_with('/') {
                    target.push('/');
                }
                target.push_str(tail);
            }
            if let Some(q) = req.request().uri().query() {
                target.push('?');
                target.push_str(q);
            }
        }
        Box::pin(std::future::ready(redirect(
            StatusCode::MOVED_PERMANENTLY,
            &target,
        )))
    }
}

/// A redirect response to `to`; 500 if `to` cannot be a header value.
pub(crate) fn redirect(status: StatusCode, to: &str) -> Response<Body> {
    match HeaderValue::from_str(to) {
        Ok(v) => {
            let mut r = text(status, to);
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "bad redirect target"),
    }
}

/// `301` to a directory's path with the trailing slash (and the query), so
/// relative links resolve below it.
pub fn into_directory(req: &OriginRequest<'_>) -> Response<Body> {
    let uri = req.request().uri();
    let to = match uri.query() {
        Some(q) => format!("{}/?{q}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    redirect(StatusCode::MOVED_PERMANENTLY, &to)
}
