//! One readiness loop per service thread for connections kept as records
//! in tables rather than as tasks (WebSockets on plain TCP): a mio poll
//! whose descriptor the thread's tokio runtime watches, a queue of records
//! to run (signals from other connections, the sweeper, shutdown), and one
//! timer heap for every record's deadline.
//!
//! A record is named by a token: the table ("sink") it lives in, its key
//! there and the generation of that key, so that an event or a timer meant
//! for a closed record never reaches the one that reused its key.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::time::Sleep;

/// Events taken from the poll in one turn.
const EVENTS: usize = 256;

/// A table of records the poller serves.
pub(crate) trait Sink {
    /// The socket of record `key` is readable and/or writable.
    fn ready(&self, key: u32, gen: u16, readable: bool, writable: bool);
    /// Record `key` was scheduled: something set its flags.
    fn run(&self, key: u32, gen: u16);
    /// The timer armed for record `key` at `at` (see [`Poller::now_ms`]) is due.
    fn expired(&self, key: u32, gen: u16, at: u64);
}

/// Names a record: sink, generation and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Token(u64);

impl Token {
    pub(crate) fn new(sink: u16, gen: u16, key: u32) -> Token {
        Token((u64::from(sink) << 48) | (u64::from(gen) << 32) | u64::from(key))
    }

    fn parts(self) -> (usize, u16, u32) {
        (
            (self.0 >> 48) as usize,
            (self.0 >> 32) as u16,
            self.0 as u32,
        )
    }
}

/// The poll, owned by the `AsyncFd` that makes tokio's reactor watch its
/// descriptor (which is readable while events are waiting in it).
struct PollCell {
    poll: RefCell<mio::Poll>,
    /// The poll's descriptor, taken once.
    fd: RawFd,
}

impl AsRawFd for PollCell {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

/// A service thread's readiness loop.
#[doc(alias = "lws_context_per_thread")]
pub(crate) struct Poller {
    poll: AsyncFd<PollCell>,
    events: RefCell<mio::Events>,
    sinks: RefCell<Vec<Weak<dyn Sink>>>,
    queue: RefCell<Vec<Token>>,
    timers: RefCell<BinaryHeap<Reverse<(u64, Token)>>>,
    epoch: Instant,
    /// The loop's waker while it waits.
    waker: Cell<Option<Waker>>,
    /// A timer was armed since the loop last looked.
    armed: Cell<bool>,
}

impl Poller {
    /// A poller for the current thread (inside its tokio runtime).
    pub(crate) fn new() -> io::Result<Rc<Poller>> {
        let poll = mio::Poll::new()?;
        let fd = poll.as_raw_fd();
        let cell = PollCell {
            poll: RefCell::new(poll),
            fd,
        };
        // SAFETY: the AsyncFd owns the poll (inside `cell`) until it is
        // dropped, and nothing replaces the poll in its RefCell (only
        // `registry()` and `poll()` are called on it), so the descriptor
        // stays open and the same, and `as_raw_fd` always returns it.
        // Tested by `a_registered_socket_is_served_by_the_loop` below and by
        // every WebSocket test on plain TCP.
        let poll = unsafe { AsyncFd::register_with_interest(cell, tokio::io::Interest::READABLE)? };
        Ok(Rc::new(Poller {
            poll,
            events: RefCell::new(mio::Events::with_capacity(EVENTS)),
            sinks: RefCell::new(Vec::new()),
            queue: RefCell::new(Vec::new()),
            timers: RefCell::new(BinaryHeap::new()),
            epoch: Instant::now(),
            waker: Cell::new(None),
            armed: Cell::new(false),
        }))
    }

    /// Adds a table; returns its sink number for [`Token::new`].
    pub(crate) fn add_sink(&self, sink: Weak<dyn Sink>) -> u16 {
        let mut s = self.sinks.borrow_mut();
        s.push(sink);
        u16::try_from(s.len() - 1).unwrap_or(u16::MAX)
    }

