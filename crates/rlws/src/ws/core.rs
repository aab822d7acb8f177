//! What one WebSocket connection does, whoever moves its bytes: the pump
//! between the sans-IO [`rlws_ws::Connection`] and the protocol's callbacks
//! (receive, writeable, timer, closed) with the writeable and flow-control
//! rules of [`super::Protocol`], its deadlines as plain instants.
//!
//! Two shells drive it: [`super::table`] for plain TCP sockets kept as
//! records under the thread's poller, [`super::driver`] as a task for any
//! other stream (TLS, HTTP/2 streams).

use std::time::Instant;

use rlws_ws::{CloseCode, Config, Connection, Event, Role, State};

use super::cx::{Control, Cx};
use super::protocol::{Close, Protocol, Received, RxMode};
use super::signal::ConnSignal;
use super::slot::ProtoThread;
use super::writer::{DirectWrite, Writer};
use crate::runtime::{Kind, Tag};

/// Size of the read buffer shared by all connections of a thread.
const READ_BUF: usize = 64 * 1024;

thread_local! {
    /// Both shells read into it; the core parses (and unmasks) in place.
    pub(super) static READ_BUFFER: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0u8; READ_BUF].into_boxed_slice());
}

/// How a write to the transport went.
pub(super) enum Sent {
    Wrote(usize),
    /// Nothing could be written now; try again when the transport is writable.
    Blocked,
    Failed,
}

/// The transport as the core writes to it.
pub(super) trait Out {
    fn send(&mut self, buf: &[u8]) -> Sent;
    /// Pushes out what the transport buffers (TLS); `Wrote(0)` when done.
    fn flush(&mut self) -> Sent;
    /// True when written bytes may sit in the transport until flushed.
    fn buffers(&self) -> bool;
    /// The socket, for writing large frames straight from a callback's data.
    fn direct(&self) -> Option<&dyn DirectWrite>;
}

/// Input held back by RX flow control; boxed in the record (8 bytes, not
/// a vector's 24) since most connections never hold any.
#[derive(Default)]
struct Held(Vec<u8>);

/// What callbacks asked for: [`Protocol::timer`]'s time, and the deadline
/// of `set_timeout` with its reason.
#[derive(Default)]
struct Timers {
    timer: Option<Instant>,
    hard: Option<(Instant, &'static str)>,
}

/// One connection's state apart from its transport.
pub(super) struct Core<P: Protocol> {
    session: Option<P::Session>,
    /// The WebSocket itself: parsing, deflate, close handshake, send queue.
    conn: Connection,
    /// Bytes read while RX was paused, to process on resume.
    held: Option<Box<Held>>,
    /// The deadlines callbacks set (boxed: most connections set none).
    timers: Option<Box<Timers>>,
    /// Flow control and what callbacks asked for; `paused`: input is not read.
    ctl: Control,
    want_writeable: bool,
    eof: bool,
    /// Bytes handed to a buffering transport (TLS) and not yet flushed.
    unflushed: bool,
    /// A callback asked for the close (returned `Err(Close)`).
    closed_by_protocol: bool,
}

impl<P: Protocol> Core<P> {
    pub(super) fn new(pt: &ProtoThread<P>, session: P::Session, ctl: Control, role: Role) -> Self {
        let opts = pt.opts;
        let mut config = Config::default();
        config.max_message = opts.max_message;
        config.max_frame = opts.max_frame;
        config.reassemble = opts.rx_mode == RxMode::Messages;
        let mut conn = Connection::new(role, config);
        if let (Some(p), Some(cfg)) = (&ctl.deflate, &opts.deflate) {
            conn = conn.with_deflate(*p, cfg);
        }
        let mut core = Core {
            session: Some(session),
            conn,
            held: None,
            timers: None,
            ctl: Control {
                paused: false,
                deflate: ctl.deflate,
                changes: None,
            },
            want_writeable: false,
            eof: false,
            unflushed: false,
            closed_by_protocol: false,
        };
        // What `established` asked for.
        core.ctl.paused = ctl.paused;
        core.ctl.changes = ctl.changes;
        core.apply();
        core
    }

    /// Takes what the callbacks set before the connection started, and the
    /// bytes read past the handshake.
    pub(super) fn start(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, leftover: &[u8]) {
        self.take_writeable(sig);
        if !leftover.is_empty() {
            let mut v = leftover.to_vec();
            self.process(pt, sig, &mut v);
        }
    }

