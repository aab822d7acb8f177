//! A protocol on a service thread: its per-thread state and connection
//! list ([`ProtoThread`]), the type-erased face the runtime and the server
//! see ([`ErasedProtocol`]), the step from an accepted handshake to a running
//! driver, and client connections run with the protocol's callbacks.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use rlws_ws::Role;

use super::core::Core;
use super::cx::{Control, Cx, ThreadCx};
use super::protocol::{Close, DeflateConfig, DeflateParams, Handshake, Protocol, ProtocolOptions};
use super::signal::{ConnSignal, TaskSignal};
use super::sock::{Plain, RecSock, SealedTls, Tls};
use super::table::Table;
use super::upgrade::Handed;
use crate::client::ClientConfig;
use crate::runtime::{
    Clock, ConnId, Kind, Listing, LiveGuard, Poller, ProtoCounts, Service, Shard, Shared, Sink,
    Tag, ThreadCore, ThreadIndex, Transport, Validity, ValidityTable,
};
use crate::tls::Parts;

/// A protocol's state on one service thread.
pub(crate) struct ProtoThread<P: Protocol> {
    pub(crate) proto: Arc<P>,
    pub(crate) index: usize,
    pub(crate) tsi: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) opts: ProtocolOptions,
    pub(crate) state: RefCell<P::ThreadState>,
    /// Connections run as tasks (HTTP/2 streams, client TLS, or without a poller).
    conns: RefCell<Vec<Option<Rc<TaskSignal>>>>,
    free: RefCell<Vec<usize>>,
    /// Connections on plain TCP, as records under the thread's poller.
    table: Table<P>,
    /// Client connections on TLS over TCP (through rustls), likewise.
    tls_table: Table<P, Tls>,
    /// Server connections on TLS over TCP (rlws' own records), likewise.
    sealed_table: Table<P, SealedTls>,
    poller: Option<Rc<Poller>>,
    pub(crate) clock: Rc<Clock>,
    validity: Rc<ValidityTable>,
    /// The protocol's counts (this thread's shard is at `tsi`).
    counts: Shard<ProtoCounts>,
}

impl<P: Protocol> ProtoThread<P> {
    /// This thread's counts of the protocol.
    #[inline]
    pub(super) fn counts(&self) -> &ProtoCounts {
        &self.counts
    }

    pub(crate) fn request_all(&self, flag: u8) {
        for c in self.conns.borrow().iter().flatten() {
            c.notify(flag);
        }
        self.each_record(|sig| sig.request(flag));
    }

    /// Calls `f` on the signal of every record in the table, then has the
    /// poller look at each.
    fn each_record(&self, mut f: impl FnMut(&ConnSignal)) {
        if let Some(poller) = &self.poller {
            self.table.flag_each(poller, &mut f);
            self.tls_table.flag_each(poller, &mut f);
            self.sealed_table.flag_each(poller, &mut f);
        }
    }

    pub(crate) fn post_others(&self, event: P::Event)
    where
        P::Event: Clone,
    {
        for t in 0..self.shared.thread_count() {
            if t != self.tsi {
                let ev = event.clone();
                let index = self.index;
                self.shared.run_on(
                    t,
                    Box::new(move |core: &Rc<ThreadCore>| {
                        if let Some(pt) = core.slots.get(index).and_then(slot_of::<P>) {
                            pt.event(ev);
                        }
                    }),
                );
            }
        }
    }

    /// Runs [`Protocol::event`] on this thread.
    fn event(&self, event: P::Event) {
        self.thread_call(|p, cx| p.event(cx, event));
    }

