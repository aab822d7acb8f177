//! WebSockets on plain TCP, or on TLS over TCP, as records in their
//! protocol's table on the service thread, driven by the thread's
//! [`Poller`]: no task, no waker, no timer of their own. A record is the
//! socket (with its rustls connection, for TLS: [`RecSock`]), the
//! connection's [`Core`] and a few flags; its signal cell sits beside it so
//! that other connections' callbacks can flag it while it runs.
//!
//! The table grows by pages that never move, so a record's address is
//! stable and growth never copies the live ones.

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::core::{Core, Out, Sent, READ_BUFFER};
use super::protocol::Protocol;
use super::signal::ConnSignal;
use super::slot::ProtoThread;
use super::sock::{Plain, RecSock};
use crate::runtime::{Growth, Kind, LiveGuard, Poller, Tag, Token};

/// Records per page: 64 in the first (18 KiB), then 512 (144 KiB, which
/// glibc maps on its own, away from the heap's small allocations).
const PAGES: Growth = Growth {
    first: 64,
    rest: 512,
};
/// Reads one record may do in one turn before the others get theirs.
const READS_PER_TURN: u32 = 16;
/// How long a closed connection may take to flush and see the peer's end.
const LINGER: Duration = Duration::from_secs(5);

const VACANT: u8 = 0;
const OPEN: u8 = 1;
const LINGERING: u8 = 2;

/// A record's place: its signal (which also holds the slot's state,
/// [`VACANT`], [`OPEN`] or [`LINGERING`], and whether the record counts
/// itself) and the record.
struct Slot<P: Protocol, S: RecSock> {
    sig: ConnSignal,
    rec: RefCell<Option<Rec<P, S>>>,
}

/// One connection in the table.
struct Rec<P: Protocol, S: RecSock> {
    sock: S,
    core: Core<P>,
    /// Readiness reported and not yet used up (the poll is edge-triggered).
    readable: bool,
    writable: bool,
    /// The socket is watched for writability (only while output waits).
    watching_write: bool,
    /// Closing: the write side is shut.
    shut: bool,
}

/// A page of slots; pages never move.
type Page<P, S> = Box<[Slot<P, S>]>;

/// A protocol's WebSocket records on one thread.
pub(crate) struct Table<P: Protocol, S: RecSock = Plain> {
    pages: RefCell<Vec<Page<P, S>>>,
    free: RefCell<Vec<u32>>,
    /// Records not yet closing.
    live: Cell<usize>,
    sink: Cell<u16>,
    /// Who waits for a record's end (client connections), by key: told
    /// whether one of its callbacks closed it.
    done: RefCell<Vec<(u32, tokio::sync::oneshot::Sender<bool>)>>,
}

impl<P: Protocol, S: RecSock> Default for Table<P, S> {
    fn default() -> Self {
        Table {
            pages: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            live: Cell::new(0),
            sink: Cell::new(0),
            done: RefCell::new(Vec::new()),
        }
    }
}

/// What to do with a record after driving it.
#[derive(PartialEq, Eq)]
enum Verdict {
    Keep,
    Drop,
}

impl<P: Protocol, S: RecSock> Table<P, S> {
    pub(super) fn set_sink(&self, sink: u16) {
        self.sink.set(sink);
    }

    pub(super) fn live(&self) -> usize {
        self.live.get()
    }

    fn token(&self, sig: &ConnSignal) -> Token {
        Token::new(self.sink.get(), sig.gen.get(), sig.slot.get() | S::KEY_TAG)
    }

    /// Calls `f` with every open slot.
    fn for_each_open(&self, mut f: impl FnMut(&Slot<P, S>)) {
        for page in self.pages.borrow().iter() {
            for s in page.iter() {
                if s.sig.state.get() == OPEN {
                    f(s);
                }
            }
        }
    }

    /// Frees the buffers open records do not need between messages (once
    /// a second, from the sweeper): an idle record holds none, and a busy
    /// one gets them back as it goes on. Returns how many large states
    /// went: zlib's, and TLS key schedules (about 1 KiB each) by the 64.
    pub(super) fn drop_idle_buffers(&self) -> usize {
        let mut freed = 0;
        let mut keys = 0;
        self.for_each_open(|s| {
            if let Ok(mut r) = s.rec.try_borrow_mut() {
                if let Some(rec) = r.as_mut() {
                    freed += rec.core.release_buffers();
                    keys += usize::from(rec.sock.release());
                }
            }
        });
        freed + keys / 64
    }

