//! One service thread: a single-threaded tokio runtime whose loop takes
//! messages (accepted sockets, jobs, shutdown), runs the once-a-second
//! sweep, and on shutdown gives connections a few seconds to close.

use std::any::Any;
use std::net::TcpListener as StdListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::accept::accept_loop;
use super::clock::Clock;
use super::poller::Poller;
use super::shared::{LiveGuard, Shared, ThreadMsg};
use super::validity::ValidityTable;

/// What a service thread's tasks share.
pub(crate) struct ThreadCore {
    pub(crate) tsi: usize,
    pub(crate) shared: Arc<Shared>,
    /// Each service's state on this thread, by its index.
    pub(crate) slots: Vec<Rc<dyn Any>>,
    pub(crate) clock: Rc<Clock>,
    /// The proof-of-life rules connections on this thread use.
    pub(crate) validity: Rc<ValidityTable>,
    /// Run once when the thread is told to end, before its connections
    /// are closed (sequencers say `Destroyed` here).
    shutdown_hooks: std::cell::RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Becomes true when the thread is told to end.
    closing: tokio::sync::watch::Sender<bool>,
    /// Connections running as tasks of their own (raw ones), which the
    /// thread waits for before it ends.
    tasks: Rc<std::cell::Cell<usize>>,
}

/// Counts a connection task on its thread while alive.
pub(crate) struct TaskGuard(Rc<std::cell::Cell<usize>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl ThreadCore {
    /// Says when the thread is told to end.
    pub(crate) fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Counts a connection task until the guard drops.
    pub(crate) fn task_guard(&self) -> TaskGuard {
        self.tasks.set(self.tasks.get() + 1);
        TaskGuard(self.tasks.clone())
    }

    /// Runs `f` when the thread is told to end.
    pub(crate) fn on_shutdown(&self, f: Box<dyn FnOnce()>) {
        self.shutdown_hooks.borrow_mut().push(f);
    }
}

/// Runs service thread `tsi` until shutdown; `listeners` (with their
/// keys) are accepted on this thread.
pub(crate) fn service_thread(
    tsi: usize,
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<ThreadMsg>,
    listeners: Vec<(StdListener, u32)>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(tsi, error = %e, "cannot build runtime");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, service_loop(tsi, shared, rx, listeners));
    tracing::debug!(tsi, "service thread ended");
}

/// Service thread `tsi`'s loop, on whatever current-thread runtime and
/// `LocalSet` polls it (its own thread's, or a caller's: foreign loops).
/// Returns after shutdown, once its connections are closed.
pub(crate) async fn service_loop(
    tsi: usize,
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<ThreadMsg>,
    listeners: Vec<(StdListener, u32)>,
) {
    {
        let clock = Rc::new(Clock::new());
        let validity = Rc::new(ValidityTable::new((shared.ping_after, shared.pong_timeout)));
        // Without a poller, every connection runs as a task.
        let poller = match Poller::new() {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(tsi, error = %e, "no poller: WebSockets run as tasks");
                None
            }
        };
        let slots = shared
            .services
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (c, v) = (clock.clone(), validity.clone());
                p.new_slot(i, tsi, shared.clone(), c, v, poller.clone())
            })
            .collect();
        let serve_records = poller.map(|p| tokio::task::spawn_local(p.run()));
        let core = Rc::new(ThreadCore {
            tsi,
            shared: shared.clone(),
            slots,
            clock,
            validity,
            shutdown_hooks: Default::default(),
            closing: tokio::sync::watch::Sender::new(false),
            tasks: Default::default(),
        });
        let server = shared.acceptor.thread(&core);
        for (l, key) in listeners {
            spawn_accept(&core, l, key);
        }
        let sweep = tokio::task::spawn_local(sweeper(core.clone()));
        while let Some(msg) = rx.recv().await {
            match msg {
                ThreadMsg::Accept(stream, peer, key) => {
                    let guard = LiveGuard::new(shared.clone(), tsi);
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(s) => server.clone().serve(s, peer, guard, key),
                        Err(e) => tracing::warn!(error = %e, "cannot register connection"),
                    }
                }
                ThreadMsg::Adopt(sock, key) => {
                    let guard = LiveGuard::new(shared.clone(), tsi);
                    server.clone().adopt(sock, guard, key);
                }
                ThreadMsg::Run(job) => job(&core),
                ThreadMsg::Shutdown => break,
            }
        }
        // Going away: the hooks first, then close every connection and
        // give them time to finish.
        let hooks = std::mem::take(&mut *core.shutdown_hooks.borrow_mut());
        for h in hooks {
            h();
        }
        for (p, slot) in shared.services.iter().zip(core.slots.iter()) {
            p.going_away(slot);
        }
        core.closing.send_replace(true);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            let live: usize = shared
                .services
                .iter()
                .zip(core.slots.iter())
                .map(|(p, s)| p.live(s))
                .sum::<usize>()
                + core.tasks.get();
            if live == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sweep.abort();
        if let Some(t) = serve_records {
            t.abort();
        }
        shared.unlisten_all(tsi);
    }
}

