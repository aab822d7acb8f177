//! Sequencers (lws' `lws_sequencer`): multi-step work staged on a service
//! thread. A sequencer has a name, typed state (the handler itself) and a
//! queue of events delivered strictly in arrival order, one per turn of
//! the service loop, never inside the call that queued them:
//!
//! * `Created` first and `Destroyed` last (also at shutdown);
//! * `TimedOut` when its own timeout passes ([`SeqCx::set_timeout`]: only
//!   queues the event; re-armed by setting it again, really cancelled by
//!   [`SeqCx::cancel_timeout`], even when the event is already queued);
//! * `Heartbeat` once a second when asked for;
//! * `ConnConnected` / `ConnFailed` / `ConnClosed` for HTTP requests it
//!   started ([`SeqCx::http_request`]);
//! * user events with a typed payload, queued from any thread through a
//!   cloneable [`SeqHandle`]; a full queue is an error to the caller.
//!
//! Owns: the sequencer's task, queue and timers. Imports `client` (HTTP
//! requests) and `runtime` (placement, the thread's shutdown hooks).

mod task;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::runtime::ThreadIndex;

pub(crate) use task::{start, Http};

/// What a sequencer's handler is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum SeqEvent<E> {
    /// The first event.
    #[doc(alias = "LWSSEQ_CREATED")]
    Created,
    /// The last event: the sequencer is going away (asked to, or shutdown).
    #[doc(alias = "LWSSEQ_DESTROYED")]
    Destroyed,
    /// The sequencer's own timeout passed.
    #[doc(alias = "LWSSEQ_TIMED_OUT")]
    TimedOut,
    /// Once a second, when the sequencer asked for heartbeats.
    #[doc(alias = "LWSSEQ_HEARTBEAT")]
    Heartbeat,
    /// A request it started got its response head (with its status).
    #[doc(alias = "LWSSEQ_WSI_CONNECTED")]
    ConnConnected {
        /// Which request.
        conn: SeqConn,
        /// The response status.
        status: u16,
    },
    /// A request it started failed before a response (why).
    #[doc(alias = "LWSSEQ_WSI_CONN_FAIL")]
    ConnFailed {
        /// Which request.
        conn: SeqConn,
        /// The reason.
        reason: String,
    },
    /// A request it started, once connected, has ended (`complete`: the
    /// whole response arrived).
    #[doc(alias = "LWSSEQ_WSI_CONN_CLOSE")]
    ConnClosed {
        /// Which request.
        conn: SeqConn,
        /// The response arrived whole.
        complete: bool,
    },
    /// An event queued by user code.
    User(E),
}

/// A connection a sequencer started, as its events name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqConn(pub(crate) u64);

impl SeqConn {
    /// Its number (the request's [`crate::client::HttpHandle::id`]).
    pub fn id(self) -> u64 {
        self.0
    }
}

/// What the handler returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFlow {
    /// Go on.
    Continue,
    /// End the sequencer: `Destroyed` follows, queued events are dropped.
    #[doc(alias = "LWSSEQ_RET_DESTROY")]
    Destroy,
}

/// A sequencer: its state and its event handler.
#[doc(alias = "lws_seq_event_cb")]
pub trait SeqHandler: Send + 'static {
    /// The payload of user events.
    type Event: Send + 'static;

    /// Handles one event.
    fn event(&mut self, cx: &mut SeqCx<'_, Self::Event>, ev: SeqEvent<Self::Event>) -> SeqFlow;
}

/// How a sequencer is made.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SeqOptions {
    /// Its name (for logs and [`SeqCx::name`]).
    pub name: String,
    /// The service thread it runs on; `None`: the least loaded.
    pub thread: Option<ThreadIndex>,
    /// Deliver a `Heartbeat` every second.
    pub heartbeat: bool,
    /// How many user events may wait in its queue (default 64); queuing
    /// past it is [`QueueError::Full`].
    pub queue: usize,
    /// The backoff for [`SeqCx::retry_after`] (default:
    /// [`crate::RetryPolicy::default`]).
    pub retry: crate::RetryPolicy,
}

