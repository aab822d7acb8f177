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
mod counted;
#[cfg(any(test, fuzzing))]
pub mod h2guard;
#[cfg(not(any(test, fuzzing)))]
mod h2guard;
mod options;
mod route;
mod upgrade;
mod vhost;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use http::HeaderValue;

pub use options::HttpOptions;
pub use vhost::Vhost;
pub(crate) use vhost::{compile, ListenerRt, VhostRt};

use crate::raw::{ErasedRaw, RawConn, RawPeer};
use crate::runtime::{
    Acceptor, AdoptSocket, ConnId, LiveGuard, Shard, ThreadAcceptor, ThreadCore, VhostCounts,
};
use crate::ws::ErasedProtocol;

/// What every service thread's server shares: one generation of the
/// vhosts and listen sockets. A reload makes a new one; connections keep
/// the one they were accepted with until they end.
pub(crate) struct ServerShared {
    pub(crate) vhosts: Vec<VhostRt>,
    pub(crate) listeners: Vec<ListenerRt>,
    pub(crate) http: HttpOptions,
    /// `http.server_name` as a header value (`None` if it cannot be one).
    pub(crate) server_header: Option<HeaderValue>,
    pub(crate) protocols: Vec<Arc<dyn ErasedProtocol>>,
    /// The context's raw protocols (raw vhosts name them).
    pub(crate) raw: Vec<Arc<dyn ErasedRaw>>,
}

impl ServerShared {
    pub(crate) fn new(
        vhosts: Vec<VhostRt>,
        listeners: Vec<ListenerRt>,
        http: HttpOptions,
        protocols: Vec<Arc<dyn ErasedProtocol>>,
        raw: Vec<Arc<dyn ErasedRaw>>,
    ) -> ServerShared {
        ServerShared {
            vhosts,
            listeners,
            server_header: HeaderValue::from_str(&http.server_name).ok(),
            http,
            protocols,
            raw,
        }
    }

    /// The index of the listener with key `key`.
    pub(crate) fn listener_index(&self, key: u32) -> Option<usize> {
        self.listeners.iter().position(|l| l.key == key)
    }
}

/// The current [`ServerShared`], replaced whole by a reload.
pub(crate) struct ServerCell {
    current: RwLock<Arc<ServerShared>>,
    generation: AtomicU64,
}

impl ServerCell {
    pub(crate) fn new(srv: Arc<ServerShared>) -> Arc<ServerCell> {
        Arc::new(ServerCell {
            current: RwLock::new(srv),
            generation: AtomicU64::new(0),
        })
    }

