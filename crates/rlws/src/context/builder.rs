//! [`ContextBuilder`]: protocols, vhosts and options in; listen sockets,
//! compiled vhosts and running service threads out.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use super::{Context, StartError};
use crate::raw::ErasedRaw;
use crate::runtime::{service_loop, service_thread, RuntimeConfig, Service, Shared};
use crate::server::{
    compile, HttpAcceptor, HttpOptions, ListenerRt, ServerCell, ServerShared, Vhost,
};
use crate::site::{Mount, Origin};
use crate::ws::{erase, ErasedProtocol, Protocol};

/// Builds a [`Context`].
#[doc(alias = "lws_context_creation_info")]
pub struct ContextBuilder {
    threads: usize,
    fd_limit_per_thread: Option<usize>,
    listen: Vec<SocketAddr>,
    protocols: Vec<(Arc<dyn ErasedProtocol>, Arc<dyn Service>)>,
    ws_paths: Vec<(String, String)>,
    site: Option<Arc<dyn Origin>>,
    vhosts: Vec<Vhost>,
    http: HttpOptions,
    ping_after: Duration,
    pong_timeout: Duration,
    http_client: Option<crate::client::HttpClient>,
    tcp_keepalive: Option<crate::runtime::TcpKeepalive>,
    raw: Vec<Arc<dyn ErasedRaw>>,
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
            site: None,
            vhosts: Vec::new(),
            http: HttpOptions::default(),
            ping_after: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            http_client: None,
            tcp_keepalive: None,
            raw: Vec::new(),
        }
    }
}

impl ContextBuilder {
    /// A builder with defaults: one service thread per core, nothing served
    /// over plain HTTP (404) until a site or vhost mounts is given.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of service threads (lws' `count_threads`). At least 1.
    #[doc(alias = "count_threads")]
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
    #[doc(alias = "port")]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    /// Registers a WebSocket protocol, chosen by `Sec-WebSocket-Protocol`.
    /// The first registered protocol is the default when the client names none.
    pub fn protocol<P: Protocol>(mut self, p: P) -> Self {
        self.protocols.push(erase(p));
        self
    }

    /// Registers a raw protocol, for raw vhosts ([`Vhost::raw`]), raw
    /// client connections and adopted descriptors
    /// ([`crate::Poster::raw_connect`], [`crate::Poster::adopt_fd`]).
    pub fn raw_protocol<P: crate::raw::RawProtocol>(mut self, p: P) -> Self {
        self.raw.push(crate::raw::erase(p));
        self
    }

    /// Registers a [`crate::RawProxy`] as a raw protocol under its name.
    #[doc(alias = "raw-proxy")]
    pub fn raw_proxy(mut self, p: crate::raw::RawProxy) -> Self {
        self.raw.push(Arc::new(p));
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
            .map(|(p, _)| p.name().to_string())
            .collect()
    }

    /// Adds a vhost (lws' `lws_create_vhost`). Vhosts with the same listen
    /// address share its socket.
    #[doc(alias = "lws_create_vhost")]
    pub fn vhost(mut self, v: Vhost) -> Self {
        self.vhosts.push(v);
        self
    }

    /// What plain HTTP requests to the default vhost are served from.
    pub fn site(mut self, origin: impl Origin) -> Self {
        self.site = Some(Arc::new(origin));
        self
    }

    /// HTTP limits.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Pings a WebSocket after `after` without data from it and hangs up when
    /// no pong comes within `timeout` (lws' ping-pong validity). Zero disables.
    #[doc(alias = "ws_ping_pong_interval")]
    pub fn ws_keepalive(mut self, after: Duration, timeout: Duration) -> Self {
        self.ping_after = after;
        self.pong_timeout = timeout;
        self
    }

    /// The WebSocket ping/pong check from a policy's validity rules: ping
    /// after [`crate::RetryPolicy::ping_after`] without data, hang up at
    /// [`crate::RetryPolicy::hangup_after`].
    pub fn validity(self, policy: &crate::RetryPolicy) -> Self {
        let ping = policy.ping_after();
        self.ws_keepalive(ping, policy.hangup_after().saturating_sub(ping))
    }

    /// TCP keepalive on every accepted connection (lws' `ka_time`,
    /// `ka_interval`, `ka_probes`); a vhost's own setting wins.
    #[doc(alias = "ka_time")]
    pub fn tcp_keepalive(mut self, ka: crate::runtime::TcpKeepalive) -> Self {
        self.tcp_keepalive = Some(ka);
        self
    }

    /// The HTTP client for requests started on the context
    /// ([`crate::Context::http_request`]); default: [`crate::client::HttpClient::new`].
    pub fn http_client(mut self, client: crate::client::HttpClient) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Opens the listen sockets and starts the service threads.
    #[doc(alias = "lws_create_context")]
    pub fn start(self) -> Result<Context, StartError> {
        self.build(false).map(|(ctx, _)| ctx)
    }

