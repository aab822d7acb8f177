//! Counters for the metrics endpoint (lws' `lws_metrics`): what the service
//! threads count as they work, kept per thread so that counting is a plain
//! load and store on memory no other thread writes, and summed only when
//! someone asks ([`super::exposition`]).
//!
//! Each [`Count`] has exactly one writer, the service thread whose shard
//! it is in; any thread may read it. A reader may see a count a moment
//! old, never a torn or lost one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A count written by one thread only.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    /// Adds `n`. Only the shard's own thread calls this, so a load and a
    /// store (no locked instruction) cannot lose an update.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One value per service thread, each on cache lines of its own so that
/// threads counting side by side do not share a line.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded<T>(T);

/// `T` per service thread.
#[derive(Debug)]
pub(crate) struct PerThread<T>(Box<[Shard<T>]>);

/// One thread's `T`, which that thread keeps to count into without
/// looking it up again.
#[derive(Debug)]
pub(crate) struct Shard<T>(Arc<Padded<T>>);

impl<T> Clone for Shard<T> {
    fn clone(&self) -> Self {
        Shard(self.0.clone())
    }
}

impl<T> std::ops::Deref for Shard<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0 .0
    }
}

impl<T: Default> PerThread<T> {
    pub(crate) fn new(threads: usize) -> Self {
        PerThread((0..threads.max(1)).map(|_| Shard(Arc::default())).collect())
    }
}

impl<T> PerThread<T> {
    /// Thread `tsi`'s shard (the first one for an index past the end,
    /// which no service thread has).
    pub(crate) fn shard(&self, tsi: usize) -> &Shard<T> {
        match self.0.get(tsi) {
            Some(s) => s,
            None => &self.0[0],
        }
    }

    /// The sum over the threads of what `f` reads from each shard.
    pub(crate) fn sum(&self, f: impl Fn(&T) -> u64) -> u64 {
        self.0.iter().fold(0u64, |acc, s| acc.wrapping_add(f(s)))
    }
}

/// HTTP responses by the first digit of their status: 1xx … 5xx.
pub(crate) const STATUS_CLASSES: usize = 5;

/// What one vhost counts on one thread.
#[derive(Debug, Default)]
pub(crate) struct VhostCounts {
    /// Responses, by status class (index 0: 1xx).
    pub(crate) responses: [Count; STATUS_CLASSES],
    /// Request body bytes read from clients.
    pub(crate) request_bytes: Count,
    /// Response body bytes handed to the connection.
    pub(crate) response_bytes: Count,
    /// WebSocket upgrades accepted (HTTP/1.1 and h2).
    pub(crate) upgrades: Count,
}

impl VhostCounts {
    /// Counts a response with status `code`.
    #[inline]
    pub(crate) fn response(&self, code: u16) {
        let class = usize::from(code / 100).clamp(1, STATUS_CLASSES) - 1;
        if let Some(c) = self.responses.get(class) {
            c.add(1);
        }
    }
}

/// What one WebSocket protocol counts on one thread (server and client
/// connections alike).
#[derive(Debug, Default)]
pub(crate) struct ProtoCounts {
    pub(crate) opened: Count,
    pub(crate) closed: Count,
    /// Whole messages received (a fragmented message counts once, at its end).
    pub(crate) rx_messages: Count,
    /// Payload bytes received (after inflating).
    pub(crate) rx_bytes: Count,
    /// Messages sent (a fragmented message counts once, at its last fragment).
    pub(crate) tx_messages: Count,
    /// Payload bytes sent (before compressing).
    pub(crate) tx_bytes: Count,
}

/// Every count of a context: connections, the vhosts' (by name, kept
/// across reloads so the counts never go back) and the protocols' (by
/// their index among the context's protocols).
#[derive(Debug)]
pub(crate) struct Metrics {
    threads: usize,
    /// Connections the listen sockets accepted (refused ones not included).
    pub(crate) accepted: AtomicU64,
    vhosts: Mutex<Vec<(String, Arc<PerThread<VhostCounts>>)>>,
    pub(crate) protocols: Vec<(String, Arc<PerThread<ProtoCounts>>)>,
}

impl Metrics {
    pub(crate) fn new(threads: usize, protocols: impl Iterator<Item = String>) -> Self {
        Metrics {
            threads,
            accepted: AtomicU64::new(0),
            vhosts: Mutex::default(),
            protocols: protocols
                .map(|name| (name, Arc::new(PerThread::new(threads))))
                .collect(),
        }
    }

    /// The counts of the vhost called `name`, made on first use.
    pub(crate) fn vhost(&self, name: &str) -> Arc<PerThread<VhostCounts>> {
        let mut v = match self.vhosts.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some((_, c)) = v.iter().find(|(n, _)| n == name) {
            return c.clone();
        }
        let c = Arc::new(PerThread::new(self.threads));
        v.push((name.to_string(), c.clone()));
        c
    }

    /// The vhosts' counts, in the order they were first made.
    pub(crate) fn vhosts(&self) -> Vec<(String, Arc<PerThread<VhostCounts>>)> {
        match self.vhosts.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Protocol `index`'s counts on thread `tsi` (counts of their own,
    /// listed nowhere, for an index that is not a protocol's).
    pub(crate) fn protocol(&self, index: usize, tsi: usize) -> Shard<ProtoCounts> {
        match self.protocols.get(index) {
            Some((_, c)) => c.shard(tsi).clone(),
            None => Shard(Arc::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_and_classes() {
        let m = Metrics::new(2, ["echo".to_string()].into_iter());
        let a = m.vhost("a");
        a.shard(0).response(200);
        a.shard(1).response(204);
        a.shard(1).response(404);
        a.shard(0).response(99);
        a.shard(0).response(700);
        assert_eq!(a.sum(|c| c.responses[1].get()), 2);
        assert_eq!(a.sum(|c| c.responses[3].get()), 1);
        // Out-of-range codes land in the nearest class, never panic.
        assert_eq!(a.sum(|c| c.responses[0].get()), 1);
        assert_eq!(a.sum(|c| c.responses[4].get()), 1);
        // The same name gives the same counts (a reload keeps them).
        assert!(Arc::ptr_eq(&a, &m.vhost("a")));
        assert_eq!(m.vhosts().len(), 1);
        m.protocol(0, 1).rx_messages.add(3);
        assert_eq!(m.protocols[0].1.sum(|c| c.rx_messages.get()), 3);
        // Not a protocol: counted apart, never listed.
        m.protocol(1, 0).rx_messages.add(1);
        assert_eq!(m.protocols.len(), 1);
        // A thread index past the end uses the first shard.
        m.vhost("b").shard(9).upgrades.add(1);
        assert_eq!(m.vhost("b").shard(0).upgrades.get(), 1);
    }

    #[test]
    fn shards_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<Padded<Count>>() >= 128);
    }
}