    /// The generation new connections are served with.
    pub(crate) fn get(&self) -> Arc<ServerShared> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Serves new connections with `srv` from now on.
    pub(crate) fn replace(&self, srv: Arc<ServerShared>) {
        match self.current.write() {
            Ok(mut g) => *g = srv,
            Err(p) => *p.into_inner() = srv,
        }
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// The server on one service thread, for the connections accepted while
/// `srv` was current.
pub(crate) struct ServerThread {
    pub(crate) core: Rc<ThreadCore>,
    pub(crate) srv: Arc<ServerShared>,
    /// Each vhost's counts on this thread, by the vhost's index in `srv`.
    counts: Vec<Shard<VhostCounts>>,
}

impl ServerThread {
    fn new(core: Rc<ThreadCore>, srv: Arc<ServerShared>) -> Self {
        let counts = srv
            .vhosts
            .iter()
            .map(|v| core.shared.metrics.vhost(&v.name).shard(core.tsi).clone())
            .collect();
        ServerThread { core, srv, counts }
    }

    /// Vhost `vi`'s counts on this thread.
    pub(crate) fn counts(&self, vi: usize) -> Option<Shard<VhostCounts>> {
        self.counts.get(vi).cloned()
    }
}

/// The runtime's [`Acceptor`]: serves accepted sockets as HTTP.
pub(crate) struct HttpAcceptor(pub(crate) Arc<ServerCell>);

impl Acceptor for HttpAcceptor {
    fn thread(&self, core: &Rc<ThreadCore>) -> Rc<dyn ThreadAcceptor> {
        let st = Rc::new(ServerThread::new(core.clone(), self.0.get()));
        Rc::new(ThreadServer {
            cell: self.0.clone(),
            cached: RefCell::new((self.0.generation.load(Ordering::Acquire), st)),
        })
    }

    fn is_tls(&self, key: u32) -> bool {
        let srv = self.0.get();
        srv.listener_index(key)
            .and_then(|li| srv.listeners.get(li))
            .is_some_and(|l| l.tls)
    }

    fn vhost_key(&self, name: &str) -> Option<u32> {
        let srv = self.0.get();
        let name = name.to_ascii_lowercase();
        let vi = srv.vhosts.iter().position(|v| v.name == name)?;
        srv.listeners
            .iter()
            .find(|l| l.vhosts.contains(&vi))
            .map(|l| l.key)
    }
}

/// [`HttpAcceptor`] on one thread: the current generation, looked up again
/// only after a reload.
struct ThreadServer {
    cell: Arc<ServerCell>,
    cached: RefCell<(u64, Rc<ServerThread>)>,
}

impl ThreadServer {
    fn current(&self) -> Rc<ServerThread> {
        let generation = self.cell.generation.load(Ordering::Acquire);
        let mut c = self.cached.borrow_mut();
        if c.0 != generation {
            let core = c.1.core.clone();
            *c = (
                generation,
                Rc::new(ServerThread::new(core, self.cell.get())),
            );
        }
        c.1.clone()
    }
}

impl ThreadServer {
    /// Serves `stream` as listen socket `key` does: raw, or HTTP.
    fn run<S: conn::Served>(
        st: Rc<ServerThread>,
        stream: S,
        peer: RawPeer,
        addr: SocketAddr,
        guard: LiveGuard,
        key: u32,
    ) {
        // A socket closed by a reload while this connection was on its way.
        let Some(l) = st
            .srv
            .listener_index(key)
            .and_then(|li| st.srv.listeners.get(li).map(|l| (li, l)))
        else {
            return;
        };
        let (li, l) = l;
        if let Some(raw) = l.raw.and_then(|ri| st.srv.raw.get(ri)) {
            raw.clone().run(RawConn {
                io: Box::new(stream),
                peer,
                id: ConnId(st.core.shared.next_id()),
                guard,
                remote: Default::default(),
                core: st.core.clone(),
            });
            return;
        }
        tokio::task::spawn_local(conn::serve(st, stream, addr, guard, li));
    }
}

impl ThreadAcceptor for ThreadServer {
    fn serve(
        self: Rc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        guard: LiveGuard,
        key: u32,
    ) {
        let st = self.current();
        if let Some(ka) = st
            .srv
            .listener_index(key)
            .and_then(|li| st.srv.listeners.get(li))
            .and_then(|l| l.tcp_keepalive)
        {
            if let Err(e) = crate::runtime::apply_keepalive(&stream, &ka) {
                tracing::debug!(%peer, error = %e, "cannot set TCP keepalive");
            }
        }
        ThreadServer::run(st, stream, RawPeer::Tcp(peer), peer, guard, key);
    }

    fn adopt(self: Rc<Self>, sock: AdoptSocket, guard: LiveGuard, key: u32) {
        match sock {
            AdoptSocket::Tcp(s) => {
                let peer = s.peer_addr().unwrap_or(UNIX_PEER);
                match tokio::net::TcpStream::from_std(s) {
                    Ok(s) => {
                        ThreadServer::run(self.current(), s, RawPeer::Tcp(peer), peer, guard, key)
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot register adopted socket"),
                }
            }
            AdoptSocket::Unix(s) => match tokio::net::UnixStream::from_std(s) {
                Ok(s) => ThreadServer::run(self.current(), s, RawPeer::Unix, UNIX_PEER, guard, key),
                Err(e) => tracing::warn!(error = %e, "cannot register adopted socket"),
            },
        }
    }
}

/// The peer address logged for connections that have none (Unix sockets).
const UNIX_PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
