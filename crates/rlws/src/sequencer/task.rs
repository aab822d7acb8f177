//! A sequencer's task on its service thread: the queue, the timeout, the
//! heartbeat, destruction (asked for, or at shutdown), and the HTTP
//! requests it watches.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{
    Item, SeqConn, SeqCx, SeqEvent, SeqFlow, SeqHandle, SeqHandler, SeqOptions, SeqShared,
    SeqStartError,
};
use crate::client::{
    HttpClient, HttpCx, HttpError, HttpHandler, HttpStartError, Request, ResponseHead,
};
use crate::runtime::{Shared, ThreadCore};

/// The sequencer's own timeout: when, and which arming it is (a `TimedOut`
/// of an older arming is not delivered).
#[derive(Debug, Default)]
pub(crate) struct Timeout {
    deadline: Option<Instant>,
    gen: u64,
}

impl Timeout {
    pub(crate) fn set(&mut self, after: Duration) {
        self.gen += 1;
        self.deadline = Some(Instant::now() + after);
    }

    pub(crate) fn cancel(&mut self) {
        self.gen += 1;
        self.deadline = None;
    }
}

/// What the task and the thread's shutdown hook share.
struct Seq<H: SeqHandler> {
    handler: RefCell<Option<H>>,
    shared: Arc<SeqShared<H::Event>>,
    timeout: RefCell<Timeout>,
    created: Instant,
    http: Http,
    tsi: usize,
    retry: crate::RetryPolicy,
}

/// What starting HTTP requests takes: the context's threads and client.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) rt: Arc<Shared>,
    pub(crate) client: HttpClient,
}

impl<H: SeqHandler> Seq<H> {
    /// Delivers `ev`; `None` when the sequencer is already gone.
    fn deliver(&self, ev: SeqEvent<H::Event>) -> Option<SeqFlow> {
        let mut h = self.handler.borrow_mut();
        let h = h.as_mut()?;
        let mut t = self.timeout.borrow_mut();
        let mut cx = SeqCx {
            shared: &self.shared,
            created: self.created,
            timeout: &mut t,
            http: &self.http,
            tsi: self.tsi,
            retry: &self.retry,
        };
        Some(h.event(&mut cx, ev))
    }

    /// Delivers `Destroyed` and drops the handler (once).
    fn destroy(&self) {
        self.shared.set_gone();
        if self.handler.borrow().is_none() {
            return;
        }
        self.deliver(SeqEvent::Destroyed);
        self.handler.borrow_mut().take();
        tracing::debug!(name = %self.shared.name, "sequencer destroyed");
    }
}

/// Creates a sequencer on its thread.
pub(crate) fn start<H: SeqHandler>(
    http: Http,
    opts: SeqOptions,
    handler: H,
) -> Result<SeqHandle<H::Event>, SeqStartError> {
    let rt = http.rt.clone();
    let tsi = match opts.thread {
        Some(t) if t.get() < rt.thread_count() => t.get(),
        Some(_) => return Err(SeqStartError::NoSuchThread),
        None => {
            // The least-loaded thread; a sequencer is not a connection.
            let t = rt.place().unwrap_or(0);
            rt.unreserve(t);
            t
        }
    };
    let (shared, rx) = SeqShared::new(opts.name, opts.queue);
    shared.push(Item::Ev(SeqEvent::Created));
    let handle = SeqHandle {
        shared: shared.clone(),
    };
    let heartbeat = opts.heartbeat;
    let retry = opts.retry;
    let job = Box::new(move |core: &Rc<ThreadCore>| {
        let seq = Rc::new(Seq {
            handler: RefCell::new(Some(handler)),
            shared,
            timeout: RefCell::new(Timeout::default()),
            created: Instant::now(),
            http,
            tsi,
            retry,
        });
        // Shutdown destroys it, with `Destroyed`.
        let weak = Rc::downgrade(&seq);
        core.on_shutdown(Box::new(move || {
            if let Some(s) = weak.upgrade() {
                s.destroy();
            }
        }));
        tokio::task::spawn_local(run(seq, rx, heartbeat));
    });
    if !rt.run_on(tsi, job) {
        return Err(SeqStartError::Stopped);
    }
    Ok(handle)
}

