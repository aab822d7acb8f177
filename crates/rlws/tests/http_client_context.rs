//! HTTP client requests in the lws model: started from a Context (or from
//! a callback), answered through HttpHandler callbacks on service threads,
//! with RX flow control, request bodies written in writeable callbacks, and
//! errors always as callbacks.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rlws::client::{
    Abort, BodyWriter, ErrorKind, HttpCx, HttpError, HttpHandler, Request, RequestBody,
    ResponseHead,
};

fn context(dir: &std::path::Path) -> (rlws::Context, String) {
    let (ctx, addr) = common::echo_site(dir, 2);
    (ctx, format!("http://127.0.0.1:{}", addr.port()))
}

/// What a request's callbacks saw, in order.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Established(u16),
    Data(usize),
    Paused,
    Completed,
    Closed(Option<ErrorKind>),
    Error(ErrorKind),
}

struct Session {
    events: mpsc::Sender<(u64, Ev)>,
    body: Vec<u8>,
    /// Pause after the first piece.
    pause_once: bool,
    /// Pieces of the request body, one per writeable callback.
    upload: Vec<Vec<u8>>,
    /// Write nothing on the first writeable callback.
    stall_first: bool,
    done: Option<mpsc::Sender<Vec<u8>>>,
}

struct Recorder {
    threads: Mutex<Vec<String>>,
}

impl Recorder {
    fn note(&self, cx: &HttpCx<'_>, s: &Session, ev: Ev) {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        let _ = s.events.send((cx.handle().id(), ev));
    }
}

impl HttpHandler for Recorder {
    type Session = Session;

    fn writeable(
        &self,
        _cx: &mut HttpCx<'_>,
        s: &mut Session,
        w: &mut BodyWriter,
    ) -> Result<(), Abort> {
        if s.stall_first {
            s.stall_first = false;
            return Ok(());
        }
        if s.upload.is_empty() {
            w.finish();
        } else {
            w.write(&s.upload.remove(0));
        }
        Ok(())
    }

    fn established(
        &self,
        cx: &mut HttpCx<'_>,
        s: &mut Session,
        head: &ResponseHead<'_>,
    ) -> Result<(), Abort> {
        self.note(cx, s, Ev::Established(head.status.as_u16()));
        Ok(())
    }

    fn receive(&self, cx: &mut HttpCx<'_>, s: &mut Session, data: &[u8]) -> Result<(), Abort> {
        s.body.extend_from_slice(data);
        self.note(cx, s, Ev::Data(data.len()));
        if s.pause_once {
            s.pause_once = false;
            cx.pause_rx();
            self.note(cx, s, Ev::Paused);
        }
        Ok(())
    }

    fn completed(&self, cx: &mut HttpCx<'_>, s: &mut Session) {
        self.note(cx, s, Ev::Completed);
    }

    fn connection_error(&self, cx: &mut HttpCx<'_>, s: &mut Session, e: &HttpError) {
        self.note(cx, s, Ev::Error(e.kind()));
    }

    fn closed(&self, cx: &mut HttpCx<'_>, s: &mut Session, e: Option<&HttpError>) {
        self.note(cx, s, Ev::Closed(e.map(|e| e.kind())));
        if let Some(d) = s.done.take() {
            let _ = d.send(std::mem::take(&mut s.body));
        }
    }
}

fn session(events: &mpsc::Sender<(u64, Ev)>) -> Session {
    Session {
        events: events.clone(),
        body: Vec::new(),
        pause_once: false,
        upload: Vec::new(),
        stall_first: false,
        done: None,
    }
}

fn tempdir() -> std::path::PathBuf {
    common::tempdir("hcctx")
}

fn next(rx: &mpsc::Receiver<(u64, Ev)>) -> (u64, Ev) {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a callback")
}

