//! A coarse per-thread clock in seconds, for idle checks without a timer per connection.

use tokio::time::Instant;

/// Seconds since the service thread started.
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    /// Seconds since the thread started, plus one (so 0 can mean "never").
    pub(crate) fn now(&self) -> u32 {
        self.start.elapsed().as_secs() as u32 + 1
    }
}
