//! Sequencers: lifecycle and ordering rules, the queue bound, the timeout
//! (re-arm, cancel, cancel of an already queued one), check_conn, destroy
//! from the handler and at shutdown, heartbeats, and lws' api-test as the
//! `sequencer` example.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rlws::client::Request;
use rlws::sequencer::{QueueError, SeqConn, SeqCx, SeqEvent, SeqFlow, SeqHandler, SeqOptions};
use rlws::ThreadIndex;

/// Records every event as text; user events may ask for things.
struct Log {
    out: mpsc::Sender<String>,
    conn: Option<SeqConn>,
}

// The payloads are read through Debug, in the log.
#[allow(dead_code)]
#[derive(Debug)]
enum Ask {
    /// Note it.
    Note(u32),
    /// Block the thread this long.
    Busy(u64),
    /// Set the timeout (ms).
    Timeout(u64),
    /// Cancel the timeout.
    Cancel,
    /// Queue a note to itself.
    Requeue(u32),
    /// End the sequencer.
    Destroy,
    /// GET this URL on thread 0 and wait (blocking) until its ConnClosed
    /// is queued.
    FetchAndWait(String),
}

impl SeqHandler for Log {
    type Event = Ask;

    fn event(&mut self, cx: &mut SeqCx<'_, Ask>, ev: SeqEvent<Ask>) -> SeqFlow {
        let text = match &ev {
            SeqEvent::Created => "created".to_string(),
            SeqEvent::Destroyed => "destroyed".to_string(),
            SeqEvent::TimedOut => "timed out".to_string(),
            SeqEvent::Heartbeat => "heartbeat".to_string(),
            SeqEvent::ConnConnected { status, .. } => format!("connected {status}"),
            SeqEvent::ConnFailed { .. } => "failed".to_string(),
            SeqEvent::ConnClosed { conn, complete } => {
                format!(
                    "closed complete={complete} still_queued={}",
                    cx.check_conn(*conn)
                )
            }
            SeqEvent::User(a) => format!("{a:?}"),
            _ => "other".to_string(),
        };
        let _ = self.out.send(text);
        if let SeqEvent::User(a) = ev {
            match a {
                Ask::Note(_) => {}
                Ask::Busy(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Ask::Timeout(ms) => cx.set_timeout(Duration::from_millis(ms)),
                Ask::Cancel => cx.cancel_timeout(),
                Ask::Requeue(n) => {
                    cx.handle().queue(Ask::Note(n)).unwrap();
                    let _ = self.out.send(format!("requeued {n}"));
                }
                Ask::Destroy => return SeqFlow::Destroy,
                Ask::FetchAndWait(url) => {
                    let c = cx
                        .http_request_on(
                            ThreadIndex::new(0),
                            Request::get(&url).map_err(Into::into),
                        )
                        .unwrap();
                    self.conn = Some(c);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !cx.check_conn(c) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    let _ = self
                        .out
                        .send(format!("check_conn while queued: {}", cx.check_conn(c)));
                }
            }
        }
        SeqFlow::Continue
    }
}

fn context() -> rlws::Context {
    rlws::Context::builder().threads(2).start().unwrap()
}

fn recv(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(10)).expect("an event")
}

fn start(
    ctx: &rlws::Context,
    opts: SeqOptions,
) -> (rlws::sequencer::SeqHandle<Ask>, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let h = ctx
        .sequencer(
            opts,
            Log {
                out: tx,
                conn: None,
            },
        )
        .unwrap();
    (h, rx)
}

#[test]
fn events_arrive_in_order_from_any_thread_and_never_inside_the_queuing_call() {
    let ctx = context();
    let (h, rx) = start(&ctx, SeqOptions::new("order").thread(ThreadIndex::new(1)));
    assert_eq!(recv(&rx), "created");
    h.queue(Ask::Busy(200)).unwrap();
    // Queued from other threads while the sequencer is busy.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    h.queue(Ask::Note(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(recv(&rx), "Busy(200)");
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); 4];
    for _ in 0..40 {
        let e = recv(&rx);
        let n: u32 = e
            .trim_start_matches("Note(")
            .trim_end_matches(')')
            .parse()
            .unwrap();
        seen[(n / 100) as usize].push(n % 100);
    }
    for s in &seen {
        assert_eq!(
            s,
            &(0..10).collect::<Vec<_>>(),
            "each thread's events in its order"
        );
    }
    // Queued from inside the handler: delivered after the call returned.
    h.queue(Ask::Requeue(7)).unwrap();
    assert_eq!(recv(&rx), "Requeue(7)");
    assert_eq!(recv(&rx), "requeued 7");
    assert_eq!(recv(&rx), "Note(7)");
    ctx.shutdown();
    assert_eq!(recv(&rx), "destroyed");
}