    /// Calls `f` on the signal of every open record, and schedules those
    /// whose flags it changed.
    pub(super) fn flag_each(&self, poller: &Poller, f: &mut impl FnMut(&ConnSignal)) {
        self.for_each_open(|s| {
            let before = s.sig.flags.get();
            f(&s.sig);
            if s.sig.flags.get() != before {
                self.schedule(poller, &s.sig);
            }
        });
    }

    /// Puts `sig` on the poller's queue (once) so that its flags are seen.
    pub(super) fn schedule(&self, poller: &Poller, sig: &ConnSignal) {
        if !sig.queued.replace(true) {
            poller.schedule(self.token(sig));
        }
    }

    /// Makes a record of an upgraded connection and runs it up to its
    /// first wait. `from` is the signal its callbacks used so far.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert(
        &self,
        pt: &ProtoThread<P>,
        poller: &Poller,
        from: &ConnSignal,
        mut core: Core<P>,
        mut sock: S,
        leftover: &[u8],
        guard: Option<Rc<LiveGuard>>,
        done: Option<tokio::sync::oneshot::Sender<bool>>,
    ) {
        // The record takes over the HTTP connection's count (an 8-byte
        // pointer and a 48-byte allocation less per record).
        let counted = guard.is_some() && pt.shared.reserve(pt.tsi);
        drop(guard);
        let key = self.vacant_key();
        let pages = self.pages.borrow();
        let Some(slot) = slot_at(&pages, key) else {
            if counted {
                pt.shared.unreserve(pt.tsi);
            }
            return;
        };
        let sig = &slot.sig;
        let gen = sig.gen.get().wrapping_add(1);
        sig.copy_from(from);
        sig.gen.set(gen);
        sig.slot.set(key);
        if let Err(e) = poller.register(sock.tcp(), self.token(sig), mio::Interest::READABLE) {
            tracing::warn!(conn = %Tag(Kind::Ws, sig.id.get()), error = %e, "cannot watch the connection");
            if counted {
                pt.shared.unreserve(pt.tsi);
            }
            core.finish(pt, sig);
            if let Some(d) = done {
                let _ = d.send(false);
            }
            self.free.borrow_mut().push(key);
            return;
        }
        let _ = sock.tcp().set_nodelay(true);
        core.start(pt, sig, leftover);
        sig.state.set(OPEN);
        // The record counts itself on its thread (lws' connection count) until it goes.
        sig.counted.set(counted);
        self.live.set(self.live.get() + 1);
        if let Some(d) = done {
            self.done.borrow_mut().push((key, d));
        }
        let mut rec = Rec {
            sock,
            core,
            readable: true,
            writable: true,
            watching_write: false,
            shut: false,
        };
        let verdict = rec.drive(self, pt, poller, sig, &sig.state);
        if verdict == Verdict::Keep {
            *slot.rec.borrow_mut() = Some(rec);
        } else {
            release(pt, sig);
            self.vacate(slot, key);
        }
    }

    fn vacant_key(&self) -> u32 {
        if let Some(k) = self.free.borrow_mut().pop() {
            return k;
        }
        let mut pages = self.pages.borrow_mut();
        let (base, len) = PAGES.page(pages.len());
        pages.push((0..len).map(|_| Slot::vacant()).collect());
        let mut free = self.free.borrow_mut();
        // Hand out the lowest key first.
        free.extend((base + 1..base + len).rev().map(|k| k as u32));
        base as u32
    }

    fn vacate(&self, slot: &Slot<P, S>, key: u32) {
        if slot.sig.state.replace(VACANT) == OPEN {
            self.live.set(self.live.get().saturating_sub(1));
        }
        slot.sig.armed.set(0);
        slot.sig.queued.set(false);
        self.free.borrow_mut().push(key);
    }

    /// Runs `f` on record `key` if it is still generation `gen`.
    fn with(
        &self,
        pt: &ProtoThread<P>,
        key: u32,
        gen: u16,
        f: impl FnOnce(&mut Rec<P, S>, &ConnSignal, &Cell<u8>) -> Verdict,
    ) {
        let pages = self.pages.borrow();
        let Some(slot) = slot_at(&pages, key) else {
            return;
        };
        if slot.sig.gen.get() != gen || slot.sig.state.get() == VACANT {
            return;
        }
        let Ok(mut r) = slot.rec.try_borrow_mut() else {
            return;
        };
        let Some(rec) = r.as_mut() else { return };
        if f(rec, &slot.sig, &slot.sig.state) == Verdict::Drop {
            // The socket closes with the record.
            drop(r.take());
            release(pt, &slot.sig);
            drop(r);
            self.vacate(slot, key);
        }
    }

    pub(super) fn ready(
        &self,
        pt: &ProtoThread<P>,
        poller: &Poller,
        key: u32,
        gen: u16,
        readable: bool,
        writable: bool,
    ) {
        self.with(pt, key, gen, |rec, sig, state| {
            rec.readable |= readable;
            rec.writable |= writable;
            rec.drive(self, pt, poller, sig, state)
        });
    }

    pub(super) fn run(&self, pt: &ProtoThread<P>, poller: &Poller, key: u32, gen: u16) {
        self.with(pt, key, gen, |rec, sig, state| {
            sig.queued.set(false);
            rec.drive(self, pt, poller, sig, state)
        });
    }

    pub(super) fn expired(
        &self,
        pt: &ProtoThread<P>,
        poller: &Poller,
        key: u32,
        gen: u16,
        at: u64,
    ) {
        self.with(pt, key, gen, |rec, sig, state| {
            if sig.armed.get() != at {
                // Replaced by an earlier timer.
                return Verdict::Keep;
            }
            sig.armed.set(0);
            let now = Instant::now();
            if state.get() == LINGERING {
                if rec.core.deadline().is_none_or(|t| t <= now) {
                    return Verdict::Drop;
                }
            } else {
                rec.core.on_time(pt, sig, now);
            }
            rec.drive(self, pt, poller, sig, state)
        });
    }
}

