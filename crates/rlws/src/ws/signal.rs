//! Signals into one connection from elsewhere on its thread: other
//! connections' callbacks (writeable requests), the sweeper (ping, hang up)
//! and shutdown (going away).

use std::cell::Cell;
use std::task::Waker;

/// What others on the thread may set on one connection, and what its
/// callbacks read about it (flags set by other connections' callbacks,
/// the sweeper or shutdown; read by whoever drives the connection).
pub(crate) struct ConnSignal {
    pub(crate) id: Cell<u64>,
    /// For a record in a table: the poller time its timer is armed for; 0: none.
    pub(super) armed: Cell<u64>,
    /// Coarse time (thread clock seconds) of the last data received.
    pub(crate) last_rx: Cell<u32>,
    /// Coarse time a keepalive ping was sent and not yet answered; 0: none.
    pub(crate) ping_sent: Cell<u32>,
    /// Its place in its protocol's list of task connections.
    pub(super) slot: Cell<u32>,
    /// Slot in the context's connection registry.
    pub(super) reg: Cell<u32>,
    /// For a record in a table: the generation of its key.
    pub(super) gen: Cell<u16>,
    pub(super) flags: Cell<u8>,
    /// Its proof-of-life rule: an index into the thread's table.
    pub(crate) validity: Cell<u8>,
    /// For a record in a table: it is in the poller's queue.
    pub(super) queued: Cell<bool>,
    /// For a slot in a table: vacant, open or lingering (the table's
    /// constants; kept here, where it fits in the padding).
    pub(super) state: Cell<u8>,
    /// For a record in a table: it counts itself on its thread.
    pub(super) counted: Cell<bool>,
}

impl ConnSignal {
    pub(crate) const WRITEABLE: u8 = 1;
    pub(crate) const RESUME_RX: u8 = 2;
    pub(crate) const GOING_AWAY: u8 = 4;
    pub(crate) const PING: u8 = 8;
    pub(crate) const HANGUP: u8 = 16;

    pub(crate) fn new(id: u64, now: u32) -> Self {
        ConnSignal {
            id: Cell::new(id),
            armed: Cell::new(0),
            last_rx: Cell::new(now),
            ping_sent: Cell::new(0),
            slot: Cell::new(u32::MAX),
            reg: Cell::new(u32::MAX),
            gen: Cell::new(0),
            flags: Cell::new(0),
            validity: Cell::new(0),
            queued: Cell::new(false),
            state: Cell::new(0),
            counted: Cell::new(false),
        }
    }

    /// Takes over `other`'s state (a record moving into a table slot),
    /// keeping this one's generation.
    pub(super) fn copy_from(&self, other: &ConnSignal) {
        self.id.set(other.id.get());
        self.armed.set(0);
        self.last_rx.set(other.last_rx.get());
        self.ping_sent.set(other.ping_sent.get());
        self.slot.set(u32::MAX);
        self.reg.set(other.reg.get());
        self.flags.set(other.flags.get());
        self.validity.set(other.validity.get());
        self.queued.set(false);
    }

    /// Sets `flag` (for the connection's own callbacks: read after the callback).
    pub(crate) fn request(&self, flag: u8) {
        self.flags.set(self.flags.get() | flag);
    }

    pub(super) fn take(&self) -> u8 {
        self.flags.replace(0)
    }
}

/// A connection run as a task of its own (TLS, HTTP/2 streams, other
/// streams): its signal and the task's waker.
pub(crate) struct TaskSignal {
    pub(crate) sig: ConnSignal,
    pub(super) waker: Cell<Option<Waker>>,
}

impl TaskSignal {
    pub(crate) fn new(sig: ConnSignal) -> Self {
        TaskSignal {
            sig,
            waker: Cell::new(None),
        }
    }

    /// Sets `flag` and wakes the task.
    pub(crate) fn notify(&self, flag: u8) {
        self.sig.request(flag);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}
