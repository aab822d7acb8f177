//! The server layer: accepted connections to responses.
//!
//! Owns TLS accept with SNI choosing the vhost, the HTTP/2 sniff and frame
//! check, the hyper connections, vhost selection by SNI and `Host`,
//! WebSocket upgrades (handing the stream to the `ws` layer), the `Server`
//! and vhost headers added to every response, and the access log.
//!
//! Imports: `runtime`, `ws`, `site`, `tls`. Nothing below imports this.

mod accesslog;
mod conn;
#[cfg(any(test, fuzzing))]
pub mod h2guard;
#[cfg(not(any(test, fuzzing)))]
mod h2guard;
mod options;
mod route;
mod upgrade;
mod vhost;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use http::HeaderValue;

pub use options::HttpOptions;
pub use vhost::Vhost;
pub(crate) use vhost::{compile, ListenerRt, VhostRt};

use crate::runtime::{Acceptor, LiveGuard, ThreadAcceptor, ThreadCore};
use crate::ws::ErasedProtocol;

/// What every service thread's server shares.
pub(crate) struct ServerShared {
    pub(crate) vhosts: Vec<VhostRt>,
    pub(crate) listeners: Vec<ListenerRt>,
    pub(crate) http: HttpOptions,
    /// `http.server_name` as a header value (`None` if it cannot be one).
    pub(crate) server_header: Option<HeaderValue>,
    pub(crate) protocols: Vec<Arc<dyn ErasedProtocol>>,
}

/// The server on one service thread.
pub(crate) struct ServerThread {
    pub(crate) core: Rc<ThreadCore>,
    pub(crate) srv: Arc<ServerShared>,
}

/// The runtime's [`Acceptor`]: serves accepted sockets as HTTP.
pub(crate) struct HttpAcceptor(pub(crate) Arc<ServerShared>);

impl Acceptor for HttpAcceptor {
    fn thread(&self, core: &Rc<ThreadCore>) -> Rc<dyn ThreadAcceptor> {
        Rc::new(ServerThread {
            core: core.clone(),
            srv: self.0.clone(),
        })
    }

    fn is_tls(&self, li: usize) -> bool {
        self.0.listeners.get(li).is_some_and(|l| l.tls)
    }
}

impl ThreadAcceptor for ServerThread {
    fn serve(
        self: Rc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        guard: LiveGuard,
        li: usize,
    ) {
        if let Some(ka) = self.srv.listeners.get(li).and_then(|l| l.tcp_keepalive) {
            if let Err(e) = crate::runtime::apply_keepalive(&stream, &ka) {
                tracing::debug!(%peer, error = %e, "cannot set TCP keepalive");
            }
        }
        tokio::task::spawn_local(conn::serve(self, stream, peer, guard, li));
    }
}
