//! Connection sharing (lws' `LCCSCF_PIPELINE`), per endpoint:
//!
//! * The first request to an endpoint with nothing open becomes the
//!   *leader* and opens the connection; requests arriving meanwhile queue on
//!   it, in order.
//! * If the connection came up as HTTP/2, every queued request joins it at
//!   once as a stream ("broadside"), and later ones join directly; past the
//!   server's `MAX_CONCURRENT_STREAMS` they wait in the h2 layer for a free
//!   stream. When it goes away (GOAWAY), the next request opens a new one.
//! * Over HTTP/1.1 the connection passes from each transaction, once it has
//!   completed (response read to its end), to the head of the queue, which
//!   only then sends its headers (POST-safe). With nothing queued it stays
//!   warm for `keep_warm`, then closes.
//! * A server that answers HTTP/1.0 or `Connection: close` makes the queue
//!   fall back to a connection of its own for each request.
//! * If the leader cannot connect, each queued request gets the error (or,
//!   by [`LeaderFailure::RetryEach`], tries a connection of its own).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::body::RequestBody;
use super::error::HttpError;
use crate::client::proxy::Proxy;

pub(super) type H1 = hyper::client::conn::http1::SendRequest<RequestBody>;
pub(super) type H2 = hyper::client::conn::http2::SendRequest<RequestBody>;

/// What decides whether two requests may share a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub secure: bool,
    pub host: String,
    pub port: u16,
    pub version: super::HttpVersion,
    pub proxy: Option<Proxy>,
}

/// What a request queued on a failed leader does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaderFailure {
    /// Each queued request fails with the leader's error (lws' behaviour).
    #[default]
    FailQueued,
    /// Each queued request tries a connection of its own.
    RetryEach,
}

/// Which connection carried a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The connection's number, unique within its client (from 1).
    pub id: u64,
    /// Which transaction on that connection this was (from 1).
    pub transaction: u64,
    /// The connection is HTTP/2.
    pub h2: bool,
}

/// One open connection's identity and transaction count.
#[derive(Debug)]
pub(super) struct Meta {
    pub id: u64,
    txns: AtomicU64,
    /// HTTP/2 streams whose response is still being read.
    streams: AtomicUsize,
}

/// Counts an HTTP/2 stream as open until dropped (with its response body).
#[derive(Debug)]
pub(super) struct StreamGuard(Arc<Meta>);

