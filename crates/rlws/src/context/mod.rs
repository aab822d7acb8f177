//! The context: what a user starts and stops. [`ContextBuilder`] gathers
//! protocols, vhosts and options; [`Context`] owns the running service
//! threads; [`Poster`] reaches them from any thread.
//!
//! Imports: every layer below (this is the top).

mod builder;

use std::any::Any;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use builder::{ContextBuilder, ServiceLoop};

use std::os::fd::{AsRawFd, OwnedFd};

use crate::raw::{ErasedRaw, FdStream, RawConn, RawHandle, RawPeer};
use crate::runtime::{
    AdoptError, AdoptSocket, ConnId, LiveGuard, Shared, ThreadCore, ThreadIndex, ThreadMsg,
};
use crate::server::{ServerCell, ServerShared};
use crate::ws::{ClientHandle, ClientStartError, ErasedProtocol};

/// An error starting the context.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// A listen socket could not be opened.
    Bind(SocketAddr, std::io::Error),
    /// A service thread could not be started.
    Thread(std::io::Error),
    /// The configuration is inconsistent.
    Config(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            StartError::Thread(e) => write!(f, "cannot start service thread: {e}"),
            StartError::Config(s) => write!(f, "configuration error: {s}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Bind(_, e) | StartError::Thread(e) => Some(e),
            StartError::Config(_) => None,
        }
    }
}

/// A running set of service threads. Dropping it shuts down.
#[doc(alias = "lws_context")]
pub struct Context {
    shared: Arc<Shared>,
    http: crate::client::HttpClient,
    server: Arc<ServerCell>,
    protocols: Arc<[Arc<dyn ErasedProtocol>]>,
    raw: Arc<[Arc<dyn ErasedRaw>]>,
    handles: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
    vhost_addrs: Vec<(String, SocketAddr)>,
    listening: Vec<builder::Listening>,
}