    /// Opens the listen sockets but starts no threads (lws' foreign loops):
    /// returns the context and one [`ServiceLoop`] per service thread, for
    /// the caller to run on its own tokio runtimes, each on a current-thread
    /// runtime (or `LocalSet`) with time and IO enabled. The context joins
    /// the caller's loops when they start polling, and leaves them when
    /// shut down ([`Context::shutdown`] does not block then): each
    /// [`ServiceLoop::run`] future ends once its connections are closed,
    /// and the caller's loop goes on.
    #[doc(alias = "LWS_SERVER_OPTION_FOREIGN_LOOP")]
    pub fn start_foreign(self) -> Result<(Context, Vec<ServiceLoop>), StartError> {
        self.build(true)
    }

    fn build(mut self, foreign: bool) -> Result<(Context, Vec<ServiceLoop>), StartError> {
        let threads = self.threads;
        let cap_per_thread = match self.fd_limit_per_thread {
            Some(n) => n,
            None => {
                let soft = crate::runtime::limits::nofile().map_or(1024, |(s, _)| s) as usize;
                (soft.saturating_sub(32) / threads).max(1)
            }
        };
        let (erased, services): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.protocols).into_iter().unzip();
        let raw = std::mem::take(&mut self.raw);
        let (vhosts, opened) = self.plan(&erased, &raw)?.open(&[])?;
        let Opened {
            listening,
            listeners: listener_rts,
            fresh: listeners,
            vhost_addrs,
        } = opened;
        let secs = |d: Duration| {
            if d.is_zero() {
                u32::MAX
            } else {
                d.as_secs().max(1) as u32
            }
        };
        let server = ServerCell::new(Arc::new(ServerShared::new(
            vhosts,
            listener_rts,
            self.http,
            erased.clone(),
            raw.clone(),
        )));
        let rt = RuntimeConfig {
            threads,
            cap_per_thread,
            ping_after: secs(self.ping_after),
            pong_timeout: secs(self.pong_timeout),
        };
        let shared = Arc::new(Shared::new(
            &rt,
            services,
            Arc::new(HttpAcceptor(server.clone())),
        ));
        let receivers = shared.channels();
        let mut handles = Vec::new();
        let mut loops = Vec::new();
        let addrs: Vec<SocketAddr> = listening.iter().map(|l| l.local).collect();
        let mut listeners = Some(listeners);
        for (tsi, rx) in receivers.into_iter().enumerate() {
            let sh = shared.clone();
            let ls: Vec<(StdListener, u32)> = if tsi == 0 {
                listeners.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            if foreign {
                loops.push(ServiceLoop {
                    tsi,
                    shared: sh,
                    rx,
                    listeners: ls,
                });
                continue;
            }
            let h = std::thread::Builder::new()
                .name(format!("rlws-svc-{tsi}"))
                .spawn(move || service_thread(tsi, sh, rx, ls))
                .map_err(StartError::Thread)?;
            handles.push(h);
        }
        tracing::info!(threads, cap_per_thread, ?addrs, foreign, "context started");
        let ctx = Context {
            http: self.http_client.unwrap_or_default(),
            shared,
            server,
            protocols: erased.into(),
            raw: raw.into(),
            handles,
            addrs,
            vhost_addrs,
            listening,
        };
        Ok((ctx, loops))
    }

    /// Compiles the vhosts (the default vhost on each
    /// [`ContextBuilder::listen`] address first) against `protocols`, and
    /// groups them by listen address.
    pub(super) fn plan(
        &mut self,
        protocols: &[Arc<dyn ErasedProtocol>],
        raw: &[Arc<dyn ErasedRaw>],
    ) -> Result<Plan, StartError> {
        let mut all = Vec::new();
        for a in &self.listen {
            let mut v = Vhost::new("default", *a);
            if let Some(o) = &self.site {
                v = v.mount(Mount::shared("/", o.clone()));
            }
            for (path, name) in &self.ws_paths {
                v = v.ws_path(path, name);
            }
            all.push(v);
        }
        all.append(&mut self.vhosts);
        let mut vhosts = Vec::new();
        let mut groups: Vec<(SocketAddr, ListenerRt)> = Vec::new();
        let mut names = Vec::new();
        for v in &all {
            let rt = compile(v, protocols).map_err(StartError::Config)?;
            let raw_index = match &v.raw {
                Some(name) => Some(raw.iter().position(|p| p.name() == name).ok_or_else(|| {
                    StartError::Config(format!("vhost {}: no raw protocol named {name}", v.name))
                })?),
                None => None,
            };
            if raw_index.is_some() && v.tls.is_some() {
                return Err(StartError::Config(format!(
                    "vhost {}: a raw vhost cannot have TLS",
                    v.name
                )));
            }
            let vi = vhosts.len();
            vhosts.push(rt);
            names.push((
                v.name.clone(),
                groups
                    .iter()
                    .position(|(a, _)| *a == v.listen)
                    .unwrap_or(groups.len()),
            ));
            match groups.iter_mut().find(|(a, _)| *a == v.listen) {
                Some((_, l)) => {
                    if l.raw.is_some() || raw_index.is_some() {
                        return Err(StartError::Config(format!(
                            "vhost {}: a raw vhost must be alone on its address {}",
                            v.name, v.listen
                        )));
                    }
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
                        key: 0,
                        tls: v.tls.is_some(),
                        vhosts: vec![vi],
                        handshake_timeout: v.tls_handshake_timeout,
                        keepalive: v.keepalive_timeout,
                        http2: v.http2,
                        tcp_keepalive: v.tcp_keepalive.or(self.tcp_keepalive),
                        raw: raw_index,
                    },
                )),
            }
        }
        Ok(Plan {
            vhosts,
            groups,
            names,
        })
    }

    /// The HTTP options given, for a reload.
    pub(super) fn take_http(&mut self) -> HttpOptions {
        std::mem::take(&mut self.http)
    }
}