async fn run<H: SeqHandler>(
    seq: Rc<Seq<H>>,
    mut rx: mpsc::UnboundedReceiver<Item<H::Event>>,
    heartbeat: bool,
) {
    let mut beat = tokio::time::interval_at(
        Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let deadline = seq.timeout.borrow().deadline;
        let item = tokio::select! {
            biased;
            _ = sleep_until(deadline) => {
                let mut t = seq.timeout.borrow_mut();
                t.deadline = None;
                seq.shared.push(Item::TimedOut(t.gen));
                continue;
            }
            _ = beat.tick(), if heartbeat => {
                seq.shared.push(Item::Ev(SeqEvent::Heartbeat));
                continue;
            }
            item = rx.recv() => match item {
                Some(i) => i,
                None => return,
            },
        };
        seq.shared.delivered(&item);
        let ev = match item {
            Item::TimedOut(gen) if gen == seq.timeout.borrow().gen => SeqEvent::TimedOut,
            // Re-armed or cancelled since.
            Item::TimedOut(_) => continue,
            Item::Ev(e) => e,
        };
        match seq.deliver(ev) {
            None => return,
            Some(SeqFlow::Destroy) => return seq.destroy(),
            Some(SeqFlow::Continue) => {}
        }
        // One event per turn of the service loop.
        tokio::task::yield_now().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Starts an HTTP request whose lifecycle goes to the sequencer.
pub(crate) fn http_request<E: Send + 'static>(
    http: &Http,
    tsi: usize,
    shared: &Arc<SeqShared<E>>,
    req: Result<Request, HttpError>,
) -> Result<SeqConn, HttpStartError> {
    let session = Watch {
        seq: shared.clone(),
        complete: false,
    };
    let h = crate::client::start_on_thread(
        &http.rt,
        &http.client,
        Some(tsi),
        Arc::new(Watcher::<E>(std::marker::PhantomData)),
        session,
        req,
    )?;
    Ok(SeqConn(h.id()))
}

/// Turns a request's callbacks into its sequencer's events.
struct Watcher<E>(std::marker::PhantomData<fn() -> E>);

struct Watch<E> {
    seq: Arc<SeqShared<E>>,
    complete: bool,
}

impl<E: Send + 'static> HttpHandler for Watcher<E> {
    type Session = Watch<E>;

    fn established(
        &self,
        cx: &mut HttpCx<'_>,
        s: &mut Watch<E>,
        head: &ResponseHead<'_>,
    ) -> Result<(), crate::client::Abort> {
        s.seq.push(Item::Ev(SeqEvent::ConnConnected {
            conn: SeqConn(cx.handle().id()),
            status: head.status.as_u16(),
        }));
        Ok(())
    }

    fn receive(
        &self,
        _cx: &mut HttpCx<'_>,
        _s: &mut Watch<E>,
        _data: &[u8],
    ) -> Result<(), crate::client::Abort> {
        Ok(())
    }

    fn completed(&self, _cx: &mut HttpCx<'_>, s: &mut Watch<E>) {
        s.complete = true;
    }

    fn connection_error(&self, cx: &mut HttpCx<'_>, s: &mut Watch<E>, error: &HttpError) {
        s.seq.push(Item::Ev(SeqEvent::ConnFailed {
            conn: SeqConn(cx.handle().id()),
            reason: error.to_string(),
        }));
    }

    fn closed(&self, cx: &mut HttpCx<'_>, s: &mut Watch<E>, _error: Option<&HttpError>) {
        s.seq.push(Item::Ev(SeqEvent::ConnClosed {
            conn: SeqConn(cx.handle().id()),
            complete: s.complete,
        }));
    }
}