impl StreamGuard {
    pub fn new(meta: &Arc<Meta>) -> StreamGuard {
        meta.streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard(meta.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Meta {
    pub fn new(id: u64) -> Arc<Meta> {
        Arc::new(Meta {
            id,
            txns: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
        })
    }

    /// Transactions so far.
    pub fn transaction_count(&self) -> u64 {
        self.txns.load(Ordering::Relaxed)
    }

    /// Counts one more transaction; returns its number.
    pub fn transaction(&self) -> u64 {
        self.txns.fetch_add(1, Ordering::Relaxed) + 1
    }
}

pub(super) struct H1Conn {
    pub send: H1,
    pub meta: Arc<Meta>,
}

#[derive(Clone)]
pub(super) struct H2Conn {
    pub send: H2,
    pub meta: Arc<Meta>,
}

/// What a request is given to proceed with.
pub(super) enum Grant {
    /// This HTTP/1.1 connection, ready for a request, for this request alone.
    H1(H1Conn),
    /// A stream on this HTTP/2 connection.
    H2(H2Conn),
    /// Open the shared connection (then report with `connected_*` or
    /// `lead_failed`).
    Lead,
    /// Open a connection of its own, not shared.
    Private,
    /// The leader failed.
    Failed(HttpError),
}

/// The connections to one endpoint, and the requests waiting for one.
#[derive(Default)]
struct Lane {
    /// Warm HTTP/1.1 connections and since when, most recent last.
    idle: Vec<(H1Conn, Instant)>,
    /// HTTP/1.1 connections carrying a transaction.
    busy: usize,
    /// Leaders opening a connection.
    connecting: usize,
    /// The HTTP/2 connection everyone joins, and when a request last did.
    h2: Option<H2Conn>,
    h2_used: Option<Instant>,
    /// An HTTP/1.1 connection came up here, so more may be opened in
    /// parallel (until then one leader finds out what the server speaks).
    h1_seen: bool,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    /// The server does not keep HTTP/1.1 connections alive.
    no_keepalive: bool,
    /// A keep-warm timer is running for this lane (one at most, however
    /// many times a connection goes idle).
    timer: bool,
}

impl Lane {
    /// Hands `g` to the first queued request still waiting; gives it back
    /// when nobody is.
    fn hand(&mut self, mut g: Grant) -> Option<Grant> {
        while let Some(w) = self.waiters.pop_front() {
            match w.send(g) {
                Ok(()) => return None,
                Err(back) => g = back,
            }
        }
        Some(g)
    }

    fn can_open(&self, max: usize) -> bool {
        self.h2.is_none()
            && self.connecting + self.busy + self.idle.len() < max
            && (self.connecting == 0 || self.h1_seen)
    }

    /// Lets queued requests open connections while the limit allows.
    fn open_more(&mut self, max: usize) {
        while !self.waiters.is_empty() && self.can_open(max) {
            self.connecting += 1;
            if self.hand(Grant::Lead).is_some() {
                self.connecting -= 1;
                return;
            }
        }
    }

    fn all_private(&mut self) {
        while let Some(w) = self.waiters.pop_front() {
            let _ = w.send(Grant::Private);
        }
    }
}

/// The shared connections of one client.
pub(super) struct Pool {
    lanes: Mutex<HashMap<Key, Lane>>,
    /// HTTP/1.1 connections per endpoint (lws: 1).
    max: usize,
    keep_warm: Duration,
    leader_failure: LeaderFailure,
    next_conn: AtomicU64,
    me: Weak<Pool>,
}

impl Pool {
    pub fn new(max: usize, keep_warm: Duration, leader_failure: LeaderFailure) -> Arc<Pool> {
        Arc::new_cyclic(|me| Pool {
            lanes: Mutex::new(HashMap::new()),
            max: max.max(1),
            keep_warm,
            leader_failure,
            next_conn: AtomicU64::new(1),
            me: me.clone(),
        })
    }

    /// A number for a new connection.
    pub fn conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<Key, Lane>> {
        // A panic while holding the lock cannot leave a lane half-updated
        // in a way that matters more than losing the pool: keep going.
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this request's turn on `key`'s shared connections.
    pub async fn acquire(&self, key: &Key) -> Grant {
        let rx = {
            let mut lanes = self.lanes();
            let lane = lanes.entry(key.clone()).or_default();
            if lane.no_keepalive {
                return Grant::Private;
            }
            if let Some(c) = &lane.h2 {
                if !c.send.is_closed() {
                    let c = c.clone();
                    self.used_h2(key, lane);
                    return Grant::H2(c);
                }
                lane.h2 = None;
            }
            while let Some((c, _)) = lane.idle.pop() {
                if !c.send.is_closed() {
                    lane.busy += 1;
                    return Grant::H1(c);
                }
            }
            if lane.can_open(self.max) {
                lane.connecting += 1;
                return Grant::Lead;
            }
            let (tx, rx) = oneshot::channel();
            lane.waiters.push_back(tx);
            rx
        };
        // The sender is only dropped with the pool.
        rx.await.unwrap_or(Grant::Private)
    }

    /// A leader's connection came up as HTTP/2: everyone queued joins.
    pub fn connected_h2(&self, key: &Key, c: &H2Conn) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.connecting = lane.connecting.saturating_sub(1);
        lane.h2 = Some(c.clone());
        self.used_h2(key, lane);
        while let Some(w) = lane.waiters.pop_front() {
            let _ = w.send(Grant::H2(c.clone()));
        }
    }

    /// A request joins the HTTP/2 connection: it stays warm from now.
    fn used_h2(&self, key: &Key, lane: &mut Lane) {
        let now = Instant::now();
        lane.h2_used = Some(now);
        self.arm(key, lane, now + self.keep_warm);
    }

    /// Starts the lane's keep-warm timer unless it runs.
    fn arm(&self, key: &Key, lane: &mut Lane, first: Instant) {
        if lane.timer {
            return;
        }
        lane.timer = true;
        let pool = self.me.clone();
        let key = key.clone();
        let mut at = first;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep_until(at).await;
                match pool.upgrade().and_then(|p| p.expire(&key)) {
                    Some(next) => at = next,
                    None => return,
                }
            }
        });
    }