    /// See [`Connection::release_buffers`].
    pub(super) fn release_buffers(&mut self) -> usize {
        self.conn.release_buffers()
    }

    /// True while input should be read.
    pub(super) fn reading(&self) -> bool {
        !self.ctl.paused && !self.eof
    }

    /// Bytes are waiting to go out (in the connection or inside the transport).
    pub(super) fn has_output(&self) -> bool {
        self.conn.wants_transmit() || self.unflushed
    }

    /// A callback closed the connection.
    pub(super) fn closed_by_protocol(&self) -> bool {
        self.closed_by_protocol
    }

    /// The connection is over: what is left is flushing and closing.
    pub(super) fn over(&self) -> bool {
        let state = self.conn.state();
        matches!(state, State::Closed | State::CloseReceived)
            || (self.eof && state != State::CloseSent)
            || (self.eof && !self.has_output())
    }

    /// The earliest of its deadlines.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let close = self.conn.poll_timeout();
        // Most connections have no timer of their own.
        let Some(t) = self.timers.as_deref() else {
            return close;
        };
        [t.timer, t.hard.map(|h| h.0), close]
            .into_iter()
            .flatten()
            .min()
    }

    /// Handles what is due at `now`.
    pub(super) fn on_time(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, now: Instant) {
        let (mut timer_due, mut hard_due) = (false, None);
        if let Some(t) = self.timers.as_mut() {
            hard_due = t.hard.take_if(|h| h.0 <= now).map(|h| h.1);
            timer_due = t.timer.take_if(|t| *t <= now).is_some();
        }
        if let Some(reason) = hard_due {
            tracing::info!(conn = %Tag(Kind::Ws, sig.id.get()), reason, "connection timed out: closing");
            self.conn.abort();
            self.eof = true;
            return;
        }
        if timer_due {
            self.callback(pt, sig, |p, cx, s| p.timer(cx, s));
        }
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
    }

    pub(super) fn on_flags(&mut self, sig: &ConnSignal, f: u8) {
        if f & ConnSignal::HANGUP != 0 {
            tracing::debug!(conn = %Tag(Kind::Ws, sig.id.get()), "no pong: hanging up");
            self.conn.abort();
            return;
        }
        if f & ConnSignal::WRITEABLE != 0 {
            self.want_writeable = true;
        }
        if f & ConnSignal::RESUME_RX != 0 {
            self.ctl.paused = false;
        }
        if f & ConnSignal::PING != 0 && self.conn.state() == State::Open {
            let _ = self.conn.send_ping(b"rlws");
        }
        if f & ConnSignal::GOING_AWAY != 0 {
            self.start_close(CloseCode::GOING_AWAY, "server shutting down");
        }
    }

    /// Runs writeable callbacks and writes what can be written, then
    /// handles input held back while RX was paused, if RX was resumed.
    /// True if it stopped with writeable callbacks still owed (the WRITEABLE
    /// flag is set again: come back on a later turn).
    #[inline]
    pub(super) fn settle(
        &mut self,
        pt: &ProtoThread<P>,
        sig: &ConnSignal,
        out: &mut dyn Out,
    ) -> bool {
        // Nothing to write, no callback wanted, no input held: the usual
        // state when a record wakes up to read.
        if !self.want_writeable && self.held.is_none() && !self.has_output() {
            return false;
        }
        self.settle_work(pt, sig, out)
    }

    fn settle_work(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, out: &mut dyn Out) -> bool {
        loop {
            let owed = self.service(pt, sig, out);
            if !self.ctl.paused && self.held.is_some() && self.conn.state() == State::Open {
                if let Some(mut held) = self.held.take() {
                    self.process(pt, sig, &mut held.0);
                }
                continue;
            }
            return owed;
        }
    }

    /// Writeable callbacks and flushing.
    fn service(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, out: &mut dyn Out) -> bool {
        let mut rounds = 0;
        loop {
            if self.has_output() && !self.transmit(out) {
                return false;
            }
            if !(self.want_writeable && self.conn.state() == State::Open) {
                return false;
            }
            rounds += 1;
            if rounds > 8 {
                // Let other connections run; come back on a later turn.
                sig.request(ConnSignal::WRITEABLE);
                self.want_writeable = false;
                return true;
            }
            self.want_writeable = false;
            if self.session.is_none() {
                return false;
            }
            self.writeable_callback(pt, sig, out.direct());
        }
    }