impl SeqOptions {
    /// Options with this name and the defaults.
    pub fn new(name: &str) -> SeqOptions {
        SeqOptions {
            name: name.to_string(),
            thread: None,
            heartbeat: false,
            queue: 64,
            retry: crate::RetryPolicy::default(),
        }
    }

    /// On thread `t`.
    pub fn thread(mut self, t: ThreadIndex) -> SeqOptions {
        self.thread = Some(t);
        self
    }

    /// With 1 Hz heartbeats.
    pub fn heartbeat(mut self, on: bool) -> SeqOptions {
        self.heartbeat = on;
        self
    }

    /// With this backoff policy.
    pub fn retry(mut self, policy: crate::RetryPolicy) -> SeqOptions {
        self.retry = policy;
        self
    }

    /// With room for `n` queued user events.
    pub fn queue(mut self, n: usize) -> SeqOptions {
        self.queue = n.max(1);
        self
    }
}

/// Why an event was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue holds as many user events as it may.
    Full,
    /// The sequencer has been destroyed (or is being).
    Gone,
}

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QueueError::Full => "the sequencer's queue is full",
            QueueError::Gone => "the sequencer is gone",
        })
    }
}

impl std::error::Error for QueueError {}

/// Why a sequencer could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeqStartError {
    /// No such service thread.
    NoSuchThread,
    /// The context is shutting down.
    Stopped,
}

impl std::fmt::Display for SeqStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SeqStartError::NoSuchThread => "no such service thread",
            SeqStartError::Stopped => "the context is shutting down",
        })
    }
}

impl std::error::Error for SeqStartError {}

/// One item of a sequencer's queue.
pub(crate) enum Item<E> {
    Ev(SeqEvent<E>),
    /// The timeout armed as generation `n` passed.
    TimedOut(u64),
}

/// What the handles and the task share.
pub(crate) struct SeqShared<E> {
    pub(crate) name: String,
    tx: mpsc::UnboundedSender<Item<E>>,
    /// User events waiting.
    queued: AtomicUsize,
    cap: usize,
    gone: AtomicBool,
    /// Connections whose `ConnClosed` waits in the queue.
    closing: Mutex<HashSet<u64>>,
}

impl<E> SeqShared<E> {
    pub(crate) fn new(name: String, cap: usize) -> (Arc<Self>, mpsc::UnboundedReceiver<Item<E>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let s = Arc::new(SeqShared {
            name,
            tx,
            queued: AtomicUsize::new(0),
            cap,
            gone: AtomicBool::new(false),
            closing: Mutex::new(HashSet::new()),
        });
        (s, rx)
    }

    /// Queues an event of the sequencer's own (not counted against the cap).
    pub(crate) fn push(&self, item: Item<E>) {
        if let Item::Ev(SeqEvent::ConnClosed { conn, .. }) = &item {
            self.closing_set().insert(conn.0);
        }
        let _ = self.tx.send(item);
    }

    /// Notes the delivery of `item`.
    pub(crate) fn delivered(&self, item: &Item<E>) {
        match item {
            Item::Ev(SeqEvent::User(_)) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
            Item::Ev(SeqEvent::ConnClosed { conn, .. }) => {
                self.closing_set().remove(&conn.0);
            }
            _ => {}
        }
    }

    pub(crate) fn set_gone(&self) {
        self.gone.store(true, Ordering::Release);
    }

