//! The context: service threads, listen sockets, connection accounting,
//! cross-thread posting and shutdown.

use std::any::Any;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::mount::{Mount, MountRt, Origin};
use crate::protocol::Protocol;
use crate::vhost::{ListenerRt, Vhost, VhostRt};
use crate::ws::{Clock, ConnSignal, Entry, ErasedProtocol};

/// Messages into a service thread (the only cross-thread entry: lws' cancel-service).
pub(crate) enum ThreadMsg {
    /// A newly accepted connection for this thread.
    Accept(std::net::TcpStream, SocketAddr, usize),
    /// Open a client connection for protocol number `proto` (already counted
    /// in the thread's live connections).
    Connect {
        proto: usize,
        cfg: Box<crate::client::ClientConfig>,
        id: u64,
    },
    /// An event for protocol number `proto` on this thread.
    Post {
        proto: usize,
        event: Box<dyn Any + Send>,
    },
    /// Close everything with 1001 and end the thread.
    Shutdown,
}

/// One live WebSocket connection, as listed by [`crate::protocol::Cx::connections`].
#[derive(Debug, Clone)]
pub struct ConnEntry {
    /// Connection id.
    pub id: u64,
    /// Peer address.
    pub peer: SocketAddr,
    /// Protocol name.
    pub protocol: String,
    /// Request path.
    pub path: String,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
    /// When it was established, in ms since the Unix epoch.
    pub since_ms: u64,
    /// Service thread index.
    pub tsi: usize,
}

/// A live connection as the registry keeps it: one small record and one
/// string, so that listing connections costs idle connections little.
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) since_ms: u64,
    pub(crate) peer: SocketAddr,
    /// Index of the protocol in the context.
    pub(crate) proto: u32,
    /// The request path, then `\n` and the `User-Agent` if one was sent
    /// (neither can contain a line feed).
    pub(crate) text: Box<str>,
}

impl Record {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        proto: usize,
        path: &str,
        user_agent: Option<&str>,
    ) -> Record {
        let text = match user_agent {
            Some(ua) if !path.contains('\n') && !ua.contains('\n') => format!("{path}\n{ua}"),
            _ => path.replace('\n', " "),
        };
        Record {
            id,
            since_ms: now_ms(),
            peer,
            proto: u32::try_from(proto).unwrap_or(u32::MAX),
            text: text.into_boxed_str(),
        }
    }
}

/// The live connections of one service thread: a slab, so that slots are
/// reused and the table stays dense.
#[derive(Default)]
struct Registry {
    slots: Vec<Option<Record>>,
    free: Vec<u32>,
}

impl Registry {
    fn insert(&mut self, rec: Record) -> u32 {
        if let Some(i) = self.free.pop() {
            if let Some(s) = self.slots.get_mut(i as usize) {
                *s = Some(rec);
                return i;
            }
        }
        self.slots.push(Some(rec));
        u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
    }

    fn remove(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if s.take().is_some() {
                self.free.push(slot);
            }
        }
    }
}

/// What the HTTP side serves outside WebSocket upgrades.
#[derive(Debug, Clone)]
pub enum Site {
    /// The built-in test site, embedded in the binary.
    Embedded,
    /// Files from a directory.
    Dir(PathBuf),
}

/// HTTP limits and timeouts.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Most request headers accepted (more: 431).
    pub max_headers: usize,
    /// Largest request head in bytes (more: 431). At least 8 KiB.
    pub max_header_bytes: usize,
    /// Time allowed to receive a request's headers, and to wait for the next
    /// request on a keep-alive connection.
    pub header_timeout: Duration,
    /// The `Server` header.
    pub server_name: String,
    /// Most concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            server_name: "rlws".into(),
            h2_max_streams: 128,
        }
    }
}

