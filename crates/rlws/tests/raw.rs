//! Raw connections and adoption: a socketpair end adopted as HTTP, FIFOs
//! adopted with raw callbacks (receive, flow control, writeable from
//! another thread, closed), a raw echo listener driven by `nc`, raw client
//! connections, raw timeouts, and the built-in raw proxy in front of nginx.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use rlws::{Context, Files, Hangup, RawClosed, RawCx, RawProtocol, RawProxy, RawWriter, Vhost};

const WAIT: Duration = Duration::from_secs(10);

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// What the recording protocol saw, in order.
#[derive(Debug, PartialEq)]
enum Ev {
    Adopted,
    Rx(Vec<u8>),
    Writeable,
    Closed(RawClosed),
    ConnectError,
}

/// Records its callbacks; echoes what it receives when `echo`; pauses
/// reading after its first receive when `pause`; closes after `idle`
/// without data when set; writes `greeting` on its first writeable.
struct Recorder {
    name: &'static str,
    tx: Mutex<mpsc::Sender<Ev>>,
    echo: bool,
    pause: bool,
    idle: Option<Duration>,
    greeting: Option<&'static [u8]>,
}

impl Recorder {
    fn new(name: &'static str) -> (Recorder, mpsc::Receiver<Ev>) {
        let (tx, rx) = mpsc::channel();
        (
            Recorder {
                name,
                tx: Mutex::new(tx),
                echo: false,
                pause: false,
                idle: None,
                greeting: None,
            },
            rx,
        )
    }

    fn send(&self, e: Ev) {
        let _ = self.tx.lock().unwrap().send(e);
    }
}

#[derive(Default)]
struct Sess {
    pending: Vec<u8>,
    greeted: bool,
    paused_once: bool,
}

impl RawProtocol for Recorder {
    type Session = Sess;

    fn name(&self) -> &str {
        self.name
    }

    fn adopted(&self, cx: &mut RawCx<'_>) -> Result<Sess, Hangup> {
        self.send(Ev::Adopted);
        if let Some(d) = self.idle {
            cx.set_timeout("idle", d);
        }
        if self.greeting.is_some() {
            cx.request_writeable();
        }
        Ok(Sess::default())
    }

    fn receive(&self, cx: &mut RawCx<'_>, s: &mut Sess, data: &[u8]) -> Result<(), Hangup> {
        self.send(Ev::Rx(data.to_vec()));
        if let Some(d) = self.idle {
            cx.set_timeout("idle", d);
        }
        if self.pause && !s.paused_once {
            s.paused_once = true;
            cx.pause_rx();
        }
        if self.echo {
            s.pending.extend_from_slice(data);
            cx.request_writeable();
        }
        Ok(())
    }

    fn writeable(
        &self,
        _: &mut RawCx<'_>,
        s: &mut Sess,
        out: &mut RawWriter<'_>,
    ) -> Result<(), Hangup> {
        self.send(Ev::Writeable);
        if let (Some(g), false) = (self.greeting, s.greeted) {
            s.greeted = true;
            out.write(g);
        }
        out.write(&s.pending);
        s.pending.clear();
        Ok(())
    }

    fn closed(&self, _: Sess, why: &RawClosed) {
        self.send(Ev::Closed(why.clone()));
    }

    fn connection_error(&self, _: SocketAddr, _: &std::io::Error) {
        self.send(Ev::ConnectError);
    }
}

fn next(rx: &mpsc::Receiver<Ev>) -> Ev {
    rx.recv_timeout(WAIT).expect("no callback within 10 s")
}

/// Received bytes until `n` have come (other events skipped but kept out).
fn rx_bytes(rx: &mpsc::Receiver<Ev>, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        match next(rx) {
            Ev::Rx(d) => got.extend(d),
            Ev::Writeable => {}
            e => panic!("expected data, got {e:?}"),
        }
    }
    got
}

