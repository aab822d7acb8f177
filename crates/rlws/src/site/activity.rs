//! When something last made progress, shared between the tasks that make
//! it (a CGI program's feeder and body, a proxied upload) and the clock
//! that gives up on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// The time of the last progress; clones share it.
#[derive(Debug, Clone)]
pub(super) struct Activity {
    start: Instant,
    /// Nanoseconds after `start`.
    last: Arc<AtomicU64>,
}

impl Activity {
    /// Progress now.
    pub(super) fn new() -> Self {
        Activity {
            start: Instant::now(),
            last: Arc::default(),
        }
    }

    /// Notes progress.
    pub(super) fn touch(&self) {
        let ns = self.start.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.last.store(ns, Ordering::Relaxed);
    }

    /// When the last progress was.
    pub(super) fn last(&self) -> Instant {
        self.start + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }

    /// When `quiet` without progress runs out.
    pub(super) fn quiet_until(&self, quiet: Duration) -> Instant {
        self.last() + quiet
    }
}