#[test]
fn a_full_queue_is_an_error_and_destroy_ends_it() {
    let ctx = context();
    let (h, rx) = start(&ctx, SeqOptions::new("full").queue(4));
    assert_eq!(recv(&rx), "created");
    h.queue(Ask::Busy(300)).unwrap();
    assert_eq!(recv(&rx), "Busy(300)");
    // While it is busy: four fit, the fifth does not.
    for i in 0..4 {
        h.queue(Ask::Note(i)).unwrap();
    }
    assert_eq!(h.queue(Ask::Note(4)), Err(QueueError::Full));
    for i in 0..4 {
        assert_eq!(recv(&rx), format!("Note({i})"));
    }
    h.queue(Ask::Destroy).unwrap();
    h.queue(Ask::Note(99)).ok();
    assert_eq!(recv(&rx), "Destroy");
    assert_eq!(recv(&rx), "destroyed");
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing after destroyed"
    );
    assert!(h.is_gone());
    assert_eq!(h.queue(Ask::Note(5)), Err(QueueError::Gone));
    ctx.shutdown();
}

#[test]
fn the_timeout_fires_once_rearms_and_really_cancels() {
    let ctx = context();
    let (h, rx) = start(&ctx, SeqOptions::new("timeout"));
    assert_eq!(recv(&rx), "created");
    // Re-armed: one TimedOut, at the later time.
    let t0 = Instant::now();
    h.queue(Ask::Timeout(100)).unwrap();
    h.queue(Ask::Timeout(400)).unwrap();
    assert_eq!(recv(&rx), "Timeout(100)");
    assert_eq!(recv(&rx), "Timeout(400)");
    assert_eq!(recv(&rx), "timed out");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "only once"
    );
    // Cancelled before it fires.
    h.queue(Ask::Timeout(100)).unwrap();
    h.queue(Ask::Cancel).unwrap();
    assert_eq!(recv(&rx), "Timeout(100)");
    assert_eq!(recv(&rx), "Cancel");
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "cancelled"
    );
    // Cancelled after it fired but before its TimedOut was delivered: the
    // timeout passes while the handler is busy, Cancel is already queued.
    h.queue(Ask::Timeout(10)).unwrap();
    h.queue(Ask::Busy(100)).unwrap();
    h.queue(Ask::Cancel).unwrap();
    assert_eq!(recv(&rx), "Timeout(10)");
    assert_eq!(recv(&rx), "Busy(100)");
    assert_eq!(recv(&rx), "Cancel");
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "the queued TimedOut is dropped"
    );
    ctx.shutdown();
    assert_eq!(recv(&rx), "destroyed");
}

#[test]
fn check_conn_sees_a_queued_close_and_heartbeats_come_each_second() {
    let dir = common::tempdir("seq");
    std::fs::write(dir.join("x.txt"), "x").unwrap();
    let (site, addr) = common::echo_site(&dir, 1);
    let ctx = context();
    let (h, rx) = start(
        &ctx,
        SeqOptions::new("conns")
            .thread(ThreadIndex::new(1))
            .heartbeat(true),
    );
    assert_eq!(recv(&rx), "created");
    h.queue(Ask::FetchAndWait(format!(
        "http://127.0.0.1:{}/files/x.txt",
        addr.port()
    )))
    .unwrap();
    let mut evs = Vec::new();
    while evs.len() < 4 {
        let e = recv(&rx);
        if e != "heartbeat" {
            evs.push(e);
        }
    }
    assert!(evs[0].starts_with("FetchAndWait"));
    assert_eq!(evs[1], "check_conn while queued: true");
    assert_eq!(evs[2], "connected 200");
    assert_eq!(evs[3], "closed complete=true still_queued=false");
    // Heartbeats: one within a couple of seconds.
    let t0 = Instant::now();
    loop {
        if recv(&rx) == "heartbeat" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(3));
    }
    ctx.shutdown();
    loop {
        let e = recv(&rx);
        if e == "destroyed" {
            break;
        }
        assert_eq!(e, "heartbeat");
    }
    drop(site);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// lws' sequencer api-test, as the `sequencer` example.