/// State shared by all service threads.
pub(crate) struct Shared {
    senders: OnceLock<Vec<mpsc::UnboundedSender<ThreadMsg>>>,
    pub(crate) live: Vec<AtomicUsize>,
    pub(crate) cap_per_thread: usize,
    pub(crate) refused: AtomicU64,
    next_id: AtomicU64,
    /// Live connections per service thread (what `connections()` lists).
    registry: Vec<Mutex<Registry>>,
    generation: AtomicU64,
    pub(crate) protocols: Vec<Arc<dyn ErasedProtocol>>,
    pub(crate) vhosts: Vec<VhostRt>,
    pub(crate) listeners: Vec<ListenerRt>,
    pub(crate) http: HttpOptions,
    /// `http.server_name` as a header value (`None` if it cannot be one).
    pub(crate) server_header: Option<hyper::header::HeaderValue>,
    pub(crate) ping_after: u32,
    pub(crate) pong_timeout: u32,
}

impl Shared {
    pub(crate) fn thread_count(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn send(&self, tsi: usize, msg: ThreadMsg) -> bool {
        self.senders
            .get()
            .and_then(|s| s.get(tsi))
            .is_some_and(|s| s.send(msg).is_ok())
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Lists a new connection on thread `tsi`; returns its registry slot.
    pub(crate) fn conn_opened(&self, tsi: usize, rec: Record) -> u32 {
        let slot = self
            .registry
            .get(tsi)
            .and_then(|r| r.lock().ok())
            .map_or(u32::MAX, |mut r| r.insert(rec));
        self.generation.fetch_add(1, Ordering::Relaxed);
        slot
    }

    /// Removes the connection in registry slot `slot` of thread `tsi`.
    pub(crate) fn conn_closed(&self, tsi: usize, slot: u32) {
        if let Some(mut r) = self.registry.get(tsi).and_then(|r| r.lock().ok()) {
            r.remove(slot);
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connections(&self) -> Vec<ConnEntry> {
        let mut v = Vec::new();
        for (tsi, r) in self.registry.iter().enumerate() {
            let Ok(r) = r.lock() else { continue };
            v.extend(r.slots.iter().flatten().map(|rec| {
                let (path, ua) = match rec.text.split_once('\n') {
                    Some((p, u)) => (p, Some(u.to_string())),
                    None => (&*rec.text, None),
                };
                ConnEntry {
                    id: rec.id,
                    peer: rec.peer,
                    protocol: self
                        .protocols
                        .get(rec.proto as usize)
                        .map_or_else(String::new, |p| p.name().to_string()),
                    path: path.to_string(),
                    user_agent: ua,
                    since_ms: rec.since_ms,
                    tsi,
                }
            }));
        }
        v.sort_by_key(|e| e.id);
        v
    }

    pub(crate) fn connections_generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Starts a client connection for protocol `proto` on thread `tsi` (or the
    /// least-loaded one).
    pub(crate) fn connect(
        &self,
        proto: usize,
        cfg: crate::client::ClientConfig,
        tsi: Option<usize>,
    ) -> Result<ClientHandle, ClientStartError> {
        if proto >= self.protocols.len() {
            return Err(ClientStartError::NoSuchProtocol);
        }
        let tsi = match tsi {
            Some(t) if t < self.thread_count() => {
                self.live[t].fetch_add(1, Ordering::Relaxed);
                t
            }
            Some(_) => return Err(ClientStartError::NoSuchThread),
            None => self.place().ok_or(ClientStartError::Full)?,
        };
        let id = self.next_id();
        let msg = ThreadMsg::Connect {
            proto,
            cfg: Box::new(cfg),
            id,
        };
        if !self.send(tsi, msg) {
            self.live[tsi].fetch_sub(1, Ordering::Relaxed);
            return Err(ClientStartError::Stopped);
        }
        Ok(ClientHandle { id, tsi })
    }

    /// Picks the least-loaded thread with room, and counts the connection on it.
    fn place(&self) -> Option<usize> {
        let (tsi, n) = self
            .live
            .iter()
            .enumerate()
            .map(|(i, l)| (i, l.load(Ordering::Relaxed)))
            .min_by_key(|&(_, n)| n)?;
        if n >= self.cap_per_thread {
            return None;
        }
        self.live[tsi].fetch_add(1, Ordering::Relaxed);
        Some(tsi)
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Builds a [`Context`].
pub struct ContextBuilder {
    threads: usize,
    fd_limit_per_thread: Option<usize>,
    listen: Vec<SocketAddr>,
    protocols: Vec<Arc<dyn ErasedProtocol>>,
    ws_paths: Vec<(String, String)>,
    site: Site,
    vhosts: Vec<Vhost>,
    http: HttpOptions,
    ping_after: Duration,
    pong_timeout: Duration,
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            fd_limit_per_thread: None,
            listen: Vec::new(),
            protocols: Vec::new(),
            ws_paths: Vec::new(),
            site: Site::Embedded,
            vhosts: Vec::new(),
            http: HttpOptions::default(),
            ping_after: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
        }
    }
}

/// A client connection being opened: its connection id (as in
/// [`crate::protocol::Cx::id`]) and service thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHandle {
    /// The connection id; `established`, the callbacks after it and
    /// `client_connection_error` see the same id.
    pub id: u64,
    /// The service thread it runs on.
    pub tsi: usize,
}

/// Why a client connection could not even be started (connection errors
/// come later, through [`Protocol::client_connection_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStartError {
    /// No protocol registered under that name.
    NoSuchProtocol,
    /// No service thread with that index.
    NoSuchThread,
    /// Every thread is at its connection cap.
    Full,
    /// The context is shutting down.
    Stopped,
}

impl std::fmt::Display for ClientStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientStartError::NoSuchProtocol => "no protocol registered under that name",
            ClientStartError::NoSuchThread => "no such service thread",
            ClientStartError::Full => "every service thread is at its connection cap",
            ClientStartError::Stopped => "the context is shutting down",
        })
    }
}