    /// Calls a session callback with a fresh `Cx`, then applies its result.
    fn callback(
        &mut self,
        pt: &ProtoThread<P>,
        sig: &ConnSignal,
        f: impl FnOnce(&P, &mut Cx<'_, P>, &mut P::Session) -> Result<(), Close>,
    ) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if self.conn.state() != State::Open {
            return;
        }
        let res = pt.call(sig, &mut self.ctl, |p, cx| f(p, cx, session));
        self.after_callback(sig, res);
    }

    /// One [`Protocol::writeable`] callback.
    fn writeable_callback(
        &mut self,
        pt: &ProtoThread<P>,
        sig: &ConnSignal,
        direct: Option<&dyn DirectWrite>,
    ) {
        let limit = pt.opts.write_buffer;
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let conn = &mut self.conn;
        let res = pt.call(sig, &mut self.ctl, |p, cx| {
            let mut w = Writer {
                conn,
                limit,
                direct,
                counts: pt.counts(),
            };
            p.writeable(cx, session, &mut w)
        });
        self.after_callback(sig, res);
    }

    /// Writes the connection's queue and flushes the transport. True when
    /// everything is out (or the connection failed); false if the
    /// transport is full.
    pub(super) fn transmit(&mut self, out: &mut dyn Out) -> bool {
        loop {
            let buf = self.conn.poll_transmit();
            if buf.is_empty() {
                break;
            }
            match out.send(buf) {
                Sent::Wrote(n) if n > 0 => {
                    self.conn.advance(n);
                    if out.buffers() {
                        self.unflushed = true;
                    }
                }
                Sent::Blocked => return false,
                Sent::Wrote(_) | Sent::Failed => {
                    self.write_failed();
                    return true;
                }
            }
        }
        if self.unflushed {
            match out.flush() {
                Sent::Wrote(_) => self.unflushed = false,
                Sent::Blocked => return false,
                Sent::Failed => {
                    self.write_failed();
                    return true;
                }
            }
        }
        true
    }

    fn write_failed(&mut self) {
        self.eof = true;
        self.conn.abort();
        self.unflushed = false;
    }

    fn start_close(&mut self, code: CloseCode, reason: &str) {
        if self.conn.state() != State::Open {
            return;
        }
        let _ = self.conn.close(code, reason, Instant::now());
    }

    /// `n` bytes were read; `buf` holds them (0: end of stream).
    pub(super) fn on_read(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, buf: &mut [u8]) {
        if buf.is_empty() {
            self.eof = true;
            return;
        }
        sig.last_rx.set(pt.clock.now());
        sig.ping_sent.set(0);
        self.process(pt, sig, buf);
    }

    /// The transport ended (or failed).
    pub(super) fn on_eof(&mut self) {
        self.eof = true;
    }

    /// Parses and dispatches `buf`. If RX gets paused midway, keeps the rest.
    fn process(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal, buf: &mut [u8]) {
        let mut pos = 0;
        // A frame of zero length at the end comes with its header, so
        // nothing is left once every byte is used.
        while pos < buf.len() {
            if self.ctl.paused {
                self.held
                    .get_or_insert_with(Box::default)
                    .0
                    .extend_from_slice(&buf[pos..]);
                return;
            }
            // Reading data never changes the state, so this holds for a Data event.
            let open = self.conn.state() == State::Open;
            let (n, ev) = match self.conn.read(&mut buf[pos..]) {
                Ok(r) => r,
                Err(e) => {
                    // The connection queued its close with the error's code.
                    tracing::debug!(conn = %Tag(Kind::Ws, sig.id.get()), error = %e, "websocket protocol error");
                    return;
                }
            };
            pos += n;
            match ev {
                None if n == 0 => return,
                None | Some(Event::Ping(_) | Event::Pong(_)) => {}
                // Once our close is out, what the peer still sends is dropped (as lws does).
                Some(Event::Data(_)) if !open => {}
                Some(Event::Data(msg)) => {
                    let res = deliver(pt, sig, &mut self.ctl, &mut self.session, msg);
                    self.after_callback(sig, res);
                }
                Some(Event::Close { code, reason }) => {
                    tracing::debug!(conn = %Tag(Kind::Ws, sig.id.get()), ?code, reason, "peer closed");
                    if self.conn.state() == State::CloseReceived {
                        self.last_writeable(pt, sig);
                    }
                    return;
                }
            }
        }
    }