fn slot_at<P: Protocol, S: RecSock>(pages: &[Page<P, S>], key: u32) -> Option<&Slot<P, S>> {
    let (page, i) = PAGES.locate(key as usize);
    pages.get(page).and_then(|p| p.get(i))
}

impl<P: Protocol, S: RecSock> Slot<P, S> {
    fn vacant() -> Self {
        Slot {
            sig: ConnSignal::new(0, 0),
            rec: RefCell::new(None),
        }
    }
}

/// A record went: its count on the thread ends.
fn release<P: Protocol>(pt: &ProtoThread<P>, sig: &ConnSignal) {
    if sig.counted.replace(false) {
        pt.shared.unreserve(pt.tsi);
    }
}

impl<P: Protocol, S: RecSock> Rec<P, S> {
    /// Runs the record until it has to wait for the socket, a timer or a
    /// signal.
    fn drive(
        &mut self,
        table: &Table<P, S>,
        pt: &ProtoThread<P>,
        poller: &Poller,
        sig: &ConnSignal,
        state: &Cell<u8>,
    ) -> Verdict {
        if state.get() == LINGERING {
            return self.linger(table, poller, sig);
        }
        let mut reads = 0;
        loop {
            let f = sig.take();
            if f != 0 {
                self.core.on_flags(sig, f);
            }
            let owed = {
                let mut out = self.sock.out(&mut self.writable);
                self.core.settle(pt, sig, &mut out)
            };
            if owed {
                table.schedule(poller, sig);
            }
            // What the transport itself has to send (TLS: replies to
            // what it read), once the connection's own output is out.
            if self.sock.holds_output() && !self.core.has_output() {
                let failed = matches!(self.sock.out(&mut self.writable).flush(), Sent::Failed);
                if failed {
                    self.core.on_eof();
                }
            }
            if self.core.over() {
                return self.close(table, pt, poller, sig, state);
            }
            if !(self.readable && self.core.reading()) {
                break;
            }
            if reads == READS_PER_TURN {
                // The rest on a later turn, after the others.
                table.schedule(poller, sig);
                break;
            }
            reads += 1;
            self.read(pt, sig);
        }
        self.watch(table, poller, sig, false);
        self.arm(table, poller, sig, self.core.deadline());
        Verdict::Keep
    }