#[test]
fn callbacks_in_order_with_flow_control_on_a_service_thread() {
    let dir = tempdir();
    let file: Vec<u8> = (0..400_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("f.bin"), &file).unwrap();
    let (ctx, base) = context(&dir);
    let rec = Arc::new(Recorder {
        threads: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let mut s = session(&tx);
    s.pause_once = true;
    s.done = Some(done_tx);
    let h = ctx
        .http_request(
            rec.clone(),
            s,
            Request::get(&format!("{base}/files/f.bin")).unwrap(),
        )
        .unwrap();
    assert_eq!(next(&rx), (h.id(), Ev::Established(200)));
    assert!(matches!(next(&rx), (id, Ev::Data(_)) if id == h.id()));
    assert_eq!(next(&rx).1, Ev::Paused);
    // Paused: no more pieces arrive until resumed.
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing while paused"
    );
    h.resume_rx();
    let mut evs = Vec::new();
    loop {
        let (_, e) = next(&rx);
        let end = matches!(e, Ev::Closed(_));
        evs.push(e);
        if end {
            break;
        }
    }
    assert_eq!(&evs[evs.len() - 2..], &[Ev::Completed, Ev::Closed(None)]);
    assert!(evs[..evs.len() - 2]
        .iter()
        .all(|e| matches!(e, Ev::Data(_))));
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)).unwrap(), file);
    // Cancelled while paused: closed follows, nothing else.
    let (tx, rx) = mpsc::channel();
    let mut s = session(&tx);
    s.pause_once = true;
    let h = ctx
        .http_request(
            rec.clone(),
            s,
            Request::get(&format!("{base}/files/f.bin")).unwrap(),
        )
        .unwrap();
    assert_eq!(next(&rx).1, Ev::Established(200));
    assert!(matches!(next(&rx).1, Ev::Data(_)));
    assert_eq!(next(&rx).1, Ev::Paused);
    h.cancel();
    assert_eq!(next(&rx).1, Ev::Closed(None));
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    let threads = rec.threads.lock().unwrap();
    assert!(
        threads
            .iter()
            .all(|t| t == &format!("rlws-svc-{}", h.thread().get())),
        "{threads:?}"
    );
    drop(threads);
    ctx.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn request_bodies_written_in_writeable_callbacks() {
    let dir = tempdir();
    let (ctx, base) = context(&dir);
    let rec = Arc::new(Recorder {
        threads: Mutex::new(Vec::new()),
    });
    for (len, stall) in [(None, false), (Some(5 * 10_000), true)] {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let mut s = session(&tx);
        s.upload = (0..5u8).map(|i| vec![b'a' + i; 10_000]).collect();
        s.stall_first = stall;
        s.done = Some(done_tx);
        let req = Request::post(&format!("{base}/echo"))
            .unwrap()
            .body(RequestBody::from_writeable(len));
        let h = ctx.http_request(rec.clone(), s, req).unwrap();
        if stall {
            // The first callback wrote nothing: the body waits for a
            // request_writeable from anywhere.
            assert!(done_rx.recv_timeout(Duration::from_millis(200)).is_err());
            h.request_writeable();
        }
        let body = done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("echoed");
        let want: Vec<u8> = (0..5u8).flat_map(|i| vec![b'a' + i; 10_000]).collect();
        assert_eq!(body, want);
        assert_eq!(next(&rx).1, Ev::Established(200));
    }
    ctx.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_arrive_as_callbacks_for_the_returned_handle_and_nothing_follows() {
    let dir = tempdir();
    let (ctx, _base) = context(&dir);
    let rec = Arc::new(Recorder {
        threads: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel();
    let refusing = common::Refusing::new();
    let url = format!("http://127.0.0.1:{}/", refusing.addr.port());
    let a = ctx
        .http_request(rec.clone(), session(&tx), Request::get(&url).unwrap())
        .unwrap();
    let b = ctx
        .poster()
        .http_get(rec.clone(), session(&tx), "ftp://nowhere/")
        .unwrap();
    let mut got = vec![next(&rx), next(&rx)];
    got.sort_by_key(|(id, _)| *id);
    assert_eq!(
        got,
        vec![
            (a.id(), Ev::Error(ErrorKind::Refused)),
            (b.id(), Ev::Error(ErrorKind::Request))
        ]
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "no closed after an error"
    );
    ctx.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_deadline_ends_a_request_before_or_after_its_response_head() {
    // Accepts and never answers; or sends a head and then nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stalls = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (silent_port, stalls_port) = (
        silent.local_addr().unwrap().port(),
        stalls.local_addr().unwrap().port(),
    );
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut held = Vec::new();
        for mut s in stalls.incoming().flatten() {
            let mut b = [0u8; 1024];
            let _ = s.read(&mut b);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome");
            held.push(s);
        }
    });
    let dir = tempdir();
    let (ctx, _base) = context(&dir);
    let rec = Arc::new(Recorder {
        threads: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::channel();
    let t0 = std::time::Instant::now();
    let h = ctx
        .http_request(
            rec.clone(),
            session(&tx),
            Request::get(&format!("http://127.0.0.1:{silent_port}/")).unwrap(),
        )
        .unwrap();
    h.set_timeout("no answer", Duration::from_millis(300));
    assert_eq!(next(&rx).1, Ev::Error(ErrorKind::Timeout));
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "ours, not the 30 s idle timeout"
    );

    let h = ctx
        .http_request(
            rec.clone(),
            session(&tx),
            Request::get(&format!("http://127.0.0.1:{stalls_port}/")).unwrap(),
        )
        .unwrap();
    assert_eq!(next(&rx).1, Ev::Established(200));
    h.set_timeout("body stalled", Duration::from_millis(300));
    assert_eq!(next(&rx).1, Ev::Data(4));
    assert_eq!(next(&rx).1, Ev::Closed(Some(ErrorKind::Timeout)));
    ctx.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts the next request from inside `completed`.
struct Chain {
    poster: Mutex<Option<rlws::Poster>>,
    url: String,
    out: Mutex<mpsc::Sender<Result<(u64, u64), String>>>,
}

impl HttpHandler for Chain {
    type Session = u32;

    fn established(
        &self,
        _cx: &mut HttpCx<'_>,
        _s: &mut u32,
        head: &ResponseHead<'_>,
    ) -> Result<(), Abort> {
        let _ = self
            .out
            .lock()
            .unwrap()
            .send(Ok((head.connection.id, head.connection.transaction)));
        Ok(())
    }

    fn receive(&self, _cx: &mut HttpCx<'_>, _s: &mut u32, _d: &[u8]) -> Result<(), Abort> {
        Ok(())
    }

    fn completed(&self, _cx: &mut HttpCx<'_>, left: &mut u32) {
        if *left > 0 {
            let p = self.poster.lock().unwrap().clone().unwrap();
            let me = CHAIN.lock().unwrap().clone().unwrap();
            p.http_get(me, *left - 1, &self.url).unwrap();
        }
    }

    fn connection_error(&self, _cx: &mut HttpCx<'_>, _s: &mut u32, e: &HttpError) {
        let _ = self.out.lock().unwrap().send(Err(e.to_string()));
    }
}

static CHAIN: Mutex<Option<Arc<Chain>>> = Mutex::new(None);

#[test]
fn a_request_started_in_a_completed_callback_reuses_the_connection() {
    let dir = tempdir();
    std::fs::write(dir.join("x"), b"x").unwrap();
    let (ctx, base) = context(&dir);
    let (tx, rx) = mpsc::channel();
    let chain = Arc::new(Chain {
        poster: Mutex::new(Some(ctx.poster())),
        url: format!("{base}/files/x"),
        out: Mutex::new(tx),
    });
    *CHAIN.lock().unwrap() = Some(chain.clone());
    ctx.poster()
        .http_get(chain, 3, &format!("{base}/files/x"))
        .unwrap();
    let got: Vec<_> = (0..4)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap())
        .collect();
    assert!(got.iter().all(|&(id, _)| id == got[0].0), "{got:?}");
    assert_eq!(got.iter().map(|g| g.1).collect::<Vec<_>>(), [1, 2, 3, 4]);
    *CHAIN.lock().unwrap() = None;
    ctx.shutdown();
    std::fs::remove_dir_all(&dir).unwrap();
}
