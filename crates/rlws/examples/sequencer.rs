//! lws' sequencer api-test: one sequencer runs five steps, each bounded by
//! a 3 s sequencer timeout, against servers this program starts itself:
//!
//! 1. GET a page (must complete),
//! 2. GET a stylesheet (must complete),
//! 3. GET a page that does not exist (must complete, with 404),
//! 4. GET from a port that accepts but never answers (must time out),
//! 5. GET from a name that does not resolve (must fail).
//!
//! Each step prints `step N: what in MS ms`; success prints
//! `Completed: PASS` and exits 0.
//!
//! `cargo run --release --example sequencer`

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rlws::client::Request;
use rlws::sequencer::{SeqConn, SeqCx, SeqEvent, SeqFlow, SeqHandler, SeqOptions};

/// What each step must end with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    Complete(u16),
    TimedOut,
    Failed,
}

struct Steps {
    urls: Vec<(String, Want)>,
    step: usize,
    conn: Option<SeqConn>,
    status: Option<u16>,
    started: Instant,
    done: mpsc::Sender<bool>,
}

impl Steps {
    /// Starts step `self.step` (or reports success after the last).
    fn next(&mut self, cx: &mut SeqCx<'_, ()>) -> SeqFlow {
        let Some((url, _)) = self.urls.get(self.step) else {
            println!("Completed: PASS");
            let _ = self.done.send(true);
            return SeqFlow::Destroy;
        };
        self.started = Instant::now();
        self.status = None;
        cx.set_timeout(Duration::from_secs(3));
        match cx.http_request(Request::get(url).map_err(Into::into)) {
            Ok(c) => {
                self.conn = Some(c);
                SeqFlow::Continue
            }
            Err(e) => self.fail(&format!("cannot start: {e}")),
        }
    }

    /// The step ended as `got`: on to the next one, or fail.
    fn ended(&mut self, cx: &mut SeqCx<'_, ()>, got: Want, what: &str) -> SeqFlow {
        let want = self.urls[self.step].1;
        println!(
            "step {}: {what} in {} ms",
            self.step + 1,
            self.started.elapsed().as_millis()
        );
        if got != want {
            return self.fail(&format!("expected {want:?}"));
        }
        self.conn = None;
        self.step += 1;
        self.next(cx)
    }

    fn fail(&mut self, why: &str) -> SeqFlow {
        println!("step {}: {why}", self.step + 1);
        println!("Completed: FAIL");
        let _ = self.done.send(false);
        SeqFlow::Destroy
    }
}

impl SeqHandler for Steps {
    type Event = ();

    fn event(&mut self, cx: &mut SeqCx<'_, ()>, ev: SeqEvent<()>) -> SeqFlow {
        match ev {
            SeqEvent::Created => self.next(cx),
            SeqEvent::ConnConnected { conn, status } if Some(conn) == self.conn => {
                self.status = Some(status);
                SeqFlow::Continue
            }
            SeqEvent::ConnClosed { conn, complete } if Some(conn) == self.conn => {
                cx.cancel_timeout();
                let status = self.status.unwrap_or(0);
                if complete {
                    self.ended(
                        cx,
                        Want::Complete(status),
                        &format!("completed with {status}"),
                    )
                } else {
                    self.fail("closed before completing")
                }
            }
            SeqEvent::ConnFailed { conn, reason } if Some(conn) == self.conn => {
                cx.cancel_timeout();
                self.ended(cx, Want::Failed, &format!("failed ({reason})"))
            }
            SeqEvent::TimedOut => self.ended(cx, Want::TimedOut, "timed out"),
            SeqEvent::Destroyed => SeqFlow::Continue,
            // Events of an earlier step's connection.
            _ => SeqFlow::Continue,
        }
    }
}

fn main() -> ExitCode {
    // The servers: a site with a page and a stylesheet, and a port that
    // accepts connections and never answers.
    let dir = std::env::temp_dir().join(format!("rlws-sequencer-{}", std::process::id()));
    let made = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("index.html"), "<p>hello</p>\n"))
        .and_then(|_| std::fs::write(dir.join("style.css"), "p { color: red }\n"));
    if let Err(e) = made {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let ctx = match rlws::Context::builder()
        .threads(1)
        .vhost(
            rlws::Vhost::new("localhost", ([127, 0, 0, 1], 0).into())
                .mount(rlws::Mount::dir("/", &dir)),
        )
        .start()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let silent = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let silent_port = silent.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let port = ctx.vhost_addr("localhost").map(|a| a.port()).unwrap_or(0);
    let site = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let urls = vec![
        (site("/index.html"), Want::Complete(200)),
        (site("/style.css"), Want::Complete(200)),
        (site("/nothing-here.html"), Want::Complete(404)),
        (format!("http://127.0.0.1:{silent_port}/"), Want::TimedOut),
        ("http://nonexistent.invalid/".to_string(), Want::Failed),
    ];
    let (tx, rx) = mpsc::channel();
    let steps = Steps {
        urls,
        step: 0,
        conn: None,
        status: None,
        started: Instant::now(),
        done: tx,
    };
    if let Err(e) = ctx.sequencer(SeqOptions::new("api-test"), steps) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let pass = rx.recv_timeout(Duration::from_secs(30)).unwrap_or(false);
    ctx.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