impl std::error::Error for ClientStartError {}

/// An error starting the context.
#[derive(Debug)]
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

impl std::error::Error for StartError {}

impl ContextBuilder {
    /// A builder with defaults: one service thread per core, the embedded test site.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of service threads (lws' `count_threads`). At least 1.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Connection cap per thread (lws' `fd_limit_per_thread`). Default: the
    /// process' `RLIMIT_NOFILE` shared between the threads.
    pub fn fd_limit_per_thread(mut self, n: usize) -> Self {
        self.fd_limit_per_thread = Some(n.max(1));
        self
    }

    /// Adds a listen address (e.g. `127.0.0.1:7681`; port 0 picks a free
    /// port) for the default vhost, named `default`, which serves
    /// [`ContextBuilder::site`] with every protocol and the
    /// [`ContextBuilder::ws_path`] routes.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Registers a WebSocket protocol, chosen by `Sec-WebSocket-Protocol`.
    /// The first registered protocol is the default when the client names none.
    pub fn protocol<P: Protocol>(mut self, p: P) -> Self {
        self.protocols.push(Arc::new(Entry(Arc::new(p))));
        self
    }

    /// Runs protocol `name` for upgrades on `path` when the client names no
    /// subprotocol (e.g. `/echo` for conformance suites).
    pub fn ws_path(mut self, path: &str, name: &str) -> Self {
        self.ws_paths.push((path.to_string(), name.to_string()));
        self
    }

    /// The names of the protocols added so far, in order.
    pub fn protocol_names(&self) -> Vec<String> {
        self.protocols
            .iter()
            .map(|p| p.name().to_string())
            .collect()
    }

    /// Adds a vhost (lws' `lws_create_vhost`). Vhosts with the same listen
    /// address share its socket.
    pub fn vhost(mut self, v: Vhost) -> Self {
        self.vhosts.push(v);
        self
    }