    /// A leader's connection came up as HTTP/1.1: it is the leader's now,
    /// and queued requests may open more up to the limit.
    pub fn connected_h1(&self, key: &Key) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.connecting = lane.connecting.saturating_sub(1);
        lane.busy += 1;
        lane.h1_seen = true;
        lane.open_more(self.max);
    }

    /// A leader could not connect: with no other connection to wait for,
    /// each queued request gets the error (or tries on its own).
    pub fn lead_failed(&self, key: &Key, e: &HttpError) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.connecting = lane.connecting.saturating_sub(1);
        if lane.connecting > 0 || lane.busy > 0 || !lane.idle.is_empty() || lane.h2.is_some() {
            return;
        }
        while let Some(w) = lane.waiters.pop_front() {
            let _ = w.send(match self.leader_failure {
                LeaderFailure::FailQueued => Grant::Failed(e.for_queued()),
                LeaderFailure::RetryEach => Grant::Private,
            });
        }
    }

    /// A leader gave up before connecting (its caller went away).
    pub fn lead_abandoned(&self, key: &Key) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.connecting = lane.connecting.saturating_sub(1);
        lane.open_more(self.max);
    }

    /// The server does not keep connections alive: everything queued, and
    /// everything later, goes on connections of its own.
    pub fn no_keepalive(&self, key: &Key) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        if !lane.no_keepalive {
            tracing::debug!(host = %key.host, port = key.port, "server closes HTTP/1.1 connections: not sharing them");
        }
        lane.no_keepalive = true;
    }

    /// An HTTP/1.1 transaction completed and its connection can take the
    /// next request: the head of the queue gets it, or it stays warm.
    pub fn release_h1(&self, key: &Key, conn: H1Conn) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        if lane.no_keepalive {
            // A connection the server will close is not handed on.
            lane.busy = lane.busy.saturating_sub(1);
            drop(conn);
            lane.all_private();
            return;
        }
        if let Some(Grant::H1(conn)) = lane.hand(Grant::H1(conn)) {
            lane.busy = lane.busy.saturating_sub(1);
            let since = Instant::now();
            lane.idle.push((conn, since));
            self.arm(key, lane, since + self.keep_warm);
        }
    }

    /// An HTTP/1.1 connection closed (or failed) instead of completing
    /// its transaction cleanly.
    pub fn h1_gone(&self, key: &Key) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.busy = lane.busy.saturating_sub(1);
        if lane.no_keepalive {
            lane.all_private();
        } else {
            lane.open_more(self.max);
        }
    }

    /// The HTTP/2 connection `id` is going away: the next request opens
    /// another.
    pub fn h2_gone(&self, key: &Key, id: u64) {
        let mut lanes = self.lanes();
        if let Some(lane) = lanes.get_mut(key) {
            if lane.h2.as_ref().is_some_and(|c| c.meta.id == id) {
                lane.h2 = None;
            }
        }
    }

    /// The keep-warm timer fired: closes the connections idle long enough;
    /// says when to look again (`None`: the timer ends, the next idle spell
    /// starts another).
    fn expire(&self, key: &Key) -> Option<Instant> {
        let mut lanes = self.lanes();
        let lane = lanes.get_mut(key)?;
        let now = Instant::now();
        let before = lane.idle.len();
        lane.idle.retain(|(_, since)| *since + self.keep_warm > now);
        if lane.idle.len() < before {
            tracing::debug!(host = %key.host, port = key.port, closed = before - lane.idle.len(), "idle shared connections closed after keep-warm");
        }
        let mut next = lane
            .idle
            .iter()
            .map(|(_, since)| *since + self.keep_warm)
            .min();
        // An HTTP/2 connection closes once no stream is left on it and no
        // request has joined it for keep-warm (streams still running
        // finish first: the connection ends after them).
        if let (Some(c), Some(used)) = (&lane.h2, lane.h2_used) {
            let due = used + self.keep_warm;
            let at = if c.send.is_closed() {
                None
            } else if c.meta.streams.load(Ordering::Relaxed) > 0 {
                Some(now + (self.keep_warm / 4).max(Duration::from_millis(10)))
            } else if due > now {
                Some(due)
            } else {
                None
            };
            match at {
                Some(at) => next = Some(next.map_or(at, |n| n.min(at))),
                None => {
                    tracing::debug!(host = %key.host, port = key.port, "idle h2 connection closed after keep-warm");
                    lane.h2 = None;
                    lane.h2_used = None;
                }
            }
        }
        if next.is_none() {
            lane.timer = false;
        }
        next
    }
}