impl Context {
    /// A builder.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::new()
    }

    /// The addresses actually listened on (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address the first vhost named `name` listens on (with the port
    /// the system picked when it was 0).
    pub fn vhost_addr(&self, name: &str) -> Option<SocketAddr> {
        let name = name.to_ascii_lowercase();
        self.vhost_addrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// Every vhost: name, listen address, and whether it is TLS.
    pub fn vhost_list(&self) -> Vec<(String, SocketAddr, bool)> {
        let srv = self.server.get();
        self.vhost_addrs
            .iter()
            .zip(&srv.vhosts)
            .map(|((n, a), v)| (n.clone(), *a, v.tls.is_some()))
            .collect()
    }

    /// Number of service threads.
    pub fn thread_count(&self) -> usize {
        self.shared.thread_count()
    }

    /// Live connections per service thread.
    pub fn live_per_thread(&self) -> Vec<usize> {
        self.shared
            .live
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect()
    }

    /// Connections refused because every thread was at its cap.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// The context's counts in the Prometheus text format, as
    /// [`crate::OpenMetrics`] serves them (connections; per vhost, HTTP
    /// responses by status class, body bytes and WebSocket upgrades; per
    /// WebSocket protocol, connections, messages and payload bytes).
    #[doc(alias = "lws_metrics")]
    pub fn metrics_text(&self) -> String {
        crate::runtime::exposition::render(&self.shared)
    }

    /// Opens a client WebSocket (lws' `lws_client_connect_via_info`) that
    /// runs on a service thread with protocol `protocol`'s callbacks:
    /// `established` (with [`crate::Handshake::client`] set) once the
    /// handshake is done, then the same callbacks as a server connection; or
    /// [`crate::Protocol::client_connection_error`] with the reason if it fails.
    /// Returns at once. The protocol's permessage-deflate settings decide
    /// whether compression is offered. Subprotocols to offer are
    /// `cfg.subprotocols` (none by default).
    #[doc(alias = "lws_client_connect_via_info")]
    pub fn connect(
        &self,
        protocol: &str,
        cfg: crate::client::ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        self.poster().connect(protocol, cfg)
    }

    /// A handle for posting events into service threads from any thread.
    #[doc(alias = "lws_cancel_service")]
    pub fn poster(&self) -> Poster {
        Poster {
            shared: self.shared.clone(),
            protocols: self.protocols.clone(),
            raw: self.raw.clone(),
            http: self.http.clone(),
        }
    }

    /// The HTTP client that requests started on this context use (its
    /// connections are shared by all of them; see
    /// [`crate::ContextBuilder::http_client`]).
    pub fn http_client(&self) -> &crate::client::HttpClient {
        &self.http
    }

    /// Creates a sequencer; see [`Poster::sequencer`].
    #[doc(alias = "lws_sequencer_create")]
    pub fn sequencer<H: crate::sequencer::SeqHandler>(
        &self,
        opts: crate::sequencer::SeqOptions,
        handler: H,
    ) -> Result<crate::sequencer::SeqHandle<H::Event>, crate::sequencer::SeqStartError> {
        self.poster().sequencer(opts, handler)
    }

    /// Starts an HTTP client request whose answer arrives through
    /// `handler`'s callbacks on the least-loaded service thread, with
    /// `session` as its state (lws' `lws_client_connect_via_info` with a
    /// method). Returns at once; every failure after this point, including
    /// a bad URL given to [`Poster::http_get`], arrives as
    /// [`crate::client::HttpHandler::connection_error`].
    #[doc(alias = "lws_client_connect_via_info")]
    pub fn http_request<H: crate::client::HttpHandler>(
        &self,
        handler: Arc<H>,
        session: H::Session,
        req: crate::client::Request,
    ) -> Result<crate::client::HttpHandle, crate::client::HttpStartError> {
        self.poster().http_request(None, handler, session, Ok(req))
    }

    /// Replaces the vhosts, their mounts and the HTTP options with those of
    /// `builder` (a SIGHUP reload): connections accepted from now on are
    /// served by the new ones, connections already open finish on the old.
    /// Listen sockets whose address `builder` still names stay open (and
    /// keep the connections waiting on them); new addresses are bound,
    /// addresses no longer named are closed. The protocols, threads and
    /// limits stay those the context started with (`builder`'s protocols
    /// are not used; its vhosts may name only the context's). On error
    /// nothing changes.
    pub fn reload(&mut self, mut builder: ContextBuilder) -> Result<(), StartError> {
        let (vhosts, opened) = builder
            .plan(&self.protocols, &self.raw)?
            .open(&self.listening)?;
        let builder::Opened {
            listening,
            listeners,
            fresh,
            vhost_addrs,
        } = opened;
        self.server.replace(Arc::new(ServerShared::new(
            vhosts,
            listeners,
            builder.take_http(),
            self.protocols.to_vec(),
            self.raw.to_vec(),
        )));
        for (sock, key) in fresh {
            if !self.shared.listen(sock, key) {
                tracing::warn!(key, "cannot start accepting: the service thread has ended");
            }
        }
        for old in &self.listening {
            if !listening.iter().any(|l| l.key == old.key) {
                self.shared.unlisten(old.key);
            }
        }
        self.vhost_addrs = vhost_addrs;
        self.addrs = listening.iter().map(|l| l.local).collect();
        self.listening = listening;
        tracing::info!(addrs = ?self.addrs, "configuration reloaded");
        Ok(())
    }

    /// Closes every WebSocket with 1001, waits for them (a few seconds at
    /// most) and stops the service threads.
    #[doc(alias = "lws_context_destroy")]
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.shutdown();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }

    /// Blocks until the service threads end (after a [`Poster::shutdown`]);
    /// returns at once for a context on foreign loops (await their
    /// [`crate::ServiceLoop::run`] instead).
    #[doc(alias = "lws_service")]
    pub fn wait(mut self) {
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A thread-safe handle to deliver events into service threads (lws'
/// `lws_cancel_service` plus a payload).
#[derive(Clone)]
pub struct Poster {
    shared: Arc<Shared>,
    protocols: Arc<[Arc<dyn ErasedProtocol>]>,
    raw: Arc<[Arc<dyn ErasedRaw>]>,
    http: crate::client::HttpClient,
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("threads", &self.shared.thread_count())
            .finish_non_exhaustive()
    }
}

impl Poster {
    /// Posts `event` to protocol `name` on thread `tsi`, where
    /// [`crate::Protocol::event`] receives it. Returns false if there is no such
    /// thread or protocol, or the thread has ended.
    #[doc(alias = "lws_cancel_service_pt")]
    pub fn post<E: Send + 'static>(&self, tsi: ThreadIndex, name: &str, event: E) -> bool {
        let Some(index) = self.protocols.iter().position(|p| p.name() == name) else {
            return false;
        };
        let proto = self.protocols[index].clone();
        let event: Box<dyn Any + Send> = Box::new(event);
        self.shared.run_on(
            tsi.get(),
            Box::new(move |core: &Rc<ThreadCore>| {
                if let Some(slot) = core.slots.get(index) {
                    proto.deliver(slot, event);
                }
            }),
        )
    }

    /// Number of service threads.
    pub fn thread_count(&self) -> usize {
        self.shared.thread_count()
    }

    /// [`Context::connect`], from any thread.
    #[doc(alias = "lws_client_connect_via_info")]
    pub fn connect(
        &self,
        protocol: &str,
        cfg: crate::client::ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        let index = self
            .protocols
            .iter()
            .position(|p| p.name() == protocol)
            .ok_or(ClientStartError::NoSuchProtocol)?;
        self.protocols[index].connect(&self.shared, index, cfg)
    }

    /// [`Context::http_request`] from any thread (or a callback), on thread
    /// `tsi` or the least-loaded one; `req` may be the URL error of
    /// building it, which then arrives as the connection error.
    pub fn http_request<H: crate::client::HttpHandler>(
        &self,
        tsi: Option<ThreadIndex>,
        handler: Arc<H>,
        session: H::Session,
        req: Result<crate::client::Request, crate::client::HttpError>,
    ) -> Result<crate::client::HttpHandle, crate::client::HttpStartError> {
        crate::client::start_on_thread(
            &self.shared,
            &self.http,
            tsi.map(|t| t.get()),
            handler,
            session,
            req,
        )
    }

    /// A `GET` of `url` with [`Poster::http_request`].
    pub fn http_get<H: crate::client::HttpHandler>(
        &self,
        handler: Arc<H>,
        session: H::Session,
        url: &str,
    ) -> Result<crate::client::HttpHandle, crate::client::HttpStartError> {
        let req = crate::client::Request::get(url).map_err(crate::client::HttpError::from);
        self.http_request(None, handler, session, req)
    }

    /// Creates a sequencer (lws' `lws_sequencer_create`) on its thread;
    /// its first event is `Created`.
    #[doc(alias = "lws_sequencer_create")]
    pub fn sequencer<H: crate::sequencer::SeqHandler>(
        &self,
        opts: crate::sequencer::SeqOptions,
        handler: H,
    ) -> Result<crate::sequencer::SeqHandle<H::Event>, crate::sequencer::SeqStartError> {
        let http = crate::sequencer::Http {
            rt: self.shared.clone(),
            client: self.http.clone(),
        };
        crate::sequencer::start(http, opts, handler)
    }

    /// Serves an already-connected socket on the least-loaded service
    /// thread as if vhost `vhost`'s listen socket had accepted it: HTTP and
    /// WebSocket (TLS when the vhost has it), or its raw protocol on a raw
    /// vhost (lws' `lws_adopt_socket_vhost`).
    #[doc(alias = "lws_adopt_socket_vhost")]
    pub fn adopt_socket(
        &self,
        vhost: &str,
        sock: impl Into<AdoptSocket>,
    ) -> Result<(), AdoptError> {
        let sock = sock.into();
        let key = self
            .shared
            .acceptor
            .vhost_key(vhost)
            .ok_or_else(|| AdoptError::NoSuchVhost(vhost.to_string()))?;
        sock.set_nonblocking().map_err(AdoptError::Io)?;
        let tsi = self.shared.place().ok_or(AdoptError::Full)?;
        if self.shared.send(tsi, ThreadMsg::Adopt(sock, key)) {
            Ok(())
        } else {
            self.shared.unreserve(tsi);
            Err(AdoptError::Gone)
        }
    }

    /// Runs a file descriptor that is not a socket (a pipe, FIFO or tty)
    /// with raw protocol `protocol`'s callbacks on the least-loaded service
    /// thread (lws' `lws_adopt_descriptor_vhost` with a raw file). Regular
    /// files cannot be waited on and are refused.
    #[doc(alias = "lws_adopt_descriptor_vhost")]
    pub fn adopt_fd(&self, protocol: &str, fd: OwnedFd) -> Result<RawHandle, AdoptError> {
        let raw = self.raw_protocol(protocol)?;
        let file = std::fs::File::from(fd);
        if file.metadata().map_err(AdoptError::Io)?.is_file() {
            return Err(AdoptError::Io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "a regular file is always ready: read it instead of adopting it",
            )));
        }
        let fd = OwnedFd::from(file);
        let number = fd.as_raw_fd();
        let handle = RawHandle::new(ConnId(self.shared.next_id()));
        let h = handle.clone();
        self.start_raw(Box::new(
            move |core: &Rc<ThreadCore>, guard| match FdStream::new(fd) {
                Ok(io) => raw.run(RawConn {
                    io: Box::new(io),
                    peer: RawPeer::Fd(number),
                    id: h.id,
                    guard,
                    remote: h.remote,
                    core: core.clone(),
                }),
                Err(e) => tracing::warn!(fd = number, error = %e, "cannot adopt descriptor"),
            },
        ))?;
        Ok(handle)
    }

    /// Opens a raw TCP client connection to `to`, run by raw protocol
    /// `protocol` (its `adopted` callback once connected, or
    /// `connection_error`), on the least-loaded service thread.
    #[doc(alias = "lws_client_connect_via_info")]
    pub fn raw_connect(&self, protocol: &str, to: SocketAddr) -> Result<RawHandle, AdoptError> {
        let raw = self.raw_protocol(protocol)?;
        let handle = RawHandle::new(ConnId(self.shared.next_id()));
        let h = handle.clone();
        self.start_raw(Box::new(move |core: &Rc<ThreadCore>, guard| {
            let core = core.clone();
            tokio::task::spawn_local(async move {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    tokio::net::TcpStream::connect(to),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    ))
                }) {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        raw.run(RawConn {
                            io: Box::new(s),
                            peer: RawPeer::Tcp(to),
                            id: h.id,
                            guard,
                            remote: h.remote,
                            core,
                        })
                    }
                    Err(e) => raw.connect_failed(to, &e),
                }
            });
        }))?;
        Ok(handle)
    }

    fn raw_protocol(&self, name: &str) -> Result<Arc<dyn ErasedRaw>, AdoptError> {
        self.raw
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .ok_or_else(|| AdoptError::NoSuchProtocol(name.to_string()))
    }

    /// Runs `job` on the least-loaded thread with room, the connection
    /// counted there.
    fn start_raw(&self, job: RawStart) -> Result<(), AdoptError> {
        let tsi = self.shared.place().ok_or(AdoptError::Full)?;
        let shared = self.shared.clone();
        let sent = self.shared.run_on(
            tsi,
            Box::new(move |core: &Rc<ThreadCore>| job(core, LiveGuard::new(shared, tsi))),
        );
        if sent {
            Ok(())
        } else {
            self.shared.unreserve(tsi);
            Err(AdoptError::Gone)
        }
    }

    /// Asks every service thread to close its connections and end.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }
}

/// Starts a raw connection on its thread, counted there.
type RawStart = Box<dyn FnOnce(&Rc<ThreadCore>, LiveGuard) + Send>;

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("threads", &self.shared.thread_count())
            .field("addrs", &self.addrs)
            .field("vhosts", &self.vhost_addrs)
            .finish_non_exhaustive()
    }
}
