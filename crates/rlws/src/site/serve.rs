//! Answering a request from a vhost's mounts: the longest mountpoint that
//! is a whole-segment prefix of the path picks the origin; the mount's
//! headers go on what it answers.

use std::rc::Rc;

use http::header;
use http::{Request, Response, StatusCode};

use super::mount::{find, MountRt};
use super::origin::{Link, OriginRequest};
use super::response::Body;
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
    let Some((m, rest_at)) = find(mounts, path).map(|(m, rest)| (m, path.len() - rest.len()))
    else {
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