    /// What plain HTTP requests to the default vhost are served from.
    pub fn site(mut self, site: Site) -> Self {
        self.site = site;
        self
    }

    /// HTTP limits.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Pings a WebSocket after `after` without data from it and hangs up when
    /// no pong comes within `timeout` (lws' ping-pong validity). Zero disables.
    pub fn ws_keepalive(mut self, after: Duration, timeout: Duration) -> Self {
        self.ping_after = after;
        self.pong_timeout = timeout;
        self
    }

    /// Opens the listen sockets and starts the service threads.
    pub fn start(self) -> Result<Context, StartError> {
        let threads = self.threads;
        let cap_per_thread = match self.fd_limit_per_thread {
            Some(n) => n,
            None => {
                let soft = crate::limits::nofile().map_or(1024, |(s, _)| s) as usize;
                (soft.saturating_sub(32) / threads).max(1)
            }
        };
        let mut all = Vec::new();
        for a in &self.listen {
            let mut v = Vhost::new("default", *a).site(self.site.clone());
            v.ws_paths = self.ws_paths.clone();
            all.push(v);
        }
        all.extend(self.vhosts);
        let mut vhosts = Vec::new();
        let mut groups: Vec<(SocketAddr, ListenerRt)> = Vec::new();
        let mut vhost_listener = Vec::new();
        for v in &all {
            let rt = vhost_rt(v, &self.protocols).map_err(StartError::Config)?;
            let vi = vhosts.len();
            vhosts.push(rt);
            vhost_listener.push(
                groups
                    .iter()
                    .position(|(a, _)| *a == v.listen)
                    .unwrap_or(groups.len()),
            );
            match groups.iter_mut().find(|(a, _)| *a == v.listen) {
                Some((_, l)) => {
                    if l.tls != v.tls.is_some() {
                        return Err(StartError::Config(format!(
                            "vhost {}: {} is already a {} socket",
                            v.name,
                            v.listen,
                            if l.tls { "TLS" } else { "cleartext" }
                        )));
                    }
                    if l.vhosts.iter().any(|&o| vhosts[o].name == v.name) {
                        return Err(StartError::Config(format!(
                            "vhost {}: defined twice on {}",
                            v.name, v.listen
                        )));
                    }
                    l.vhosts.push(vi);
                    l.http2 |= v.http2;
                }
                None => groups.push((
                    v.listen,
                    ListenerRt {
                        tls: v.tls.is_some(),
                        vhosts: vec![vi],
                        handshake_timeout: v.tls_handshake_timeout,
                        keepalive: v.keepalive_timeout,
                        http2: v.http2,
                    },
                )),
            }
        }
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        let mut listener_rts = Vec::new();
        for (a, rt) in groups {
            let l = StdListener::bind(a).map_err(|e| StartError::Bind(a, e))?;
            l.set_nonblocking(true)
                .map_err(|e| StartError::Bind(a, e))?;
            addrs.push(l.local_addr().map_err(|e| StartError::Bind(a, e))?);
            listeners.push((l, listener_rts.len()));
            listener_rts.push(rt);
        }
        let vhost_addrs = all
            .iter()
            .zip(vhost_listener)
            .map(|(v, li)| (v.name.clone(), addrs[li]))
            .collect();
        let secs = |d: Duration| {
            if d.is_zero() {
                u32::MAX
            } else {
                d.as_secs().max(1) as u32
            }
        };
        let shared = Arc::new(Shared {
            senders: OnceLock::new(),
            live: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            cap_per_thread,
            refused: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            registry: (0..threads).map(|_| Mutex::default()).collect(),
            generation: AtomicU64::new(0),
            protocols: self.protocols,
            vhosts,
            listeners: listener_rts,
            server_header: hyper::header::HeaderValue::from_str(&self.http.server_name).ok(),
            http: self.http,
            ping_after: secs(self.ping_after),
            pong_timeout: secs(self.pong_timeout),
        });
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..threads {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            receivers.push(rx);
        }
        let _ = shared.senders.set(senders);
        let mut handles = Vec::new();
        let mut listeners = Some(listeners);
        for (tsi, rx) in receivers.into_iter().enumerate() {
            let sh = shared.clone();
            let ls: Vec<(StdListener, usize)> = if tsi == 0 {
                listeners.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            let h = std::thread::Builder::new()
                .name(format!("rlws-svc-{tsi}"))
                .spawn(move || service_thread(tsi, sh, rx, ls))
                .map_err(StartError::Thread)?;
            handles.push(h);
        }
        tracing::info!(threads, cap_per_thread, ?addrs, "context started");
        Ok(Context {
            shared,
            handles,
            addrs,
            vhost_addrs,
        })
    }
}

/// Resolves a vhost's protocol names, routes, TLS and headers.
fn vhost_rt(v: &Vhost, protocols: &[Arc<dyn ErasedProtocol>]) -> Result<VhostRt, String> {
    let find = |name: &str| {
        protocols
            .iter()
            .position(|p| p.name() == name)
            .ok_or_else(|| format!("vhost {}: no protocol named {name}", v.name))
    };
    let offered: Vec<usize> = match &v.protocols {
        Some(names) => names.iter().map(|n| find(n)).collect::<Result<_, _>>()?,
        None => (0..protocols.len()).collect(),
    };
    let mut ws_paths = Vec::new();
    for (path, name) in &v.ws_paths {
        let i = find(name).map_err(|e| format!("{e} (ws path {path})"))?;
        if !offered.contains(&i) {
            return Err(format!(
                "vhost {}: ws path {path} names protocol {name}, which the vhost does not offer",
                v.name
            ));
        }
        ws_paths.push((path.clone(), i));
    }
    let tls = match &v.tls {
        Some(o) => {
            let mut o = o.clone();
            if !v.http2 {
                o.alpn.retain(|a| a != "h2");
            }
            Some(Arc::new(
                crate::tls::server_config(&o).map_err(|e| format!("vhost {}: {e}", v.name))?,
            ))
        }
        None => None,
    };
    Ok(VhostRt {
        name: v.name.clone(),
        tls,
        protocols: offered,
        ws_paths,
        mounts: {
            let embedded = [Mount::new("/", Origin::Embedded)];
            v.mounts
                .as_deref()
                .unwrap_or(&embedded)
                .iter()
                .map(|m| MountRt::new(m, &v.name))
                .collect::<Result<_, _>>()?
        },
        error_document_404: v.error_document_404.clone(),
        headers: crate::vhost::header_map(&v.name, &v.headers)?,
        strict_host_check: v.strict_host_check,
        access_log: match &v.access_log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("vhost {}: access log {}: {e}", v.name, p.display()))?,
            ),
            None => None,
        },
    })
}