    /// Runs a thread-level callback `f` with a fresh [`ThreadCx`].
    fn thread_call<R>(&self, f: impl FnOnce(&P, &mut ThreadCx<'_, P>) -> R) -> R {
        let mut state = self.state.borrow_mut();
        let mut cx = ThreadCx {
            pt: self,
            state: &mut state,
        };
        f(&self.proto, &mut cx)
    }

    /// Runs `established` for a handshake (server or client side) and lists
    /// the connection; the driver starts once its stream is there.
    fn accept(
        self: &Rc<Self>,
        hs: &Handshake<'_>,
        id: u64,
        deflate: Option<DeflateParams>,
        validity: Option<Validity>,
    ) -> Result<Pending<P>, Close> {
        let sig = Rc::new(TaskSignal::new(ConnSignal::new(id, self.clock.now())));
        sig.sig
            .validity
            .set(self.validity.index(validity.or(self.opts.validity)));
        // Listed first: the registry keeps the peer address `Cx::peer` reads.
        let ua = hs
            .headers
            .get(http::header::USER_AGENT)
            .filter(|_| !hs.client)
            .and_then(|v| v.to_str().ok());
        let rec = Listing::new(id, hs.peer, self.index, hs.path, ua);
        sig.sig.reg.set(self.shared.conn_opened(self.tsi, rec));
        let mut ctl = Control {
            deflate,
            ..Control::default()
        };
        let session = match self.call(&sig.sig, &mut ctl, |p, cx| p.established(cx, hs)) {
            Ok(s) => s,
            Err(c) => {
                self.shared.conn_closed(self.tsi, sig.sig.reg.get());
                return Err(c);
            }
        };
        self.add(&sig);
        self.counts().opened.add(1);
        Ok(Pending {
            pt: self.clone(),
            sig,
            session,
            ctl,
        })
    }

    pub(super) fn add(&self, c: &Rc<TaskSignal>) {
        let mut conns = self.conns.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(s) => {
                conns[s] = Some(c.clone());
                s
            }
            None => {
                conns.push(Some(c.clone()));
                conns.len() - 1
            }
        };
        c.sig.slot.set(slot as u32);
    }

    pub(super) fn remove(&self, c: &TaskSignal) {
        let slot = c.sig.slot.replace(u32::MAX) as usize;
        if let Some(e) = self.conns.borrow_mut().get_mut(slot) {
            *e = None;
            self.free.borrow_mut().push(slot);
        }
    }

    /// Opens a client connection of this protocol on this thread.
    pub(crate) fn connect_here(&self, cfg: ClientConfig) -> Result<ClientHandle, ClientStartError> {
        start_client::<P>(&self.shared, self.index, cfg, Some(self.tsi))
    }