/// Sends a one-shot GET of `path` on `s` and reads the whole answer.
fn get(mut s: impl Read + Write, path: &str) -> String {
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn socketpair_end_adopted_as_http() {
    let dir = common::tempdir("raw-adopt-http");
    std::fs::write(dir.join("index.html"), "adopted\n").unwrap();
    let ctx = Context::builder()
        .threads(2)
        .vhost(Vhost::new("localhost", any()).site(Files::new(&dir)))
        .start()
        .unwrap();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ctx.poster().adopt_socket("localhost", theirs).unwrap();
    ours.set_read_timeout(Some(WAIT)).unwrap();
    let resp = get(ours, "/");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nadopted\n"), "{resp}");
    // A TCP socket accepted elsewhere, adopted the same way.
    let l = std::net::TcpListener::bind(any()).unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    ctx.poster().adopt_socket("localhost", s).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    let resp = get(c, "/nothing-here");
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    let err = ctx.poster().adopt_socket(
        "nonesuch",
        std::os::unix::net::UnixStream::pair().unwrap().0,
    );
    assert!(
        matches!(err, Err(rlws::AdoptError::NoSuchVhost(_))),
        "{err:?}"
    );
    ctx.shutdown();
}

fn mkfifo(path: &std::path::Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

#[test]
fn fifo_adopted_with_raw_callbacks_and_flow_control() {
    let dir = common::tempdir("raw-fifo");
    let (mut reader, rx) = Recorder::new("fifo-in");
    reader.pause = true;
    let (mut writer, wrx) = Recorder::new("fifo-out");
    writer.greeting = Some(b"from rlws\n");
    let ctx = Context::builder()
        .threads(2)
        .raw_protocol(reader)
        .raw_protocol(writer)
        .start()
        .unwrap();

    // In: rlws reads a FIFO the test writes.
    let inp = dir.join("in");
    mkfifo(&inp);
    let r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&inp)
        .unwrap();
    let mut w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&inp)
        .unwrap();
    let h = ctx.poster().adopt_fd("fifo-in", r.into()).unwrap();
    assert_eq!(next(&rx), Ev::Adopted);
    w.write_all(b"first").unwrap();
    assert_eq!(rx_bytes(&rx, 5), b"first");
    // Paused: nothing is read, so the FIFO fills and the writer is pushed
    // back (EAGAIN) well before 4 MiB.
    let chunk = vec![b'z'; 4096];
    let mut queued = 0usize;
    loop {
        match w.write(&chunk) {
            Ok(n) => queued += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(
            queued < 4 << 20,
            "the FIFO never filled: rlws kept reading while paused"
        );
    }
    assert!(queued >= 4096, "{queued}");
    h.resume_rx();
    assert_eq!(rx_bytes(&rx, queued), vec![b'z'; queued]);
    drop(w);
    assert_eq!(next(&rx), Ev::Closed(RawClosed::PeerClosed));

    // Out: rlws writes into a FIFO when asked from this thread.
    let out = dir.join("out");
    mkfifo(&out);
    let mut r = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&out)
        .unwrap();
    let w = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    let h = ctx.poster().adopt_fd("fifo-out", w.into()).unwrap();
    assert_eq!(next(&wrx), Ev::Adopted);
    assert_eq!(next(&wrx), Ev::Writeable);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while got.len() < 10 && std::time::Instant::now() < deadline {
        let mut b = [0u8; 64];
        match r.read(&mut b) {
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, b"from rlws\n");
    h.request_writeable();
    assert_eq!(next(&wrx), Ev::Writeable);
    h.close();
    assert_eq!(next(&wrx), Ev::Closed(RawClosed::Hangup));

    // A regular file is refused.
    let f = std::fs::File::create(dir.join("plain")).unwrap();
    let err = ctx.poster().adopt_fd("fifo-in", f.into());
    assert!(matches!(err, Err(rlws::AdoptError::Io(_))), "{err:?}");
    ctx.shutdown();
}

fn echo_context() -> (Context, SocketAddr, mpsc::Receiver<Ev>) {
    let (mut echo, rx) = Recorder::new("raw-echo");
    echo.echo = true;
    let ctx = Context::builder()
        .threads(2)
        .raw_protocol(echo)
        .vhost(Vhost::new("echo", any()).raw("raw-echo"))
        .start()
        .unwrap();
    let a = ctx.vhost_addr("echo").unwrap();
    (ctx, a, rx)
}

#[test]
fn raw_echo_listener_driven_by_nc() {
    let (ctx, addr, rx) = echo_context();
    let nc = std::process::Command::new("nc")
        .args(["-N", "127.0.0.1", &addr.port().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut nc = match nc {
        Ok(c) => c,
        Err(e) => panic!(
            "nc not found ({e}): run scripts/install-test-deps.sh (Debian package netcat-openbsd)"
        ),
    };
    let text = "hello\nraw world\n".repeat(1000);
    let mut stdin = nc.stdin.take().unwrap();
    let t = text.clone();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(t.as_bytes()).unwrap();
    });
    let mut echoed = String::new();
    nc.stdout
        .take()
        .unwrap()
        .read_to_string(&mut echoed)
        .unwrap();
    feeder.join().unwrap();
    assert!(nc.wait().unwrap().success());
    assert_eq!(echoed.len(), text.len());
    assert_eq!(echoed, text);
    assert_eq!(next(&rx), Ev::Adopted);
    let mut closed = None;
    while closed.is_none() {
        if let Ev::Closed(why) = next(&rx) {
            closed = Some(why);
        }
    }
    assert_eq!(closed, Some(RawClosed::PeerClosed));
    ctx.shutdown();
}

#[test]
fn raw_client_connections_and_timeouts() {
    let (ctx, addr, _echo_rx) = echo_context();
    let (mut client, rx) = Recorder::new("client");
    client.greeting = Some(b"ping\n");
    let (mut idle, idle_rx) = Recorder::new("idle");
    idle.idle = Some(Duration::from_millis(300));
    let cctx = Context::builder()
        .threads(1)
        .raw_protocol(client)
        .raw_protocol(idle)
        .vhost(Vhost::new("idle", any()).raw("idle"))
        .start()
        .unwrap();
    let h = cctx.poster().raw_connect("client", addr).unwrap();
    assert_eq!(next(&rx), Ev::Adopted);
    assert_eq!(next(&rx), Ev::Writeable);
    assert_eq!(rx_bytes(&rx, 5), b"ping\n");
    h.close();
    assert_eq!(next(&rx), Ev::Closed(RawClosed::Hangup));

    let refusing = common::Refusing::new();
    cctx.poster().raw_connect("client", refusing.addr).unwrap();
    assert_eq!(next(&rx), Ev::ConnectError);
    assert!(matches!(
        cctx.poster().raw_connect("nonesuch", addr),
        Err(rlws::AdoptError::NoSuchProtocol(_))
    ));

    // A raw connection that stays quiet past its deadline is closed, with
    // the reason given.
    let mut quiet = std::net::TcpStream::connect(cctx.vhost_addr("idle").unwrap()).unwrap();
    quiet.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(next(&idle_rx), Ev::Adopted);
    let t0 = std::time::Instant::now();
    assert_eq!(next(&idle_rx), Ev::Closed(RawClosed::Timeout("idle")));
    let mut b = [0u8; 1];
    assert_eq!(quiet.read(&mut b).unwrap(), 0);
    assert!(t0.elapsed() < Duration::from_secs(5));
    cctx.shutdown();
    ctx.shutdown();
}

#[test]
fn raw_proxy_in_front_of_nginx() {
    let ca = common::TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let nginx = rlws_testkit::Nginx::start(&cert, &key, "");
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(nginx.root.join("big.bin"), &body).unwrap();
    let target = SocketAddr::from(([127, 0, 0, 1], nginx.port));
    let ctx = Context::builder()
        .threads(2)
        .raw_proxy(RawProxy::new("to-nginx", target))
        .vhost(Vhost::new("proxy", any()).raw("to-nginx"))
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("proxy").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = rlws::client::HttpClient::new();
        let url = format!("http://{addr}/big.bin");
        // Two requests on one proxied connection, the body whole.
        for _ in 0..2 {
            let r = client.get(&url).await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                r.headers()
                    .get("server")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .split('/')
                    .next(),
                Some("nginx")
            );
            assert_eq!(r.bytes().await.unwrap(), body);
        }
        assert_eq!(client.stats().connections, 1);
        let r = client.get(&format!("http://{addr}/missing")).await.unwrap();
        assert_eq!(r.status(), 404);
    });
    let log = nginx.log_lines(3);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log.iter().all(|l| l.connection == log[0].connection),
        "one connection through the proxy: {log:?}"
    );
    ctx.shutdown();
}