    /// The peer is closing: a writeable callback that was asked for before
    /// its close arrived still runs, so what was answered goes out ahead of
    /// our close reply.
    fn last_writeable(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal) {
        self.take_writeable(sig);
        if self.want_writeable {
            self.want_writeable = false;
            self.writeable_callback(pt, sig, None);
        }
    }

    #[inline(always)]
    fn after_callback(&mut self, sig: &ConnSignal, res: Result<(), Close>) {
        if self.ctl.changes.is_some() {
            self.apply();
        }
        self.take_writeable(sig);
        if let Err(c) = res {
            self.protocol_closed(c);
        }
    }

    /// A callback returned a close.
    #[cold]
    #[inline(never)]
    fn protocol_closed(&mut self, c: Close) {
        self.closed_by_protocol |= self.conn.state() == State::Open;
        self.start_close(c.code, &c.reason);
    }

    /// A writeable request the connection's own callbacks made.
    fn take_writeable(&mut self, sig: &ConnSignal) {
        let f = sig.flags.get();
        if f & ConnSignal::WRITEABLE != 0 {
            sig.flags.set(f & !ConnSignal::WRITEABLE);
            self.want_writeable = true;
        }
    }

    /// What a callback asked for through its control block.
    #[cold]
    fn apply(&mut self) {
        let Some(ctl) = self.ctl.changes.take() else {
            return;
        };
        if let Some(c) = ctl.compress {
            if let Some(e) = c.enabled {
                self.conn.set_compression(e);
            }
            if let Some(l) = c.level {
                self.conn.set_compression_level(l);
            }
            if let Some(m) = c.min_size {
                self.conn.set_compression_min_size(m);
            }
        }
        if let Some(t) = ctl.timeout {
            self.timers().hard = t.map(|(d, reason)| (Instant::now() + d, reason));
        }
        if let Some(t) = ctl.timer {
            self.timers().timer = t.map(|d| Instant::now() + d);
        }
    }

    /// Takes the connection off its protocol's lists and reports `closed`.
    pub(super) fn finish(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal) {
        if let Some(session) = self.session.take() {
            let code = self.conn.peer_close_code();
            pt.call(sig, &mut Control::default(), |p, cx| {
                p.closed(cx, session, code)
            });
            pt.counts().closed.add(1);
        }
        // Unlisted after `closed`, which may still ask for its peer.
        pt.shared.conn_closed(pt.tsi, sig.reg.get());
        self.held = None;
    }

    /// After [`Core::finish`]: the connection's only deadline is `at`
    /// (flushing and waiting for the peer's end).
    pub(super) fn linger_until(&mut self, at: Instant) {
        *self.timers() = Timers {
            timer: Some(at),
            hard: None,
        };
    }

    /// The callbacks' deadlines, boxed when first set and kept after.
    fn timers(&mut self) -> &mut Timers {
        self.timers.get_or_insert_with(Box::default)
    }

    /// What is still queued to go out after [`Core::finish`].
    pub(super) fn rest(&mut self) -> &[u8] {
        self.conn.poll_transmit()
    }

    /// Nothing is left of [`Core::rest`].
    pub(super) fn rest_is_empty(&self) -> bool {
        self.conn.queued() == 0
    }

    /// `n` bytes of [`Core::rest`] went out.
    pub(super) fn advance(&mut self, n: usize) {
        self.conn.advance(n);
    }
}

/// Calls `receive` (a free function so the parser's borrow of the connection can stay alive).
fn deliver<P: Protocol>(
    pt: &ProtoThread<P>,
    sig: &ConnSignal,
    ctl: &mut Control,
    session: &mut Option<P::Session>,
    msg: Received<'_>,
) -> Result<(), Close> {
    let Some(session) = session.as_mut() else {
        return Ok(());
    };
    let counts = pt.counts();
    counts.rx_bytes.add(msg.data.len() as u64);
    if msg.last {
        counts.rx_messages.add(1);
    }
    pt.call(sig, ctl, |p, cx| p.receive(cx, session, msg))
}
