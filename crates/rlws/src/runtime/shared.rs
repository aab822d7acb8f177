//! What every service thread shares: the message channels into them (the
//! only cross-thread entry, lws' cancel-service), live-connection counts and
//! placement, connection ids, the registry, and the per-thread services.

use std::any::Any;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use super::clock::Clock;
use super::registry::{ConnEntry, Listing, Registry};
use super::thread::ThreadCore;

/// Work for a service thread, run inside its loop.
pub(crate) type ThreadJob = Box<dyn FnOnce(&Rc<ThreadCore>) + Send>;

/// Messages into a service thread.
pub(crate) enum ThreadMsg {
    /// A newly accepted connection for this thread, from the listen socket
    /// with key `.2` (already counted in the thread's live connections).
    Accept(std::net::TcpStream, SocketAddr, u32),
    /// An adopted socket for this thread, to be served as the listen
    /// socket with key `.1` would serve it (already counted).
    Adopt(super::AdoptSocket, u32),
    /// Run this on the thread (posted events, client connections).
    Run(ThreadJob),
    /// Close everything and end the thread.
    Shutdown,
}

/// Something with state on every service thread (a WebSocket protocol):
/// what the runtime needs of it without knowing its type.
pub(crate) trait Service: Send + Sync {
    /// Its name, for listings.
    fn name(&self) -> &str;
    /// Creates its state on thread `tsi`; `index` is its place in the list.
    fn new_slot(
        &self,
        index: usize,
        tsi: usize,
        shared: Arc<Shared>,
        clock: Rc<Clock>,
        validity: Rc<super::ValidityTable>,
        poller: Option<Rc<super::Poller>>,
    ) -> Rc<dyn Any>;
    /// The thread is shutting down: close connections (WebSocket 1001).
    fn going_away(&self, slot: &Rc<dyn Any>);
    /// Once a second: idle checks (`now` in thread-clock seconds) by each
    /// connection's rule in `rules`, and idle connections' buffers freed.
    /// Returns how many large states (compression contexts) it freed.
    fn sweep(&self, slot: &Rc<dyn Any>, now: u32, rules: &super::ValidityTable) -> usize;
    /// Live connections on this thread.
    fn live(&self, slot: &Rc<dyn Any>) -> usize;
}

/// Serves connections accepted on the listen sockets (the HTTP server).
pub(crate) trait Acceptor: Send + Sync {
    /// The per-thread server of thread `core`.
    fn thread(&self, core: &Rc<ThreadCore>) -> Rc<dyn ThreadAcceptor>;
    /// Whether the listen socket with key `key` speaks TLS (a refused
    /// connection then gets no HTTP answer).
    fn is_tls(&self, key: u32) -> bool;
    /// The key of the listen socket vhost `name` is on.
    fn vhost_key(&self, name: &str) -> Option<u32>;
}

/// An [`Acceptor`] on one service thread.
pub(crate) trait ThreadAcceptor {
    /// Serves `stream` from the listen socket with key `key`; `guard`
    /// counts it as live.
    fn serve(
        self: Rc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        guard: LiveGuard,
        key: u32,
    );
    /// Serves an adopted socket as the listen socket `key` would.
    fn adopt(self: Rc<Self>, sock: super::AdoptSocket, guard: LiveGuard, key: u32);
}

/// How the runtime is set up.
pub(crate) struct RuntimeConfig {
    pub(crate) threads: usize,
    pub(crate) cap_per_thread: usize,
    /// Seconds without data before a WebSocket ping; `u32::MAX`: never.
    pub(crate) ping_after: u32,
    /// Seconds to wait for the pong.
    pub(crate) pong_timeout: u32,
}

/// State shared by all service threads.
pub(crate) struct Shared {
    senders: OnceLock<Vec<mpsc::UnboundedSender<ThreadMsg>>>,
    pub(crate) live: Vec<AtomicUsize>,
    pub(crate) cap_per_thread: usize,
    pub(crate) refused: AtomicU64,
    /// What the metrics endpoint reports.
    pub(crate) metrics: super::Metrics,
    next_id: AtomicU64,
    /// Live connections per service thread (what `connections()` lists).
    registry: Vec<Mutex<Registry>>,
    generation: AtomicU64,
    pub(crate) services: Vec<Arc<dyn Service>>,
    pub(crate) acceptor: Arc<dyn Acceptor>,
    pub(crate) ping_after: u32,
    pub(crate) pong_timeout: u32,
    /// The accept loops running, by listen-socket key.
    accepting: Mutex<Vec<(u32, tokio::task::AbortHandle)>>,
}

impl Shared {
    pub(crate) fn new(
        cfg: &RuntimeConfig,
        services: Vec<Arc<dyn Service>>,
        acceptor: Arc<dyn Acceptor>,
    ) -> Shared {
        let metrics =
            super::Metrics::new(cfg.threads, services.iter().map(|s| s.name().to_string()));
        Shared {
            senders: OnceLock::new(),
            live: (0..cfg.threads).map(|_| AtomicUsize::new(0)).collect(),
            cap_per_thread: cfg.cap_per_thread,
            refused: AtomicU64::new(0),
            metrics,
            next_id: AtomicU64::new(1),
            registry: (0..cfg.threads).map(|_| Mutex::default()).collect(),
            generation: AtomicU64::new(0),
            services,
            acceptor,
            ping_after: cfg.ping_after,
            pong_timeout: cfg.pong_timeout,
            accepting: Mutex::default(),
        }
    }

