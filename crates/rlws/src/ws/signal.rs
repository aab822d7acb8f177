//! Signals into one connection's driver from elsewhere on its thread: other
//! connections' callbacks (writeable requests), the sweeper (ping, hang up)
//! and shutdown (going away).

use std::cell::Cell;
use std::net::SocketAddr;
use std::task::Waker;

/// Cross-task signals for one connection (flags set by other connections'
/// callbacks, the sweeper or shutdown; read by the connection's driver).
pub(crate) struct ConnSignal {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(super) flags: Cell<u8>,
    pub(super) waker: Cell<Option<Waker>>,
    /// Coarse time (thread clock seconds) of the last data received.
    pub(crate) last_rx: Cell<u32>,
    /// Coarse time a keepalive ping was sent and not yet answered; 0: none.
    pub(crate) ping_sent: Cell<u32>,
    pub(super) slot: Cell<usize>,
    /// Slot in the context's connection registry.
    pub(super) reg: Cell<u32>,
    /// Its proof-of-life rule: an index into the thread's table.
    pub(crate) validity: Cell<u8>,
}

impl ConnSignal {
    pub(crate) const WRITEABLE: u8 = 1;
    pub(crate) const RESUME_RX: u8 = 2;
    pub(crate) const GOING_AWAY: u8 = 4;
    pub(crate) const PING: u8 = 8;
    pub(crate) const HANGUP: u8 = 16;

    pub(crate) fn new(id: u64, peer: SocketAddr, now: u32) -> Self {
        ConnSignal {
            id,
            peer,
            flags: Cell::new(0),
            waker: Cell::new(None),
            last_rx: Cell::new(now),
            ping_sent: Cell::new(0),
            slot: Cell::new(usize::MAX),
            reg: Cell::new(u32::MAX),
            validity: Cell::new(0),
        }
    }

    /// Sets `flag` without waking (for the connection's own callbacks).
    pub(crate) fn request(&self, flag: u8) {
        self.flags.set(self.flags.get() | flag);
    }

    /// Sets `flag` and wakes the driver.
    pub(crate) fn notify(&self, flag: u8) {
        self.flags.set(self.flags.get() | flag);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub(super) fn take(&self) -> u8 {
        self.flags.replace(0)
    }
}
