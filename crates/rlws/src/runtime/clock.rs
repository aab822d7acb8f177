//! A coarse per-thread clock in seconds, for idle checks without a timer
//! per connection. Reading it costs no system call: the thread's sweeper
//! advances it once a second.

use std::cell::Cell;

use tokio::time::Instant;

/// Seconds since the service thread started.
pub(crate) struct Clock {
    start: Instant,
    /// The value [`Clock::now`] returns, as of the last [`Clock::tick`].
    secs: Cell<u32>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            start: Instant::now(),
            secs: Cell::new(1),
        }
    }

    /// Seconds since the thread started, plus one (so 0 can mean "never"),
    /// as of the last tick (at most about a second old).
    pub(crate) fn now(&self) -> u32 {
        self.secs.get()
    }

    /// Reads the time; returns the new [`Clock::now`].
    pub(crate) fn tick(&self) -> u32 {
        let s = self.start.elapsed().as_secs() as u32 + 1;
        self.secs.set(s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn now_moves_only_on_tick() {
        let c = Clock::new();
        assert_eq!(c.now(), 1);
        assert_eq!(c.tick(), 1);
        assert_eq!(c.now(), 1);
    }
}