    /// Runs a connection callback `f` with a fresh [`Cx`] for `conn`.
    pub(super) fn call<R>(
        &self,
        conn: &ConnSignal,
        ctl: &mut Control,
        f: impl FnOnce(&P, &mut Cx<'_, P>) -> R,
    ) -> R {
        let mut state = self.state.borrow_mut();
        let mut cx = Cx {
            pt: self,
            state: &mut state,
            conn,
            ctl,
        };
        f(&self.proto, &mut cx)
    }

    pub(crate) fn live(&self) -> usize {
        self.conns.borrow().len() - self.free.borrow().len()
            + self.table.live()
            + self.tls_table.live()
            + self.sealed_table.live()
    }

    /// Runs an upgraded connection: as a record in a table on plain TCP
    /// or TLS over TCP (with a poller), else as a task. `done` hears
    /// whether a callback closed it, when it ends.
    fn start_conn(
        self: &Rc<Self>,
        pending: Pending<P>,
        io: Handed,
        role: Role,
        leftover: Bytes,
        guard: Option<Rc<LiveGuard>>,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) {
        let Pending {
            pt: _,
            sig,
            session,
            ctl,
        } = pending;
        self.remove(&sig);
        let core = Core::new(self, session, ctl, role);
        let Some(poller) = &self.poller else {
            let io = match io {
                Handed::Sealed(tls) => Transport::Other(tls),
                Handed::Io(io) => io,
            };
            return self.spawn_task(sig, core, io, leftover, guard, done);
        };
        // TCP (plain, in rlws' TLS records, or under a client's rustls
        // connection) goes to a table; anything else runs as a task.
        let from = &sig.sig;
        let failed = match io {
            Handed::Sealed(tls) => match tls.into_parts().and_then(|p| {
                let Parts {
                    io,
                    sealed,
                    plain,
                    partial,
                    output,
                } = p;
                Ok((io.into_std()?, sealed, plain, partial, output))
            }) {
                Ok((tcp, sealed, plain, partial, output)) => {
                    let mut ahead = leftover.to_vec();
                    ahead.extend_from_slice(&plain);
                    let sock =
                        SealedTls::new(mio::net::TcpStream::from_std(tcp), sealed, partial, output);
                    self.sealed_table
                        .insert(self, poller, from, core, sock, &ahead, guard, done);
                    return;
                }
                Err(e) => e,
            },
            Handed::Io(Transport::Tls(t)) => {
                let (tcp, conn) = (*t.0).into_inner();
                match tcp.into_std() {
                    Ok(tcp) => {
                        let sock = Tls::new(
                            mio::net::TcpStream::from_std(tcp),
                            rustls::Connection::Client(conn),
                        );
                        self.tls_table
                            .insert(self, poller, from, core, sock, &leftover, guard, done);
                        return;
                    }
                    Err(e) => e,
                }
            }
            Handed::Io(Transport::Tcp(s)) => match s.into_std() {
                Ok(tcp) => {
                    let sock = Plain(mio::net::TcpStream::from_std(tcp));
                    self.table
                        .insert(self, poller, from, core, sock, &leftover, guard, done);
                    return;
                }
                Err(e) => e,
            },
            Handed::Io(io) => return self.spawn_task(sig, core, io, leftover, guard, done),
        };
        tracing::warn!(conn = %Tag(Kind::Ws, sig.sig.id.get()), error = %failed, "cannot serve the connection");
        let mut core = core;
        core.finish(self, &sig.sig);
        if let Some(d) = done {
            let _ = d.send(false);
        }
    }

    /// Runs a connection as a task of its own on `io`.
    fn spawn_task(
        self: &Rc<Self>,
        sig: Rc<TaskSignal>,
        core: Core<P>,
        io: Transport,
        leftover: Bytes,
        guard: Option<Rc<LiveGuard>>,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) {
        self.add(&sig);
        let pt = self.clone();
        tokio::task::spawn_local(async move {
            let by_protocol = super::driver::run(pt, sig, core, io, leftover).await;
            drop(guard);
            if let Some(d) = done {
                let _ = d.send(by_protocol);
            }
        });
    }
}

/// Which table a poller key names, and the key within it.
enum Which {
    Plain(u32),
    Tls(u32),
    Sealed(u32),
}

/// Plain TCP, the busiest, is one test of the top bit; the sealed
/// table's tag has the top bit too.
#[inline(always)]
fn which(key: u32) -> Which {
    const SEALED: u32 = SealedTls::KEY_TAG & !Tls::KEY_TAG;
    if key & Tls::KEY_TAG == 0 {
        Which::Plain(key)
    } else if key & SEALED != 0 {
        Which::Sealed(key & !SealedTls::KEY_TAG)
    } else {
        Which::Tls(key & !Tls::KEY_TAG)
    }
}

impl<P: Protocol> Sink for ProtoThread<P> {
    fn ready(&self, key: u32, gen: u16, readable: bool, writable: bool) {
        if let Some(poller) = &self.poller {
            match which(key) {
                Which::Tls(k) => self
                    .tls_table
                    .ready(self, poller, k, gen, readable, writable),
                Which::Sealed(k) => self
                    .sealed_table
                    .ready(self, poller, k, gen, readable, writable),
                Which::Plain(k) => self.table.ready(self, poller, k, gen, readable, writable),
            }
        }
    }

    fn run(&self, key: u32, gen: u16) {
        if let Some(poller) = &self.poller {
            match which(key) {
                Which::Tls(k) => self.tls_table.run(self, poller, k, gen),
                Which::Sealed(k) => self.sealed_table.run(self, poller, k, gen),
                Which::Plain(k) => self.table.run(self, poller, k, gen),
            }
        }
    }

