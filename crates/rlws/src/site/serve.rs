//! Answering a request from a vhost's mounts.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

use super::embedded;
use super::file::file;
use super::mount::{find, MountRt, Origin};
use super::response::{full, text, Body};

/// Serves `req_path` (with `query`) from the vhost's mounts; `None` when no
/// mount covers it.
pub(crate) fn serve(
    mounts: &[MountRt],
    method: &Method,
    req_path: &str,
    query: Option<&str>,
    if_none_match: Option<&HeaderValue>,
) -> Option<Response<Body>> {
    let (m, rest) = find(mounts, req_path)?;
    let mut resp = match &m.origin {
        Origin::Redirect(to) => {
            let mut target = to.clone();
            if m.append_path {
                let tail = rest.trim_start_matches('/');
                if !tail.is_empty() {
                    if !target.ends_with('/') {
                        target.push('/');
                    }
                    target.push_str(tail);
                }
                if let Some(q) = query {
                    target.push('?');
                    target.push_str(q);
                }
            }
            redirect(StatusCode::MOVED_PERMANENTLY, &target)
        }
        _ if method != Method::GET && method != Method::HEAD => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        // The mount's directory itself: send the client into it, so
        // relative links resolve below the mountpoint.
        _ if rest.is_empty() => into_dir(req_path, query),
        Origin::Embedded => {
            let name = if rest.ends_with('/') {
                format!("{rest}{}", m.default_doc)
            } else {
                rest.to_string()
            };
            match embedded::get(&name) {
                Some((body, mime)) => {
                    let mut r = Response::new(full(Bytes::from_static(body)));
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
                    r
                }
                None => return Some(not_found()),
            }
        }
        Origin::Dir(root) => match file(m, root, req_path, rest, query, if_none_match) {
            Some(r) => r,
            None => return Some(not_found()),
        },
    };
    let content = resp_is_content(resp.status());
    let h = resp.headers_mut();
    if content {
        if let Some(cc) = &m.cache_control {
            h.insert(header::CACHE_CONTROL, cc.clone());
        }
    }
    for (k, v) in &m.headers {
        h.append(k, v.clone());
    }
    Some(resp)
}

fn resp_is_content(s: StatusCode) -> bool {
    s == StatusCode::OK || s == StatusCode::NOT_MODIFIED
}

pub(super) fn redirect(status: StatusCode, to: &str) -> Response<Body> {
    let mut r = text(status, to);
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `301` to a directory's path with the trailing slash (and the query).
pub(super) fn into_dir(req_path: &str, query: Option<&str>) -> Response<Body> {
    let to = match query {
        Some(q) => format!("{req_path}/?{q}"),
        None => format!("{req_path}/"),
    };
    redirect(StatusCode::MOVED_PERMANENTLY, &to)
}

/// The built-in 404 page.
pub(crate) fn not_found() -> Response<Body> {
    let (body, mime) = embedded::get("/404.html").unwrap_or((b"404 Not Found\n", "text/plain"));
    let mut r = Response::new(full(Bytes::from_static(body)));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    r
}