/// A running set of service threads. Dropping it shuts down.
pub struct Context {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
    addrs: Vec<SocketAddr>,
    vhost_addrs: Vec<(String, SocketAddr)>,
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
        self.vhost_addrs
            .iter()
            .zip(&self.shared.vhosts)
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

    /// Opens a client WebSocket (lws' `lws_client_connect_via_info`) that
    /// runs on a service thread with protocol `protocol`'s callbacks:
    /// `established` (with [`crate::protocol::Handshake::client`] set) once the
    /// handshake is done, then the same callbacks as a server connection; or
    /// [`Protocol::client_connection_error`] with the reason if it fails.
    /// Returns at once. The protocol's permessage-deflate settings decide
    /// whether compression is offered. Subprotocols to offer are
    /// `cfg.subprotocols` (none by default).
    pub fn connect(
        &self,
        protocol: &str,
        cfg: crate::client::ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        self.poster().connect(protocol, cfg)
    }

    /// A handle for posting events into service threads from any thread.
    pub fn poster(&self) -> Poster {
        Poster {
            shared: self.shared.clone(),
        }
    }

    /// Closes every WebSocket with 1001, waits for them (a few seconds at
    /// most) and stops the service threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for t in 0..self.shared.thread_count() {
            self.shared.send(t, ThreadMsg::Shutdown);
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }

    /// Blocks until the service threads end (after a [`Poster::shutdown`]).
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
}