    /// Watches `sock` for `interest`, reporting under `token`.
    pub(crate) fn register(
        &self,
        sock: &mut mio::net::TcpStream,
        token: Token,
        interest: mio::Interest,
    ) -> io::Result<()> {
        let poll = self.poll.get_ref().poll.borrow();
        poll.registry()
            .register(sock, mio::Token(token.0 as usize), interest)
    }

    /// Changes what `sock` is watched for.
    pub(crate) fn reregister(
        &self,
        sock: &mut mio::net::TcpStream,
        token: Token,
        interest: mio::Interest,
    ) -> io::Result<()> {
        let poll = self.poll.get_ref().poll.borrow();
        poll.registry()
            .reregister(sock, mio::Token(token.0 as usize), interest)
    }

    /// Runs [`Sink::run`] for `token` on the next turn.
    pub(crate) fn schedule(&self, token: Token) {
        self.queue.borrow_mut().push(token);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Milliseconds since the poller started.
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// `at` in poller milliseconds, rounded up so that a timer never fires early.
    pub(crate) fn ms_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        let ms = d.as_millis() as u64;
        if Duration::from_millis(ms) < d {
            ms + 1
        } else {
            ms
        }
    }

    /// Calls [`Sink::expired`] for `token` at `at` ms or later. An entry
    /// stays until due: the sink checks it still wants it.
    pub(crate) fn arm(&self, token: Token, at: u64) {
        self.timers.borrow_mut().push(Reverse((at, token)));
        self.armed.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn sink(&self, n: usize) -> Option<Rc<dyn Sink>> {
        self.sinks.borrow().get(n).and_then(Weak::upgrade)
    }

    /// Serves the thread's records until the runtime drops the loop.
    pub(crate) async fn run(self: Rc<Self>) {
        let mut sleep: Option<Pin<Box<Sleep>>> = None;
        let mut sleep_at = u64::MAX;
        // The poll may hold more events than one turn takes.
        let mut more = false;
        loop {
            let mut waited = false;
            poll_fn(|cx| {
                let mut ready = more || self.armed.get() || !self.queue.borrow().is_empty();
                if let Poll::Ready(Ok(mut g)) = self.poll.poll_read_ready(cx) {
                    g.clear_ready();
                    ready = true;
                }
                if let Some(s) = sleep.as_mut() {
                    if s.as_mut().poll(cx).is_ready() {
                        sleep = None;
                        sleep_at = u64::MAX;
                        ready = true;
                    }
                }
                if ready {
                    // Schedules and timers armed during the turn are seen
                    // after it: no wake-up of the running loop for them.
                    self.waker.set(None);
                    return Poll::Ready(());
                }
                waited = true;
                match self.waker.take() {
                    Some(w) if w.will_wake(cx.waker()) => self.waker.set(Some(w)),
                    _ => self.waker.set(Some(cx.waker().clone())),
                }
                Poll::Pending
            })
            .await;
            more = self.turn();
            self.armed.set(false);
            // The next timer, if it is earlier than the one armed.
            let next = self.timers.borrow().peek().map(|Reverse((at, _))| *at);
            if let Some(at) = next {
                if at < sleep_at {
                    let when =
                        tokio::time::Instant::from_std(self.epoch + Duration::from_millis(at));
                    match sleep.as_mut() {
                        Some(s) => s.as_mut().reset(when),
                        None => sleep = Some(Box::pin(tokio::time::sleep_until(when))),
                    }
                    sleep_at = at;
                }
            }
            if !waited {
                // Other tasks of the thread get their turn between ours.
                tokio::task::yield_now().await;
            }
        }
    }

    /// One turn: ready sockets, scheduled records, due timers. True if the
    /// poll may hold more events.
    fn turn(&self) -> bool {
        let mut full = false;
        {
            let mut events = self.events.borrow_mut();
            let polled = self
                .poll
                .get_ref()
                .poll
                .borrow_mut()
                .poll(&mut events, Some(Duration::ZERO));
            if polled.is_ok() {
                let mut n = 0;
                // Events mostly go to one sink: it is looked up once a run.
                let mut last = None;
                for ev in events.iter() {
                    n += 1;
                    let (s, gen, key) = Token(ev.token().0 as u64).parts();
                    if last.as_ref().is_none_or(|(id, _)| *id != s) {
                        last = self.sink(s).map(|sink| (s, sink));
                    }
                    if let Some((_, sink)) = &last {
                        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                        let writable = ev.is_writable() || ev.is_write_closed() || ev.is_error();
                        sink.ready(key, gen, readable, writable);
                    }
                }
                full = n >= EVENTS;
            }
        }
        // What was scheduled before this point; what the runs schedule waits
        // for the next turn.
        let queued = std::mem::take(&mut *self.queue.borrow_mut());
        for t in &queued {
            let (s, gen, key) = t.parts();
            if let Some(sink) = self.sink(s) {
                sink.run(key, gen);
            }
        }
        {
            // Give the vector back so that its capacity is kept.
            let mut q = self.queue.borrow_mut();
            if q.is_empty() {
                let mut v = queued;
                v.clear();
                *q = v;
            }
        }
        if self.timers.borrow().is_empty() {
            return full;
        }
        let now = self.now_ms();
        loop {
            let due = {
                let mut timers = self.timers.borrow_mut();
                match timers.peek() {
                    Some(Reverse((at, _))) if *at <= now => timers.pop(),
                    _ => None,
                }
            };
            let Some(Reverse((at, t))) = due else { break };
            let (s, gen, key) = t.parts();
            if let Some(sink) = self.sink(s) {
                sink.expired(key, gen, at);
            }
        }
        full
    }
}

#[cfg(test)]
mod tests {
    use super::{Poller, Sink, Token};
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::{Rc, Weak};

