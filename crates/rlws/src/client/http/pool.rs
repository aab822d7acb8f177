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
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Meta {
    pub fn new(id: u64) -> Arc<Meta> {
        Arc::new(Meta {
            id,
            txns: AtomicU64::new(0),
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

enum State {
    Idle,
    Connecting,
    H1Busy,
    H1Warm { conn: H1Conn, since: Instant },
    H2(H2Conn),
}

struct Lane {
    state: State,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    /// The server does not keep HTTP/1.1 connections alive.
    no_keepalive: bool,
    /// A keep-warm timer is running for this lane (one at most, however
    /// many times the connection goes idle).
    timer: bool,
}

impl Default for Lane {
    fn default() -> Self {
        Lane {
            state: State::Idle,
            waiters: VecDeque::new(),
            no_keepalive: false,
            timer: false,
        }
    }
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
}

/// The shared connections of one client.
pub(super) struct Pool {
    lanes: Mutex<HashMap<Key, Lane>>,
    keep_warm: Duration,
    leader_failure: LeaderFailure,
    next_conn: AtomicU64,
    me: Weak<Pool>,
}

impl Pool {
    pub fn new(keep_warm: Duration, leader_failure: LeaderFailure) -> Arc<Pool> {
        Arc::new_cyclic(|me| Pool {
            lanes: Mutex::new(HashMap::new()),
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

    /// Waits for this request's turn on `key`'s shared connection.
    pub async fn acquire(&self, key: &Key) -> Grant {
        let rx = {
            let mut lanes = self.lanes();
            let lane = lanes.entry(key.clone()).or_default();
            if lane.no_keepalive {
                return Grant::Private;
            }
            match std::mem::replace(&mut lane.state, State::Idle) {
                State::Idle => {
                    lane.state = State::Connecting;
                    return Grant::Lead;
                }
                State::H1Warm { conn, .. } => {
                    if conn.send.is_closed() {
                        lane.state = State::Connecting;
                        return Grant::Lead;
                    }
                    lane.state = State::H1Busy;
                    return Grant::H1(conn);
                }
                State::H2(c) => {
                    if c.send.is_closed() {
                        lane.state = State::Connecting;
                        return Grant::Lead;
                    }
                    lane.state = State::H2(c.clone());
                    return Grant::H2(c);
                }
                s @ (State::Connecting | State::H1Busy) => lane.state = s,
            }
            let (tx, rx) = oneshot::channel();
            lane.waiters.push_back(tx);
            rx
        };
        // The sender is only dropped with the pool.
        rx.await.unwrap_or(Grant::Private)
    }

    /// The leader's connection came up as HTTP/2: everyone queued joins.
    pub fn connected_h2(&self, key: &Key, c: &H2Conn) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.state = State::H2(c.clone());
        while let Some(w) = lane.waiters.pop_front() {
            let _ = w.send(Grant::H2(c.clone()));
        }
    }

    /// The leader's connection came up as HTTP/1.1: it is the leader's now.
    pub fn connected_h1(&self, key: &Key) {
        let mut lanes = self.lanes();
        lanes.entry(key.clone()).or_default().state = State::H1Busy;
    }

    /// The leader could not connect.
    pub fn lead_failed(&self, key: &Key, e: &HttpError) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.state = State::Idle;
        while let Some(w) = lane.waiters.pop_front() {
            let _ = w.send(match self.leader_failure {
                LeaderFailure::FailQueued => Grant::Failed(e.for_queued()),
                LeaderFailure::RetryEach => Grant::Private,
            });
        }
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
            // Not reached in practice (hyper closes such a connection), but
            // a connection the server will close is not handed on.
            drop(conn);
            lane.state = State::Idle;
            while let Some(w) = lane.waiters.pop_front() {
                let _ = w.send(Grant::Private);
            }
            return;
        }
        match lane.hand(Grant::H1(conn)) {
            None => lane.state = State::H1Busy,
            Some(Grant::H1(conn)) => {
                let since = Instant::now();
                lane.state = State::H1Warm { conn, since };
                if !lane.timer {
                    lane.timer = true;
                    let pool = self.me.clone();
                    let key = key.clone();
                    let mut at = since + self.keep_warm;
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
            }
            Some(_) => {}
        }
    }

    /// The HTTP/1.1 connection closed (or failed) instead of completing
    /// its transaction cleanly.
    pub fn h1_gone(&self, key: &Key) {
        let mut lanes = self.lanes();
        let lane = lanes.entry(key.clone()).or_default();
        lane.state = State::Idle;
        if lane.no_keepalive {
            while let Some(w) = lane.waiters.pop_front() {
                let _ = w.send(Grant::Private);
            }
        } else if lane.hand(Grant::Lead).is_none() {
            lane.state = State::Connecting;
        }
    }

    /// The HTTP/2 connection `id` is going away: the next request opens
    /// another.
    pub fn h2_gone(&self, key: &Key, id: u64) {
        let mut lanes = self.lanes();
        if let Some(lane) = lanes.get_mut(key) {
            if matches!(&lane.state, State::H2(c) if c.meta.id == id) {
                lane.state = State::Idle;
            }
        }
    }

    /// The keep-warm timer fired: closes the connection if it has been
    /// idle long enough; else says when to look again (`None`: the timer
    /// ends, the next idle spell starts another).
    fn expire(&self, key: &Key) -> Option<Instant> {
        let mut lanes = self.lanes();
        let lane = lanes.get_mut(key)?;
        if let State::H1Warm { since, .. } = lane.state {
            let due = since + self.keep_warm;
            if Instant::now() < due {
                return Some(due);
            }
            tracing::debug!(host = %key.host, port = key.port, "idle shared connection closed after keep-warm");
            lane.state = State::Idle;
        }
        lane.timer = false;
        None
    }
}