impl Poster {
    /// Posts `event` to protocol `name` on thread `tsi`, where
    /// [`Protocol::event`] receives it. Returns false if there is no such
    /// thread or protocol, or the thread has ended.
    pub fn post<E: Send + 'static>(&self, tsi: usize, name: &str, event: E) -> bool {
        let Some(proto) = self.shared.protocols.iter().position(|p| p.name() == name) else {
            return false;
        };
        self.shared.send(
            tsi,
            ThreadMsg::Post {
                proto,
                event: Box::new(event),
            },
        )
    }

    /// Number of service threads.
    pub fn thread_count(&self) -> usize {
        self.shared.thread_count()
    }

    /// [`Context::connect`], from any thread.
    pub fn connect(
        &self,
        protocol: &str,
        cfg: crate::client::ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        let proto = self
            .shared
            .protocols
            .iter()
            .position(|p| p.name() == protocol)
            .ok_or(ClientStartError::NoSuchProtocol)?;
        self.shared.connect(proto, cfg, None)
    }

    /// Asks every service thread to close its connections and end.
    pub fn shutdown(&self) {
        for t in 0..self.shared.thread_count() {
            self.shared.send(t, ThreadMsg::Shutdown);
        }
    }
}

/// Per-thread runtime state.
pub(crate) struct ThreadCore {
    pub(crate) tsi: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) slots: Vec<Rc<dyn Any>>,
    pub(crate) clock: Rc<Clock>,
}

/// Decrements the thread's live count when the connection ends.
pub(crate) struct LiveGuard {
    shared: Arc<Shared>,
    tsi: usize,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live[self.tsi].fetch_sub(1, Ordering::Relaxed);
    }
}