    #[derive(Default)]
    struct Seen(RefCell<Vec<String>>);

    impl Sink for Seen {
        fn ready(&self, key: u32, gen: u16, readable: bool, _writable: bool) {
            self.0
                .borrow_mut()
                .push(format!("ready {key} {gen} {readable}"));
        }
        fn run(&self, key: u32, gen: u16) {
            self.0.borrow_mut().push(format!("run {key} {gen}"));
        }
        fn expired(&self, key: u32, gen: u16, at: u64) {
            self.0
                .borrow_mut()
                .push(format!("expired {key} {gen} {}", at > 0));
        }
    }

    #[test]
    fn a_registered_socket_is_served_by_the_loop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            let poller = Poller::new().unwrap();
            let seen = Rc::new(Seen::default());
            let sink = poller.add_sink(Rc::downgrade(&seen) as Weak<dyn Sink>);
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            s.set_nonblocking(true).unwrap();
            let mut s = mio::net::TcpStream::from_std(s);
            poller
                .register(&mut s, Token::new(sink, 7, 42), mio::Interest::READABLE)
                .unwrap();
            let task = tokio::task::spawn_local(poller.clone().run());
            let wait_for = |what: &'static str| {
                let seen = seen.clone();
                async move {
                    tokio::time::timeout(std::time::Duration::from_secs(5), async {
                        while !seen.0.borrow().iter().any(|e| e == what) {
                            tokio::task::yield_now().await;
                        }
                    })
                    .await
                    .unwrap_or_else(|_| panic!("no {what:?} in {:?}", seen.0.borrow()));
                }
            };
            client.write_all(b"x").unwrap();
            wait_for("ready 42 7 true").await;
            poller.schedule(Token::new(sink, 1, 9));
            wait_for("run 9 1").await;
            let at = poller.now_ms() + 30;
            poller.arm(Token::new(sink, 2, 5), at);
            wait_for("expired 5 2 true").await;
            assert!(poller.now_ms() >= at, "the timer fired early");
            task.abort();
        });
    }

    #[test]
    fn tokens_keep_sink_generation_and_key() {
        let t = Token::new(3, 0xfffe, 0xdead_beef);
        assert_eq!(t.parts(), (3, 0xfffe, 0xdead_beef));
        assert_eq!(Token::new(0, 0, 0).parts(), (0, 0, 0));
    }
}