    /// Creates the channels; returns the receiving ends, one per thread.
    pub(crate) fn channels(&self) -> Vec<mpsc::UnboundedReceiver<ThreadMsg>> {
        let (senders, receivers) = (0..self.thread_count())
            .map(|_| mpsc::unbounded_channel())
            .unzip();
        let _ = self.senders.set(senders);
        receivers
    }

    pub(crate) fn thread_count(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn send(&self, tsi: usize, msg: ThreadMsg) -> bool {
        self.senders
            .get()
            .and_then(|s| s.get(tsi))
            .is_some_and(|s| s.send(msg).is_ok())
    }

    /// Runs `job` on thread `tsi`; false if there is no such thread or it has ended.
    pub(crate) fn run_on(&self, tsi: usize, job: ThreadJob) -> bool {
        self.send(tsi, ThreadMsg::Run(job))
    }

    /// Notes the accept loop of listen socket `key`.
    pub(crate) fn accepting(&self, key: u32, h: tokio::task::AbortHandle) {
        if let Ok(mut a) = self.accepting.lock() {
            a.push((key, h));
        }
    }

    /// Starts accepting on `l` (key `key`) on thread 0.
    pub(crate) fn listen(&self, l: std::net::TcpListener, key: u32) -> bool {
        self.run_on(
            0,
            Box::new(move |core: &Rc<ThreadCore>| {
                super::thread::spawn_accept(core, l, key);
            }),
        )
    }

    /// Stops accepting on listen socket `key` and closes it.
    pub(crate) fn unlisten(&self, key: u32) {
        if let Ok(mut a) = self.accepting.lock() {
            a.retain(|(k, h)| {
                if *k == key {
                    h.abort();
                }
                *k != key
            });
        }
    }

    /// Stops the accept loops (those of thread 0, which runs them all)
    /// when thread `tsi` ends: on a caller's runtime they would outlive it.
    pub(crate) fn unlisten_all(&self, tsi: usize) {
        if tsi != 0 {
            return;
        }
        if let Ok(mut a) = self.accepting.lock() {
            for (_, h) in a.drain(..) {
                h.abort();
            }
        }
    }

    /// Asks every thread to close its connections and end.
    pub(crate) fn shutdown(&self) {
        for t in 0..self.thread_count() {
            self.send(t, ThreadMsg::Shutdown);
        }
    }

    /// How many ids were handed out so far.
    pub(crate) fn ids_issued(&self) -> u64 {
        self.next_id.load(Ordering::Relaxed)
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Lists a new connection on thread `tsi`; returns its registry slot.
    pub(crate) fn conn_opened(&self, tsi: usize, rec: Listing) -> u32 {
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

    /// The peer of the connection in registry slot `slot` of thread `tsi`.
    pub(crate) fn peer_of(&self, tsi: usize, slot: u32) -> Option<std::net::SocketAddr> {
        let r = self.registry.get(tsi)?.lock().ok()?;
        r.get(slot).map(super::registry::Record::peer)
    }

    pub(crate) fn connections(&self) -> Vec<ConnEntry> {
        let mut v = Vec::new();
        for (tsi, r) in self.registry.iter().enumerate() {
            let Ok(r) = r.lock() else { continue };
            v.extend(r.records().map(|rec| {
                let text = r.text(rec);
                let (path, ua) = match text.split_once('\n') {
                    Some((p, u)) => (p, Some(u.to_string())),
                    None => (text, None),
                };
                ConnEntry {
                    id: super::ConnId(rec.id),
                    peer: rec.peer(),
                    protocol: self
                        .services
                        .get(rec.proto as usize)
                        .map_or_else(String::new, |p| p.name().to_string()),
                    path: path.to_string(),
                    user_agent: ua,
                    since_ms: rec.since_ms,
                    tsi: super::ThreadIndex(tsi),
                }
            }));
        }
        v.sort_by_key(|e| e.id);
        v
    }

    pub(crate) fn connections_generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Counts a new connection on thread `tsi` if it has room.
    pub(crate) fn reserve(&self, tsi: usize) -> bool {
        match self.live.get(tsi) {
            Some(l) => {
                l.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Undoes [`Shared::reserve`] or [`Shared::place`] for a connection that never started.
    pub(crate) fn unreserve(&self, tsi: usize) {
        if let Some(l) = self.live.get(tsi) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Picks the least-loaded thread with room, and counts the connection on it.
    pub(crate) fn place(&self) -> Option<usize> {
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

/// Decrements the thread's live count when the connection ends.
pub(crate) struct LiveGuard {
    shared: Arc<Shared>,
    tsi: usize,
}

impl LiveGuard {
    /// Takes over a count made by [`Shared::place`] or [`Shared::reserve`].
    pub(crate) fn new(shared: Arc<Shared>, tsi: usize) -> Self {
        LiveGuard { shared, tsi }
    }

    /// What the connection's threads share.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.unreserve(self.tsi);
    }
}