    fn expired(&self, key: u32, gen: u16, at: u64) {
        if let Some(poller) = &self.poller {
            match which(key) {
                Which::Tls(k) => self.tls_table.expired(self, poller, k, gen, at),
                Which::Sealed(k) => self.sealed_table.expired(self, poller, k, gen, at),
                Which::Plain(k) => self.table.expired(self, poller, k, gen, at),
            }
        }
    }
}

/// What the server and the context need of a protocol without knowing its
/// type (the runtime's part is [`Service`]).
pub(crate) trait ErasedProtocol: Send + Sync {
    fn name(&self) -> &str;
    /// Runs `established` for an upgrade request; on success returns the
    /// task that drives the connection once the upgrade completes.
    fn accept(
        &self,
        slot: &Rc<dyn Any>,
        hs: &Handshake<'_>,
        id: u64,
        deflate: Option<DeflateParams>,
        validity: Option<Validity>,
    ) -> Result<Box<dyn StartConn>, Close>;
    /// Delivers an event posted from another thread (dropped if it is not
    /// of the protocol's event type).
    fn deliver(&self, slot: &Rc<dyn Any>, event: Box<dyn Any + Send>);
    /// Opens a client connection with this protocol, protocol number `index`.
    fn connect(
        &self,
        shared: &Arc<Shared>,
        index: usize,
        cfg: ClientConfig,
    ) -> Result<ClientHandle, ClientStartError>;
    fn deflate_config(&self) -> Option<DeflateConfig>;
}

/// The protocol as both faces, from one value.
pub(crate) fn erase<P: Protocol>(p: P) -> (Arc<dyn ErasedProtocol>, Arc<dyn Service>) {
    let e = Arc::new(Entry(Arc::new(p)));
    (e.clone(), e)
}

/// Starts a connection's driver once the upgraded socket is available.
pub(crate) trait StartConn {
    /// Spawns the connection's task on this thread: it waits for the HTTP
    /// side to hand over the upgraded stream, then runs the connection.
    fn spawn_upgrade(self: Box<Self>, upgrade: hyper::upgrade::OnUpgrade, guard: Rc<LiveGuard>);
}

pub(crate) struct Entry<P: Protocol>(pub(crate) Arc<P>);

fn slot_of<P: Protocol>(slot: &Rc<dyn Any>) -> Option<Rc<ProtoThread<P>>> {
    slot.clone().downcast::<ProtoThread<P>>().ok()
}

impl<P: Protocol> Service for Entry<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn new_slot(
        &self,
        index: usize,
        tsi: usize,
        shared: Arc<Shared>,
        clock: Rc<Clock>,
        validity: Rc<ValidityTable>,
        poller: Option<Rc<Poller>>,
    ) -> Rc<dyn Any> {
        let counts = shared.metrics.protocol(index, tsi);
        let pt = Rc::new(ProtoThread {
            proto: self.0.clone(),
            index,
            tsi,
            shared,
            opts: self.0.options(),
            state: RefCell::new(self.0.thread_init(ThreadIndex(tsi))),
            counts,
            conns: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            table: Table::default(),
            tls_table: Table::default(),
            sealed_table: Table::default(),
            poller,
            clock,
            validity,
        });
        if let Some(poller) = &pt.poller {
            let sink: std::rc::Weak<dyn Sink> = Rc::downgrade(&pt) as std::rc::Weak<ProtoThread<P>>;
            let id = poller.add_sink(sink);
            pt.table.set_sink(id);
            pt.tls_table.set_sink(id);
            pt.sealed_table.set_sink(id);
        }
        pt
    }

    fn going_away(&self, slot: &Rc<dyn Any>) {
        if let Some(pt) = slot_of::<P>(slot) {
            pt.request_all(ConnSignal::GOING_AWAY);
        }
    }

    fn sweep(&self, slot: &Rc<dyn Any>, now: u32, rules: &ValidityTable) -> usize {
        let Some(pt) = slot_of::<P>(slot) else {
            return 0;
        };
        if rules.any() {
            for c in pt.conns.borrow().iter().flatten() {
                if let Some(flag) = validity_due(&c.sig, now, rules) {
                    c.notify(flag);
                }
            }
            pt.each_record(|sig| {
                if let Some(flag) = validity_due(sig, now, rules) {
                    sig.request(flag);
                }
            });
        }
        pt.table.drop_idle_buffers()
            + pt.tls_table.drop_idle_buffers()
            + pt.sealed_table.drop_idle_buffers()
    }