/// Accepts on `l` (listen-socket key `key`) on this thread until the
/// runtime stops it.
pub(crate) fn spawn_accept(core: &Rc<ThreadCore>, l: StdListener, key: u32) {
    match TcpListener::from_std(l) {
        Ok(l) => {
            let h = tokio::task::spawn_local(accept_loop(core.shared.clone(), l, key));
            core.shared.accepting(key, h.abort_handle());
        }
        Err(e) => tracing::error!(error = %e, "cannot register listener"),
    }
}

async fn sweeper(core: Rc<ThreadCore>) {
    let sh = &core.shared;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut burst = Burst::default();
    loop {
        tick.tick().await;
        let now = core.clock.tick();
        if core.tsi == 0 && burst.over(sh.ids_issued()) {
            give_back_memory();
        }
        let mut freed = 0;
        for (p, slot) in sh.services.iter().zip(core.slots.iter()) {
            freed += p.sweep(slot, now, &core.validity);
        }
        // Compression contexts of quiet connections went (tens to hundreds
        // of KiB each, mostly below glibc's mmap threshold): give the pages
        // back rather than keep them for allocations that may never come.
        if freed >= FREED_TO_TRIM {
            give_back_memory();
        }
    }
}

/// Large states freed in one sweep that make it trim the heap.
const FREED_TO_TRIM: usize = 16;

/// Tells when a burst of new connections is over: at least [`Burst::SIZE`]
/// ids handed out since the last time, and fewer than [`Burst::QUIET`] in
/// the last second.
#[derive(Default)]
struct Burst {
    at_last: u64,
    at_tick: u64,
}

impl Burst {
    const SIZE: u64 = 1024;
    const QUIET: u64 = 64;

    fn over(&mut self, issued: u64) -> bool {
        let recent = issued.saturating_sub(self.at_tick);
        self.at_tick = issued;
        if issued.saturating_sub(self.at_last) >= Self::SIZE && recent < Self::QUIET {
            self.at_last = issued;
            return true;
        }
        false
    }
}

/// Hands the heap pages that a burst's transient buffers (HTTP parsing,
/// handshakes, tasks) left free back to the system: glibc keeps them
/// otherwise, scattered between the long-lived connection records.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a plain integer and works only on the
    // allocator's own state under its own locks; glibc allows it from any
    // thread at any time. Tested by `a_burst_is_over_once_it_is_quiet`
    // (the trigger) and by the soak test, which trims after 19 000 connections.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::Burst;

    #[test]
    fn a_burst_is_over_once_it_is_quiet() {
        let mut b = Burst::default();
        assert!(!b.over(10), "too few");
        assert!(!b.over(2000), "still busy");
        assert!(b.over(2010), "quiet after a burst");
        assert!(!b.over(2011), "once per burst");
        super::give_back_memory();
    }
}
