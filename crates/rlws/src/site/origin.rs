//! [`Origin`]: what serves the requests under a mount, as an open async
//! interface. Directories ([`Files`]), redirects ([`Redirect`]) and the test
//! site are implementations; CGI, reverse proxies, zip archives and user
//! handlers are written the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

use crate::runtime::{ConnTimeout, LiveGuard, Shared};

use http::header::HeaderValue;
use http::{Request, Response};

use super::conn_state::{HasConnState, Slot};
use super::mount::MountRt;
use super::response::Body;

/// A boxed future that need not be `Send`: origins run on the service thread
/// of the connection they answer.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What serves the requests under a [`crate::Mount`] (lwsws' mount origins:
/// `file://`, `>https://`, `callback://`, `cgi://`, `http://` ...).
///
/// An origin gets the request with its body as a stream and returns a
/// response whose body is a stream too, so it can answer a large upload or
/// send a large file in pieces, at the pace the peer reads. It runs on the
/// service thread of the connection, like lws' callbacks: blocking in it
/// stalls every connection of that thread.
///
/// The mount adds its `Cache-Control` (to 200 and 304 answers) and its extra
/// headers; the server adds `Server` and the vhost's headers.
#[doc(alias = "origin_protocol")]
pub trait Origin: std::fmt::Debug + Send + Sync + 'static {
    /// Answers `req`.
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>>;

    /// The WebSocket protocol that upgrades under this mount run when the
    /// client names none of the vhost's subprotocols; `None` (the default):
    /// the vhost's default protocol.
    fn websocket_protocol(&self) -> Option<&str> {
        None
    }

    /// Whether WebSocket upgrades under this mount come to
    /// [`Origin::serve`] (as a proxy takes them on to its backend) instead
    /// of to the vhost's protocols. Default: no.
    fn handles_upgrades(&self) -> bool {
        false
    }
}

/// A request as an [`Origin`] sees it: the request itself (its body
/// streaming), where it falls in the mount, and the mount's settings.
#[derive(Debug)]
pub struct OriginRequest<'a> {
    pub(super) request: Request<Body>,
    /// Byte offset of the path below the mountpoint in the request path.
    pub(super) rest_at: usize,
    pub(super) mount: &'a MountRt,
    pub(super) conn: Link,
    pub(super) timeout: Rc<ConnTimeout>,
}

/// The connection a request came on, as its origin sees it.
#[derive(Clone)]
pub(crate) struct Link {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The server's end (absent on adopted Unix sockets).
    pub(crate) local: Option<SocketAddr>,
    /// Whether it is TLS.
    pub(crate) tls: bool,
    /// Counts the connection as one of its thread's while held (a tunnel
    /// that outlives the request keeps it).
    pub(crate) guard: Option<Rc<LiveGuard>>,
    /// What callback mounts keep for the connection across its requests
    /// (absent for the error document's inner request).
    pub(crate) state: Option<Rc<dyn HasConnState>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl OriginRequest<'_> {
    /// The request (method, URI, headers, body).
    pub fn request(&self) -> &Request<Body> {
        &self.request
    }

    /// Takes the request, to read its body.
    pub fn into_request(self) -> Request<Body> {
        self.request
    }

    /// The request path below the mountpoint: empty (the mountpoint itself)
    /// or starting with `/`.
    pub fn path_in_mount(&self) -> &str {
        self.request.uri().path().get(self.rest_at..).unwrap_or("")
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.conn.peer
    }

    /// The server's address of the connection (`None` on an adopted Unix
    /// socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.conn.local
    }

    /// Whether the request came over TLS.
    pub fn is_tls(&self) -> bool {
        self.conn.tls
    }

    /// The connection's place in its thread's count, for work that
    /// outlives the request (a WebSocket tunnel).
    pub(crate) fn live_guard(&self) -> Option<Rc<LiveGuard>> {
        self.conn.guard.clone()
    }

    /// What the service threads share (absent for the error document's
    /// inner request, which has no connection of its own).
    pub(crate) fn shared(&self) -> Option<&Shared> {
        self.conn.guard.as_deref().map(|g| &**g.shared())
    }

    /// The mount's URL path (`/` for the root mount), without a trailing `/`.
    pub fn mountpoint(&self) -> &str {
        if self.mount.mountpoint.is_empty() {
            "/"
        } else {
            &self.mount.mountpoint
        }
    }

    /// Closes the connection this request came on `after` from now unless
    /// set again or cancelled; `reason` is logged (lws' `lws_set_timeout`
    /// on an HTTP connection). With HTTP/2 it closes the whole connection.
    #[doc(alias = "lws_set_timeout")]
    pub fn set_timeout(&self, reason: &'static str, after: std::time::Duration) {
        self.timeout.set(reason, after);
    }

    /// Cancels [`OriginRequest::set_timeout`].
    pub fn cancel_timeout(&self) {
        self.timeout.cancel();
    }

    /// The connection's deadline, to set or cancel it later (after the
    /// request is taken, while its response streams).
    pub fn connection_timeout(&self) -> Rc<ConnTimeout> {
        self.timeout.clone()
    }

    /// The file served for a directory (`index.html` unless the mount says).
    pub fn default_document(&self) -> &str {
        &self.mount.default_doc
    }

    /// The mount's own `Content-Type` for files ending in `.ext`, if it has one.
    pub fn mimetype(&self, ext: &str) -> Option<&HeaderValue> {
        self.mount
            .mimetypes
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(ext))
            .map(|(_, v)| v)
    }

    /// Whether the mount asks redirects to keep the path below the mountpoint.
    pub fn append_path(&self) -> bool {
        self.mount.append_path
    }

    /// Unique per mount, for caches keyed by mount.
    pub(super) fn mount_id(&self) -> u64 {
        self.mount.id
    }

    /// The connection's state slot for this mount (a callback mount's).
    pub(super) fn conn_slot(&self) -> Option<Slot> {
        let id = self.mount.id;
        self.conn.state.as_ref().map(|c| c.conn_state().enter(id))
    }
}