    fn live(&self, slot: &Rc<dyn Any>) -> usize {
        slot_of::<P>(slot).map_or(0, |pt| pt.live())
    }
}

/// What the connection's proof-of-life rule asks for at `now`, if
/// anything: a ping (noted as sent) or the hang-up.
fn validity_due(c: &ConnSignal, now: u32, rules: &ValidityTable) -> Option<u8> {
    let (ping_after, pong_timeout) = rules.get(c.validity.get());
    if ping_after == u32::MAX {
        return None;
    }
    let sent = c.ping_sent.get();
    if sent != 0 {
        (now.saturating_sub(sent) >= pong_timeout).then_some(ConnSignal::HANGUP)
    } else if now.saturating_sub(c.last_rx.get()) >= ping_after {
        c.ping_sent.set(now);
        Some(ConnSignal::PING)
    } else {
        None
    }
}

impl<P: Protocol> ErasedProtocol for Entry<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn accept(
        &self,
        slot: &Rc<dyn Any>,
        hs: &Handshake<'_>,
        id: u64,
        deflate: Option<DeflateParams>,
        validity: Option<Validity>,
    ) -> Result<Box<dyn StartConn>, Close> {
        let pt = slot_of::<P>(slot).ok_or_else(|| Close::new(1011, "protocol slot mismatch"))?;
        Ok(Box::new(pt.accept(hs, id, deflate, validity)?))
    }

    fn deliver(&self, slot: &Rc<dyn Any>, event: Box<dyn Any + Send>) {
        let Some(pt) = slot_of::<P>(slot) else { return };
        if let Ok(ev) = event.downcast::<P::Event>() {
            pt.event(*ev);
        }
    }

    fn connect(
        &self,
        shared: &Arc<Shared>,
        index: usize,
        cfg: ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        start_client::<P>(shared, index, cfg, None)
    }

    fn deflate_config(&self) -> Option<DeflateConfig> {
        self.0.options().deflate
    }
}

struct Pending<P: Protocol> {
    pt: Rc<ProtoThread<P>>,
    sig: Rc<TaskSignal>,
    session: P::Session,
    ctl: Control,
}

impl<P: Protocol> Pending<P> {
    /// The upgrade failed: report `closed` without a connection.
    fn abandon(self) {
        let Pending {
            pt, sig, session, ..
        } = self;
        pt.remove(&sig);
        pt.call(&sig.sig, &mut Control::default(), |p, cx| {
            p.closed(cx, session, None)
        });
        pt.counts().closed.add(1);
        pt.shared.conn_closed(pt.tsi, sig.sig.reg.get());
    }
}

impl<P: Protocol> StartConn for Pending<P> {
    fn spawn_upgrade(self: Box<Self>, upgrade: hyper::upgrade::OnUpgrade, guard: Rc<LiveGuard>) {
        // A task only until the HTTP side hands the stream over.
        tokio::task::spawn_local(async move {
            let (io, leftover) = super::upgrade::upgraded(upgrade).await;
            match io {
                Some(io) => {
                    let pt = self.pt.clone();
                    pt.start_conn(*self, io, Role::Server, leftover, Some(guard), None);
                }
                None => {
                    (*self).abandon();
                    drop(guard);
                }
            }
        });
    }
}

/// A client connection being opened: its connection id (as in
/// [`Cx::id`]) and service thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHandle {
    /// The connection id; `established`, the callbacks after it and
    /// `client_connection_error` see the same id.
    pub id: ConnId,
    /// The service thread it runs on.
    pub tsi: ThreadIndex,
}