    /// One read into the thread's buffer, handed to the core.
    fn read(&mut self, pt: &ProtoThread<P>, sig: &ConnSignal) {
        READ_BUFFER.with(|b| {
            let Ok(mut buf) = b.try_borrow_mut() else {
                return;
            };
            match self.sock.read(&mut buf[..], &mut self.readable) {
                Ok(n) => self.core.on_read(pt, sig, &mut buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.core.on_eof(),
            }
        });
    }

    /// Watches for writability only while output waits for it.
    fn watch(&mut self, table: &Table<P, S>, poller: &Poller, sig: &ConnSignal, lingering: bool) {
        let want = !self.writable
            && (self.sock.holds_output()
                || if lingering {
                    !self.core.rest_is_empty()
                } else {
                    self.core.has_output()
                });
        if want != self.watching_write {
            let interest = if want {
                mio::Interest::READABLE | mio::Interest::WRITABLE
            } else {
                mio::Interest::READABLE
            };
            if poller
                .reregister(self.sock.tcp(), table.token(sig), interest)
                .is_ok()
            {
                self.watching_write = want;
            }
        }
    }

    /// Makes sure a timer is armed no later than `at`.
    fn arm(&self, table: &Table<P, S>, poller: &Poller, sig: &ConnSignal, at: Option<Instant>) {
        let Some(at) = at else { return };
        let ms = poller.ms_of(at).max(1);
        let armed = sig.armed.get();
        if armed == 0 || ms < armed {
            sig.armed.set(ms);
            poller.arm(table.token(sig), ms);
        }
    }

    /// The connection is over: `closed`, then flush and wait for the peer's end.
    fn close(
        &mut self,
        table: &Table<P, S>,
        pt: &ProtoThread<P>,
        poller: &Poller,
        sig: &ConnSignal,
        state: &Cell<u8>,
    ) -> Verdict {
        if state.replace(LINGERING) == OPEN {
            table.live.set(table.live.get().saturating_sub(1));
        }
        self.core.finish(pt, sig);
        let waiting = {
            let mut done = table.done.borrow_mut();
            let i = done.iter().position(|(k, _)| *k == sig.slot.get());
            i.map(|i| done.swap_remove(i).1)
        };
        if let Some(d) = waiting {
            let _ = d.send(self.core.closed_by_protocol());
        }
        self.core.linger_until(Instant::now() + LINGER);
        self.linger(table, poller, sig)
    }

    /// Flushes what is left, shuts the write side, reads to the end.
    fn linger(&mut self, table: &Table<P, S>, poller: &Poller, sig: &ConnSignal) -> Verdict {
        let blocked = loop {
            let rest = self.core.rest();
            if rest.is_empty() {
                match self.sock.finish() {
                    Ok(true) => break false,
                    Ok(false) => break true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Verdict::Drop,
                }
            }
            match self.sock.write_rest(rest) {
                Ok(0) => return Verdict::Drop,
                Ok(n) => self.core.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Verdict::Drop,
            }
        };
        if blocked {
            self.writable = false;
            self.watch(table, poller, sig, true);
            self.arm(table, poller, sig, self.core.deadline());
            return Verdict::Keep;
        }
        if !self.shut {
            self.shut = true;
            if self.sock.tcp().shutdown(std::net::Shutdown::Write).is_err() {
                return Verdict::Drop;
            }
        }
        // What the peer still sends is read and dropped, TLS or not.
        let mut s: &mio::net::TcpStream = self.sock.tcp();
        let mut scratch = [0u8; 512];
        loop {
            match s.read(&mut scratch) {
                Ok(0) => return Verdict::Drop,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Verdict::Drop,
            }
        }
        self.watch(table, poller, sig, true);
        self.arm(table, poller, sig, self.core.deadline());
        Verdict::Keep
    }
}
#[cfg(test)]
mod tests {
    use crate::ws::{Close, Cx, Handshake, Protocol, Received};

    /// A protocol whose session is as large as the echo protocol's.
    struct Forty;

    impl Protocol for Forty {
        type Session = (Vec<u8>, u64, u64);
        type ThreadState = ();
        type Event = ();
        fn name(&self) -> &str {
            "forty"
        }
        fn established(
            &self,
            _: &mut Cx<'_, Self>,
            _: &Handshake<'_>,
        ) -> Result<(Vec<u8>, u64, u64), Close> {
            Ok((Vec::new(), 0, 0))
        }
        fn receive(
            &self,
            _: &mut Cx<'_, Self>,
            _: &mut (Vec<u8>, u64, u64),
            _: Received<'_>,
        ) -> Result<(), Close> {
            Ok(())
        }
    }

    /// The record of an idle connection with a 40-byte session, signal
    /// cell included: what an idle WebSocket costs beyond the registry's
    /// 40-byte line. 280 bytes in a release build; in a debug build the
    /// mio socket's selector id and its padding add 16.
    #[test]
    fn a_record_stays_compact() {
        let slot = std::mem::size_of::<super::Slot<Forty, super::Plain>>();
        let mio_debug = if cfg!(debug_assertions) { 16 } else { 0 };
        assert!(slot <= 280 + mio_debug, "Slot grew to {slot} bytes");
        assert!(std::mem::size_of::<rlws_ws::Connection>() <= 144);
    }
}