fn service_thread(
    tsi: usize,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<ThreadMsg>,
    listeners: Vec<(StdListener, usize)>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(tsi, error = %e, "cannot build runtime");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let clock = Rc::new(Clock::new());
        let slots = shared
            .protocols
            .iter()
            .enumerate()
            .map(|(i, p)| p.new_slot(i, tsi, shared.clone(), clock.clone()))
            .collect();
        let core = Rc::new(ThreadCore {
            tsi,
            shared: shared.clone(),
            slots,
            clock,
        });
        for (l, li) in listeners {
            match TcpListener::from_std(l) {
                Ok(l) => {
                    tokio::task::spawn_local(accept_loop(shared.clone(), l, li));
                }
                Err(e) => tracing::error!(error = %e, "cannot register listener"),
            }
        }
        tokio::task::spawn_local(sweeper(core.clone()));
        while let Some(msg) = rx.recv().await {
            match msg {
                ThreadMsg::Accept(stream, peer, li) => {
                    let guard = LiveGuard {
                        shared: shared.clone(),
                        tsi,
                    };
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(s) => {
                            tokio::task::spawn_local(crate::http::serve(
                                core.clone(),
                                s,
                                peer,
                                guard,
                                li,
                            ));
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot register connection"),
                    }
                }
                ThreadMsg::Connect { proto, cfg, id } => {
                    let guard = LiveGuard {
                        shared: shared.clone(),
                        tsi,
                    };
                    tokio::task::spawn_local(client_conn(core.clone(), proto, *cfg, id, guard));
                }
                ThreadMsg::Post { proto, event } => {
                    if let (Some(p), Some(slot)) =
                        (shared.protocols.get(proto), core.slots.get(proto))
                    {
                        p.deliver(slot, event);
                    }
                }
                ThreadMsg::Shutdown => break,
            }
        }
        // Going away: close every WebSocket with 1001 and give them time to finish.
        for (p, slot) in shared.protocols.iter().zip(core.slots.iter()) {
            p.signal_all(slot, ConnSignal::GOING_AWAY);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            let live: usize = shared
                .protocols
                .iter()
                .zip(core.slots.iter())
                .map(|(p, s)| p.live(s))
                .sum();
            if live == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    tracing::debug!(tsi, "service thread ended");
}

/// Opens a client connection and runs it with its protocol's callbacks.
async fn client_conn(
    core: Rc<ThreadCore>,
    proto: usize,
    mut cfg: crate::client::ClientConfig,
    id: u64,
    _guard: LiveGuard,
) {
    let (Some(p), Some(slot)) = (core.shared.protocols.get(proto), core.slots.get(proto)) else {
        return;
    };
    if p.deflate_config().is_none() {
        cfg.deflate = None;
        cfg.deflate_also.clear();
    }
    let (io, opened, peer) = match crate::client::open(&cfg).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(id, url_host = cfg.host(), error = %e, "client connection failed");
            p.connect_failed(slot, id, &e);
            return;
        }
    };
    let (path, query) = match cfg.path().split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (cfg.path(), None),
    };
    let hs = crate::protocol::Handshake {
        path,
        query,
        headers: &opened.headers,
        peer,
        client: true,
    };
    let start = match p.accept(slot, &hs, id, opened.deflate) {
        Ok(s) => s,
        Err(c) => {
            tracing::debug!(id, reason = %c.reason, "client connection refused by its protocol");
            return;
        }
    };
    let leftover = bytes::Bytes::from(opened.leftover);
    start
        .start(Some((io, leftover)), rlws_ws::Role::Client)
        .await;
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, li: usize) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match shared.place() {
            Some(tsi) => {
                let sent = stream
                    .into_std()
                    .map(|s| shared.send(tsi, ThreadMsg::Accept(s, peer, li)))
                    .unwrap_or(false);
                if !sent {
                    shared.live[tsi].fetch_sub(1, Ordering::Relaxed);
                }
            }
            None => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, "connection refused: every service thread is at its connection cap");
                let tls = shared.listeners.get(li).is_some_and(|l| l.tls);
                tokio::task::spawn_local(refuse(stream, tls));
            }
        }
    }
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, tls: bool) {
    use tokio::io::AsyncWriteExt;
    if tls {
        // No TLS handshake for a connection that will not be served.
        let _ = stream.shutdown().await;
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n")
            .await?;
        stream.shutdown().await
    })
    .await;
}

async fn sweeper(core: Rc<ThreadCore>) {
    let sh = &core.shared;
    if sh.ping_after == u32::MAX {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = core.clock.now();
        for (p, slot) in sh.protocols.iter().zip(core.slots.iter()) {
            p.sweep(slot, now, sh.ping_after, sh.pong_timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Record, Registry};

    #[test]
    fn registry_reuses_slots_and_keeps_path_and_agent_apart() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut r = Registry::default();
        let a = r.insert(Record::new(1, peer, 0, "/a", Some("ua 1")));
        let b = r.insert(Record::new(2, peer, 0, "/b", None));
        assert_eq!((a, b), (0, 1));
        r.remove(a);
        r.remove(a); // twice: no double free of the slot
        assert_eq!(r.free, vec![0]);
        let c = r.insert(Record::new(3, peer, 1, "/c", None));
        assert_eq!(c, 0);
        assert_eq!(r.slots.len(), 2);
        assert_eq!(&*r.slots[0].as_ref().unwrap().text, "/c");
        assert_eq!(&*Record::new(4, peer, 0, "/p", Some("x")).text, "/p\nx");
        // A line feed cannot come from a valid request; if one does, the
        // agent is dropped rather than misread as part of the path.
        assert_eq!(&*Record::new(5, peer, 0, "/p\nq", Some("x")).text, "/p q");
    }
}