#[test]
fn the_api_test_example_passes_with_its_steps_timed() {
    let example = common::example("sequencer");
    let out = std::process::Command::new(&example).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    let ms = |l: &str| -> u64 {
        l.rsplit(" in ")
            .next()
            .unwrap()
            .trim_end_matches(" ms")
            .parse()
            .unwrap()
    };
    assert!(lines[0].starts_with("step 1: completed with 200"), "{text}");
    assert!(lines[1].starts_with("step 2: completed with 200"), "{text}");
    assert!(lines[2].starts_with("step 3: completed with 404"), "{text}");
    assert!(lines[3].starts_with("step 4: timed out"), "{text}");
    assert!(lines[4].starts_with("step 5: failed"), "{text}");
    assert_eq!(lines[5], "Completed: PASS");
    for l in [lines[0], lines[1], lines[2], lines[4]] {
        assert!(ms(l) < 3000, "{l}");
    }
    let t = ms(lines[3]);
    assert!(
        (3000..4500).contains(&t),
        "the 3 s sequencer timeout: {t} ms"
    );
}

/// GETs `url`, and after each failure waits the policy's next delay and
/// tries again; reports each step with its time.
struct Retrier {
    url: String,
    failures: u32,
    out: mpsc::Sender<(Instant, &'static str)>,
}

impl SeqHandler for Retrier {
    type Event = ();

    fn event(&mut self, cx: &mut SeqCx<'_, ()>, ev: SeqEvent<()>) -> SeqFlow {
        let now = Instant::now();
        match ev {
            SeqEvent::Created | SeqEvent::TimedOut => {
                let _ = self.out.send((now, "try"));
                cx.http_request(Request::get(&self.url).map_err(Into::into))
                    .unwrap();
            }
            SeqEvent::ConnFailed { .. } => {
                self.failures += 1;
                let _ = self.out.send((now, "failed"));
                if !cx.retry_after(self.failures) {
                    let _ = self.out.send((now, "gave up"));
                    return SeqFlow::Destroy;
                }
            }
            SeqEvent::ConnConnected { .. } => {
                let _ = self.out.send((now, "connected"));
                return SeqFlow::Destroy;
            }
            _ => {}
        }
        SeqFlow::Continue
    }
}

#[test]
fn retries_wait_the_policy_delays_and_give_up_after_the_conceal_count() {
    let ms = Duration::from_millis;
    let ctx = context();
    // Refuses twice, then accepts and answers.
    let refusing = common::Refusing::new();
    let url = format!("http://127.0.0.1:{}/", refusing.addr.port());
    let policy = rlws::RetryPolicy::new(&[ms(200), ms(300)])
        .jitter(20)
        .conceal(5);
    let (tx, rx) = mpsc::channel();
    ctx.sequencer(
        SeqOptions::new("retry").retry(policy.clone()),
        Retrier {
            url,
            failures: 0,
            out: tx,
        },
    )
    .unwrap();
    let next = || rx.recv_timeout(Duration::from_secs(10)).expect("a step");
    let mut steps = vec![next(), next(), next(), next()];
    assert_eq!(
        steps.iter().map(|s| s.1).collect::<Vec<_>>(),
        ["try", "failed", "try", "failed"]
    );
    // Now it accepts: the third try gets through.
    let listener = refusing.listen();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = listener.accept() {
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
        }
    });
    steps.push(next());
    steps.push(next());
    assert_eq!(steps[4].1, "try");
    assert_eq!(steps[5].1, "connected");
    // Each retry came after its delay, within the jitter (and a little
    // scheduling slack).
    for (fail, retry, n) in [(1, 2, 1), (3, 4, 2)] {
        let waited = steps[retry].0 - steps[fail].0;
        let (lo, hi) = policy.bounds(n).unwrap();
        assert!(
            waited >= lo && waited <= hi + ms(100),
            "retry {n}: waited {waited:?}, policy {lo:?}..{hi:?}"
        );
    }

    // Always refused: the first try and three retries, then it gives up.
    let refusing = common::Refusing::new();
    let url = format!("http://127.0.0.1:{}/", refusing.addr.port());
    let (tx, rx) = mpsc::channel();
    ctx.sequencer(
        SeqOptions::new("give-up").retry(rlws::RetryPolicy::new(&[ms(30)]).conceal(3)),
        Retrier {
            url,
            failures: 0,
            out: tx,
        },
    )
    .unwrap();
    let mut seen = Vec::new();
    loop {
        let (_, s) = rx.recv_timeout(Duration::from_secs(10)).expect("a step");
        seen.push(s);
        if s == "gave up" {
            break;
        }
    }
    assert_eq!(seen.iter().filter(|s| **s == "try").count(), 4, "{seen:?}");
    assert_eq!(
        seen.iter().filter(|s| **s == "failed").count(),
        4,
        "{seen:?}"
    );
    ctx.shutdown();
}
