//! Answering a request from a vhost's mounts: the longest mountpoint that
//! is a whole-segment prefix of the path picks the origin; the mount's
//! headers go on what it answers.

use std::rc::Rc;

use http::header;
use http::{Request, Response, StatusCode};

use super::mount::{find, MountRt};
use super::origin::{Link, OriginRequest};
use super::response::{text, Body};
use crate::runtime::ConnTimeout;

/// Serves `req` from the vhost's mounts; `Err(req)` when no mount covers
/// its path.
pub(crate) async fn serve(
    mounts: &[MountRt],
    req: Request<Body>,
    conn: Link,
    timeout: &Rc<ConnTimeout>,
) -> Result<Response<Body>, Request<Body>> {
    let path = req.uri().path();
    if !plain_path(path) {
        // `..` could leave the mount it matched (and a proxy's base path
        // on the backend, which would resolve it); no browser sends one.
        return Ok(text(StatusCode::BAD_REQUEST, "bad path"));
    }
    let found = find(mounts, path).map(|(m, rest)| (m, path.len() - rest.len()));
    // Leaving a callback mount's URL area drops what it kept for the connection.
    if let Some(c) = &conn.state {
        c.conn_state().request_for(found.map(|(m, _)| m.id));
    }
    let Some((m, rest_at)) = found else {
        return Err(req);
    };
    let oreq = OriginRequest {
        request: req,
        rest_at,
        mount: m,
        conn,
        timeout: timeout.clone(),
    };
    let mut resp = m.origin.serve(oreq).await;
    let content = matches!(
        resp.status(),
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
    );
    let h = resp.headers_mut();
    if content {
        if let Some(cc) = &m.cache_control {
            h.insert(header::CACHE_CONTROL, cc.clone());
        }
    }
    for (k, v) in &m.headers {
        h.append(k, v.clone());
    }
    Ok(resp)
}

/// Whether `path` has no dot-segments (`.` or `..`, also written `%2e`) and
/// no NUL (`%00`): a path every mount and origin can take as it is.
pub(crate) fn plain_path(path: &str) -> bool {
    // Byte by byte, allocating nothing: this runs for every request.
    let dots = |seg: &[u8]| {
        let mut n = 0;
        let mut i = 0;
        while i < seg.len() {
            if seg[i] == b'.' {
                i += 1;
            } else if seg[i] == b'%'
                && seg.get(i + 1) == Some(&b'2')
                && seg
                    .get(i + 2)
                    .is_some_and(|c| c.eq_ignore_ascii_case(&b'e'))
            {
                i += 3;
            } else {
                return false;
            }
            n += 1;
        }
        n == 1 || n == 2
    };
    let b = path.as_bytes();
    !b.windows(3).any(|w| w == b"%00") && !b.split(|&c| c == b'/').any(dots)
}

#[cfg(test)]
mod tests {
    use super::plain_path;

    #[test]
    fn dot_segments_and_nul_are_not_plain() {
        for ok in ["/", "/a/b", "/a.b/c..d/", "/.well-known/x", "/a%2eb"] {
            assert!(plain_path(ok), "{ok}");
        }
        for bad in [
            "/a/../b",
            "/..",
            "/a/./b",
            "/a/%2e%2E/b",
            "/%2e/",
            "/a%00b",
            "/a/..",
        ] {
            assert!(!plain_path(bad), "{bad}");
        }
    }
}