/// Why a client connection could not even be started (connection errors
/// come later, through [`Protocol::client_connection_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// Starts a client connection of protocol `P` (number `index`) on thread
/// `tsi`, or the least-loaded one.
fn start_client<P: Protocol>(
    shared: &Arc<Shared>,
    index: usize,
    cfg: ClientConfig,
    tsi: Option<usize>,
) -> Result<ClientHandle, ClientStartError> {
    let tsi = match tsi {
        Some(t) if shared.reserve(t) => t,
        Some(_) => return Err(ClientStartError::NoSuchThread),
        None => shared.place().ok_or(ClientStartError::Full)?,
    };
    let id = shared.next_id();
    let sh = shared.clone();
    // The connection's callbacks wait until this call has its handle.
    let (go, go_rx) = tokio::sync::oneshot::channel::<()>();
    let job = Box::new(move |core: &Rc<ThreadCore>| {
        let guard = LiveGuard::new(sh, tsi);
        match core.slots.get(index).and_then(slot_of::<P>) {
            Some(pt) => {
                let closing = core.closing();
                tokio::task::spawn_local(async move {
                    let _ = go_rx.await;
                    nailed_up(pt, cfg, id, guard, closing).await
                });
            }
            None => drop(guard),
        }
    });
    if !shared.run_on(tsi, job) {
        shared.unreserve(tsi);
        return Err(ClientStartError::Stopped);
    }
    let _ = go.send(());
    Ok(ClientHandle {
        id: ConnId(id),
        tsi: ThreadIndex(tsi),
    })
}

/// Runs a client connection; with [`ClientConfig::retry`] (a nailed-up
/// connection) opens it again after each failure or close, waiting the
/// policy's delays (counted from the last established connection), until
/// the policy gives up, a callback closes it, or the thread shuts down.
async fn nailed_up<P: Protocol>(
    pt: Rc<ProtoThread<P>>,
    mut cfg: ClientConfig,
    id: u64,
    _guard: LiveGuard,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    if pt.opts.deflate.is_none() {
        cfg.deflate = None;
        cfg.deflate_also.clear();
    }
    let mut failures = 0u32;
    loop {
        let attempt = client_conn(&pt, &cfg, id).await;
        let Some(policy) = &cfg.retry else { return };
        if *closing.borrow() || attempt == Attempt::ClosedByProtocol {
            return;
        }
        failures = if attempt == Attempt::Ended {
            1
        } else {
            failures + 1
        };
        let Some(wait) = policy.delay(failures) else {
            tracing::info!(
                conn = %Tag(Kind::Ws, id),
                url_host = cfg.host(),
                failures,
                "nailed-up client connection: giving up"
            );
            return;
        };
        tracing::debug!(
            conn = %Tag(Kind::Ws, id),
            url_host = cfg.host(),
            failures,
            ?wait,
            "nailed-up client connection: reconnecting"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = closing.changed() => return,
        }
    }
}

/// Opens a client connection and runs it with its protocol's callbacks;
/// how it went.
async fn client_conn<P: Protocol>(pt: &Rc<ProtoThread<P>>, cfg: &ClientConfig, id: u64) -> Attempt {
    let (io, opened, peer) = match crate::client::open(cfg).await {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(conn = %Tag(Kind::Ws, id), url_host = cfg.host(), error = %e, "client connection failed");
            pt.thread_call(|p, cx| p.client_connection_error(cx, ConnId(id), &e));
            return Attempt::Failed;
        }
    };
    let (path, query) = match cfg.path().split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (cfg.path(), None),
    };
    let hs = Handshake {
        path,
        query,
        headers: &opened.headers,
        peer,
        client: true,
        over_h2: false,
        options: &[],
    };
    let pending = match pt.accept(&hs, id, opened.deflate, cfg.validity) {
        Ok(p) => p,
        Err(c) => {
            tracing::debug!(conn = %Tag(Kind::Ws, id), reason = %c.reason, "client connection refused by its protocol");
            return Attempt::Failed;
        }
    };
    let (done, ended) = tokio::sync::oneshot::channel();
    let leftover = Bytes::from(opened.leftover);
    pt.start_conn(
        pending,
        Handed::Io(io),
        Role::Client,
        leftover,
        None,
        Some(done),
    );
    match ended.await {
        Ok(true) => Attempt::ClosedByProtocol,
        _ => Attempt::Ended,
    }
}

/// How one attempt of a client connection went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// It could not be opened (or its protocol refused it).
    Failed,
    /// It was up, then closed by the peer, the network or a timeout.
    Ended,
    /// It was up, then one of its callbacks closed it.
    ClosedByProtocol,
}
