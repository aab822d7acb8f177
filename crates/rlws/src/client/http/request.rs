//! [`Request`]: method, URL, headers, body, and the options one request may
//! set differently from its client.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use super::body::{Multipart, RequestBody};
use super::error::HttpError;
use super::{HttpVersion, RedirectHook, RedirectStep};
use crate::client::url::{Scheme, Url, UrlError, UrlProblem};

/// An HTTP request to send with [`super::HttpClient::request`].
#[derive(Debug)]
pub struct Request {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) body: RequestBody,
    pub(super) opts: Options,
    /// A header that could not be added, reported when sending.
    pub(super) error: Option<HttpError>,
}

/// Per-request settings; `None` takes the client's.
#[derive(Clone, Default)]
pub(super) struct Options {
    pub share: Option<bool>,
    pub timeout: Option<Duration>,
    pub version: Option<HttpVersion>,
    pub follow: Option<bool>,
    pub gzip: Option<bool>,
    pub redirect_hook: Option<RedirectHook>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("share", &self.share)
            .field("timeout", &self.timeout)
            .field("version", &self.version)
            .field("follow", &self.follow)
            .field("gzip", &self.gzip)
            .field("redirect_hook", &self.redirect_hook.is_some())
            .finish()
    }
}

impl Request {
    /// A request for an `http://` or `https://` URL.
    pub fn new(method: Method, url: &str) -> Result<Request, UrlError> {
        let parsed = Url::parse(url)?;
        if !matches!(parsed.scheme(), Scheme::Http | Scheme::Https) {
            let s = parsed.scheme().as_str().to_string();
            return Err(UrlError::new(url, UrlProblem::Scheme(s)));
        }
        Ok(Request::to(method, parsed))
    }

    /// A request for a parsed URL.
    pub(crate) fn to(method: Method, url: Url) -> Request {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: RequestBody::empty(),
            opts: Options::default(),
            error: None,
        }
    }

    /// A `GET`.
    pub fn get(url: &str) -> Result<Request, UrlError> {
        Request::new(Method::GET, url)
    }

    /// A `POST` (give it a body).
    pub fn post(url: &str) -> Result<Request, UrlError> {
        Request::new(Method::POST, url)
    }

    /// Adds a header (a name or value that cannot be sent fails the request
    /// when it is sent).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error.get_or_insert(HttpError::Request(format!(
                    "header {name:?} cannot be sent"
                )));
            }
        }
        self
    }

    /// Adds a header already made (values with bytes beyond visible ASCII
    /// included).
    pub(crate) fn header_value(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (its `Content-Type`, if it implies one, unless a
    /// header sets another).
    pub fn body(mut self, body: impl Into<RequestBody>) -> Request {
        self.body = body.into();
        self
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Request {
        self.body(RequestBody::urlencoded(pairs))
    }

    /// A `multipart/form-data` body.
    pub fn multipart(self, form: Multipart) -> Request {
        self.body(form.into_body())
    }

    /// Shares a connection with other requests to the same place (lws'
    /// `LCCSCF_PIPELINE`), or not.
    pub fn share(mut self, share: bool) -> Request {
        self.opts.share = Some(share);
        self
    }

    /// The time allowed for the whole request, body included.
    pub fn timeout(mut self, t: Duration) -> Request {
        self.opts.timeout = Some(t);
        self
    }

    /// The HTTP version to use.
    pub fn version(mut self, v: HttpVersion) -> Request {
        self.opts.version = Some(v);
        self
    }

    /// Follows redirects, or not.
    pub fn follow_redirects(mut self, follow: bool) -> Request {
        self.opts.follow = Some(follow);
        self
    }

    /// Asked before each redirect of this request is followed, instead of
    /// the client's hook: false stops there (the redirect response is the
    /// answer). It sees each redirect response's head.
    pub fn redirect_hook(
        mut self,
        hook: impl Fn(&RedirectStep<'_>) -> bool + Send + Sync + 'static,
    ) -> Request {
        self.opts.redirect_hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// Asks for a gzip-encoded body and decodes it, or not.
    pub fn gzip(mut self, gzip: bool) -> Request {
        self.opts.gzip = Some(gzip);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers set so far.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}