    fn closing_set(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.closing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reaches a sequencer from any thread: cheap to clone.
pub struct SeqHandle<E> {
    pub(crate) shared: Arc<SeqShared<E>>,
}

impl<E> Clone for SeqHandle<E> {
    fn clone(&self) -> Self {
        SeqHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<E> std::fmt::Debug for SeqHandle<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqHandle")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> SeqHandle<E> {
    /// Queues a user event (lws' `lws_seq_queue_event`): delivered later,
    /// on the sequencer's thread, after everything queued before it.
    #[doc(alias = "lws_seq_queue_event")]
    pub fn queue(&self, event: E) -> Result<(), QueueError> {
        let s = &self.shared;
        if s.gone.load(Ordering::Acquire) {
            return Err(QueueError::Gone);
        }
        let mut n = s.queued.load(Ordering::Acquire);
        loop {
            if n >= s.cap {
                return Err(QueueError::Full);
            }
            match s
                .queued
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        if s.tx.send(Item::Ev(SeqEvent::User(event))).is_err() {
            s.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(QueueError::Gone);
        }
        Ok(())
    }

    /// The sequencer's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// True once the sequencer has been destroyed.
    pub fn is_gone(&self) -> bool {
        self.shared.gone.load(Ordering::Acquire)
    }
}

/// What the handler can do while handling an event.
pub struct SeqCx<'a, E> {
    pub(crate) shared: &'a Arc<SeqShared<E>>,
    pub(crate) created: tokio::time::Instant,
    pub(crate) timeout: &'a mut task::Timeout,
    pub(crate) http: &'a task::Http,
    pub(crate) tsi: usize,
    pub(crate) retry: &'a crate::RetryPolicy,
}

impl<E> std::fmt::Debug for SeqCx<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqCx")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> SeqCx<'_, E> {
    /// The sequencer's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Time since it was created.
    pub fn since_created(&self) -> Duration {
        self.created.elapsed()
    }

    /// A handle for queuing events from elsewhere.
    pub fn handle(&self) -> SeqHandle<E> {
        SeqHandle {
            shared: self.shared.clone(),
        }
    }

    /// Queues `TimedOut` after `after` (microsecond resolution; lws'
    /// `lws_seq_timeout_us`); replaces any timeout set before.
    #[doc(alias = "lws_seq_timeout_us")]
    pub fn set_timeout(&mut self, after: Duration) {
        self.timeout.set(after);
    }

    /// After `failures` failed tries, sets the timeout to the policy's next
    /// wait (its `TimedOut` is the moment to try again) and returns true;
    /// false when the policy gives up (lws' `lws_retry_sul_schedule`).
    #[doc(alias = "lws_retry_sul_schedule")]
    pub fn retry_after(&mut self, failures: u32) -> bool {
        match self.retry.delay(failures) {
            Some(d) => {
                self.timeout.set(d);
                true
            }
            None => false,
        }
    }

    /// Cancels the timeout: no `TimedOut` comes for it, even one already
    /// queued.
    pub fn cancel_timeout(&mut self) {
        self.timeout.cancel();
    }

    /// True when a `ConnClosed` for `conn` is already queued (lws'
    /// `lws_sequencer_check_wsi`): it has gone, whatever the events before
    /// that one say.
    #[doc(alias = "lws_sequencer_check_wsi")]
    pub fn check_conn(&self, conn: SeqConn) -> bool {
        self.shared.closing_set().contains(&conn.0)
    }

    /// Starts an HTTP request with this sequencer attached, on the
    /// sequencer's thread: its lifecycle arrives as `ConnConnected`,
    /// `ConnFailed`, `ConnClosed` events (a bad URL as `ConnFailed`).
    pub fn http_request(
        &self,
        req: Result<crate::client::Request, crate::client::HttpError>,
    ) -> Result<SeqConn, crate::client::HttpStartError> {
        task::http_request(self.http, self.tsi, self.shared, req)
    }

    /// [`SeqCx::http_request`] on service thread `thread`.
    pub fn http_request_on(
        &self,
        thread: ThreadIndex,
        req: Result<crate::client::Request, crate::client::HttpError>,
    ) -> Result<SeqConn, crate::client::HttpStartError> {
        task::http_request(self.http, thread.get(), self.shared, req)
    }

    /// The service thread the sequencer runs on.
    pub fn thread(&self) -> ThreadIndex {
        ThreadIndex(self.tsi)
    }
}
