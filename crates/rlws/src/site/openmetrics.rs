//! [`OpenMetrics`]: the context's counts for a Prometheus scraper (lws'
//! `lws-openmetrics` plugin, its direct listener).

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};

use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{empty, full, text, Body};
use crate::runtime::exposition;

/// Serves the context's counts in the Prometheus text format: connections
/// (accepted, refused, open per service thread); per vhost, HTTP responses
/// by status class, request and response body bytes and WebSocket upgrades;
/// per WebSocket protocol, connections, messages and payload bytes each way.
///
/// Mount it where the scraper looks (`Mount::new("/metrics", OpenMetrics)`,
/// or in lwsws' configuration `"origin": "callback://lws-openmetrics"`).
/// [`crate::Context::metrics_text`] gives the same text to code that
/// serves it some other way.
#[doc(alias = "lws-openmetrics")]
#[doc(alias = "lws_metrics")]
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenMetrics;

impl Origin for OpenMetrics {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        Box::pin(async move {
            let head = match *req.request().method() {
                Method::GET => false,
                Method::HEAD => true,
                _ => {
                    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                    return r;
                }
            };
            let Some(shared) = req.shared() else {
                return text(StatusCode::SERVICE_UNAVAILABLE, "no metrics here");
            };
            let body = exposition::render(shared);
            let len = body.len();
            let mut r = Response::new(if head { empty() } else { full(body) });
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(exposition::CONTENT_TYPE),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        })
    }
}