/// One service thread's loop, to run on a caller's runtime
/// ([`ContextBuilder::start_foreign`]).
pub struct ServiceLoop {
    tsi: usize,
    shared: Arc<Shared>,
    rx: tokio::sync::mpsc::UnboundedReceiver<crate::runtime::ThreadMsg>,
    listeners: Vec<(StdListener, u32)>,
}

impl std::fmt::Debug for ServiceLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLoop")
            .field("tsi", &self.tsi)
            .finish_non_exhaustive()
    }
}

impl ServiceLoop {
    /// Which service thread this is.
    pub fn thread(&self) -> crate::ThreadIndex {
        crate::ThreadIndex(self.tsi)
    }

    /// Serves until the context shuts down and this loop's connections are
    /// closed. Poll it on a current-thread runtime with time and IO (for
    /// example `tokio::task::spawn_local(l.run())` in a `LocalSet`): its
    /// tasks run in a `LocalSet` of their own inside it, and are gone when
    /// it returns.
    pub async fn run(self) {
        let ServiceLoop {
            tsi,
            shared,
            rx,
            listeners,
        } = self;
        tokio::task::LocalSet::new()
            .run_until(service_loop(tsi, shared, rx, listeners))
            .await;
        tracing::debug!(tsi, "service loop left");
    }
}

/// Compiled vhosts grouped by listen address.
pub(super) struct Plan {
    pub(super) vhosts: Vec<crate::server::VhostRt>,
    /// One per listen address, keys not yet given.
    pub(super) groups: Vec<(SocketAddr, ListenerRt)>,
    /// Each vhost's name and its group.
    pub(super) names: Vec<(String, usize)>,
}

impl Plan {
    /// Opens the plan's listen sockets: one of `open` at an address the
    /// plan still names is kept with its key, the others are bound now
    /// (keys after the highest in `open`). Returns the compiled vhosts too.
    pub(super) fn open(
        self,
        open: &[Listening],
    ) -> Result<(Vec<crate::server::VhostRt>, Opened), StartError> {
        let mut next_key = open.iter().map(|l| l.key + 1).max().unwrap_or(0);
        let mut o = Opened {
            listening: Vec::new(),
            listeners: Vec::new(),
            fresh: Vec::new(),
            vhost_addrs: Vec::new(),
        };
        for (a, mut rt) in self.groups {
            let l = match open.iter().find(|l| l.addr == a) {
                Some(l) => *l,
                None => {
                    let (sock, local) = bind(a)?;
                    let key = next_key;
                    next_key += 1;
                    o.fresh.push((sock, key));
                    Listening {
                        addr: a,
                        key,
                        local,
                    }
                }
            };
            rt.key = l.key;
            o.listening.push(l);
            o.listeners.push(rt);
        }
        o.vhost_addrs = self
            .names
            .into_iter()
            .map(|(n, li)| (n, o.listening[li].local))
            .collect();
        Ok((self.vhosts, o))
    }
}

/// A plan's listen sockets, opened.
pub(super) struct Opened {
    /// Every socket of the plan, in its order.
    pub(super) listening: Vec<Listening>,
    /// What each of them serves (keys set).
    pub(super) listeners: Vec<ListenerRt>,
    /// The sockets bound now, to start accepting on.
    pub(super) fresh: Vec<(StdListener, u32)>,
    /// Each vhost's name and the address it listens on.
    pub(super) vhost_addrs: Vec<(String, SocketAddr)>,
}

/// A listen socket the context has open.
#[derive(Debug, Clone, Copy)]
pub(super) struct Listening {
    /// As configured.
    pub(super) addr: SocketAddr,
    pub(super) key: u32,
    /// As bound (the port picked for 0).
    pub(super) local: SocketAddr,
}

/// Opens a non-blocking listen socket on `a`.
pub(super) fn bind(a: SocketAddr) -> Result<(StdListener, SocketAddr), StartError> {
    let l = StdListener::bind(a).map_err(|e| StartError::Bind(a, e))?;
    l.set_nonblocking(true)
        .map_err(|e| StartError::Bind(a, e))?;
    let local = l.local_addr().map_err(|e| StartError::Bind(a, e))?;
    Ok((l, local))
}

impl std::fmt::Debug for ContextBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextBuilder")
            .field("threads", &self.threads)
            .field("listen", &self.listen)
            .field("protocols", &self.protocol_names())
            .field("vhosts", &self.vhosts)
            .finish_non_exhaustive()
    }
}
