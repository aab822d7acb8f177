//! Client connections on a Context's service threads, with the same typed
//! protocol callbacks as server connections (lws' client_connect_via_info).

mod common;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use rlws::client::{ClientConfig, ConnectError};
use rlws::{
    Close, ConnId, Cx, DeflateConfig, Handshake, Protocol, ProtocolOptions, Received, ThreadCx,
    Writer,
};
use rlws::{CloseCode, Context, DataKind};

/// What the probe saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Established {
        id: ConnId,
        client: bool,
        deflate: bool,
        accept_header: bool,
    },
    Text(ConnId, String),
    Binary(ConnId, usize, bool),
    Closed(ConnId, Option<u16>),
    Failed(ConnId, String),
}

/// Sends a text message, a 1 MiB binary message (masked from the caller's
/// buffer) and a close, and reports everything.
struct Probe {
    tx: Mutex<mpsc::Sender<Seen>>,
    deflate: bool,
}

struct Session {
    step: u32,
}

impl Probe {
    fn report(&self, s: Seen) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(s);
        }
    }
}

fn big() -> Vec<u8> {
    (0..1_048_576u32).map(|i| (i % 251) as u8).collect()
}

impl Protocol for Probe {
    type Session = Session;
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "probe"
    }

    fn options(&self) -> ProtocolOptions {
        ProtocolOptions {
            max_message: 4 << 20,
            max_frame: 4 << 20,
            deflate: self.deflate.then(DeflateConfig::default),
            ..ProtocolOptions::default()
        }
    }

    fn thread_init(&self, _tsi: rlws::ThreadIndex) {}

    fn established(&self, cx: &mut Cx<'_, Self>, hs: &Handshake<'_>) -> Result<Session, Close> {
        self.report(Seen::Established {
            id: cx.id(),
            client: hs.client,
            deflate: cx.deflate().is_some(),
            accept_header: hs.headers.contains_key("sec-websocket-accept"),
        });
        cx.request_writeable();
        Ok(Session { step: 0 })
    }

    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut Session,
        msg: Received<'_>,
    ) -> Result<(), Close> {
        match msg.kind {
            DataKind::Text => self.report(Seen::Text(
                cx.id(),
                String::from_utf8_lossy(msg.data).into_owned(),
            )),
            DataKind::Binary => {
                self.report(Seen::Binary(cx.id(), msg.data.len(), msg.data == big()))
            }
        }
        cx.request_writeable();
        let _ = s;
        Ok(())
    }

    fn writeable(
        &self,
        _cx: &mut Cx<'_, Self>,
        s: &mut Session,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        s.step += 1;
        match s.step {
            1 => {
                let _ = w.text("hello from a service thread");
            }
            2 => {
                let _ = w.binary(&big());
            }
            3 => return Err(Close::new(4001, "done")),
            _ => {}
        }
        Ok(())
    }

    fn closed(&self, cx: &mut Cx<'_, Self>, _s: Session, code: Option<CloseCode>) {
        self.report(Seen::Closed(cx.id(), code.map(|c| c.0)));
    }

    fn client_connection_error(&self, _cx: &mut ThreadCx<'_, Self>, id: ConnId, e: &ConnectError) {
        let kind = match e {
            ConnectError::Refused => "refused".to_string(),
            ConnectError::Timeout => "timeout".to_string(),
            ConnectError::Status(s) => format!("status {s}"),
            ConnectError::Tls(_) => "tls".to_string(),
            other => format!("{other:?}"),
        };
        self.report(Seen::Failed(id, kind));
    }
}

fn client_ctx(deflate: bool) -> (Context, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let ctx = Context::builder()
        .threads(2)
        .protocol(Probe {
            tx: Mutex::new(tx),
            deflate,
        })
        .start()
        .expect("client context starts");
    (ctx, rx)
}

fn next(rx: &mpsc::Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a callback within 10 s")
}

#[test]
fn typed_client_talks_to_echo_with_and_without_deflate() {
    let (_server, addr) = start(1);
    // Over HTTP/1.1 with and without compression, and as a stream of an
    // HTTP/2 connection (RFC 8441: no Sec-WebSocket-Accept there).
    for (deflate, http2) in [(true, false), (false, false), (true, true)] {
        let (ctx, rx) = client_ctx(deflate);
        let mut cfg = ClientConfig::new(&format!("ws://{addr}/echo")).unwrap();
        cfg.http2 = http2;
        let h = ctx.connect("probe", cfg).unwrap();
        assert!(h.tsi.get() < 2);
        assert_eq!(
            next(&rx),
            Seen::Established {
                id: h.id,
                client: true,
                deflate,
                accept_header: !http2
            }
        );
        assert_eq!(
            next(&rx),
            Seen::Text(h.id, "hello from a service thread".into())
        );
        assert_eq!(next(&rx), Seen::Binary(h.id, 1_048_576, true));
        // Our close (4001) is echoed by the server.
        assert_eq!(next(&rx), Seen::Closed(h.id, Some(4001)));
    }
}

#[test]
fn typed_client_reports_why_it_could_not_connect() {
    let (server, addr) = start(1);
    let (ctx, rx) = client_ctx(true);
    let nobody = Refusing::new();
    let dead = nobody.addr;
    let h = ctx
        .connect(
            "probe",
            ClientConfig::new(&format!("ws://{dead}/")).unwrap(),
        )
        .unwrap();
    assert_eq!(next(&rx), Seen::Failed(h.id, "refused".into()));

    // A subprotocol the server does not have: HTTP 400.
    let cfg = ClientConfig::new(&format!("ws://{addr}/"))
        .unwrap()
        .subprotocol("no-such-protocol");
    let h = ctx.connect("probe", cfg).unwrap();
    assert_eq!(next(&rx), Seen::Failed(h.id, "status 400".into()));

    // A server that accepts but never answers: the connect timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = ClientConfig::new(&format!("ws://{}/", silent.local_addr().unwrap())).unwrap();
    cfg.connect_timeout = Duration::from_millis(300);
    let h = ctx.connect("probe", cfg).unwrap();
    assert_eq!(next(&rx), Seen::Failed(h.id, "timeout".into()));

    // wss:// to a plain port fails in TLS.
    let mut cfg = ClientConfig::new(&format!("wss://{addr}/echo")).unwrap();
    cfg.tls.insecure = true;
    let h = ctx.connect("probe", cfg).unwrap();
    assert_eq!(next(&rx), Seen::Failed(h.id, "tls".into()));

    assert_eq!(
        ctx.connect("nope", ClientConfig::new("ws://127.0.0.1/").unwrap()),
        Err(rlws::ClientStartError::NoSuchProtocol)
    );
    // Failed connections are not left counted on their threads (the count
    // drops when the failed connection's task ends, just after the callback).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ctx.live_per_thread().iter().sum::<usize>() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "still counted: {:?}",
            ctx.live_per_thread()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server);
}

#[test]
fn typed_client_over_wss() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_server, backend) = start(1);
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    let tls = rt.block_on(tls_proxy(&cert, &key, backend));
    let (ctx, rx) = client_ctx(true);
    let mut cfg = ClientConfig::new(&format!("wss://127.0.0.1:{}/echo", tls.port())).unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    let h = ctx.connect("probe", cfg).unwrap();
    assert_eq!(
        next(&rx),
        Seen::Established {
            id: h.id,
            client: true,
            deflate: true,
            accept_header: true
        }
    );
    assert_eq!(
        next(&rx),
        Seen::Text(h.id, "hello from a service thread".into())
    );
    assert_eq!(next(&rx), Seen::Binary(h.id, 1_048_576, true));
    assert_eq!(next(&rx), Seen::Closed(h.id, Some(4001)));

    drop(ctx);
}

/// Reports established (as `None`) and the peer's close code, on either side.
struct Rec(Mutex<mpsc::Sender<Option<u16>>>);

impl Protocol for Rec {
    type Session = ();
    type ThreadState = ();
    type Event = ();
    fn name(&self) -> &str {
        "rec"
    }
    fn thread_init(&self, _tsi: rlws::ThreadIndex) {}
    fn established(&self, _cx: &mut Cx<'_, Self>, _hs: &Handshake<'_>) -> Result<(), Close> {
        if let Ok(t) = self.0.lock() {
            let _ = t.send(None);
        }
        Ok(())
    }
    fn receive(&self, _: &mut Cx<'_, Self>, _: &mut (), _: Received<'_>) -> Result<(), Close> {
        Ok(())
    }
    fn closed(&self, _cx: &mut Cx<'_, Self>, _s: (), code: Option<CloseCode>) {
        if let Ok(t) = self.0.lock() {
            let _ = t.send(Some(code.map_or(0, |c| c.0)));
        }
    }
}

#[test]
fn shutdown_closes_client_connections_with_1001() {
    let (stx, srx) = mpsc::channel();
    let (_server, addr) = start_with(Context::builder().threads(1).protocol(Rec(Mutex::new(stx))));
    let (ctx, crx) = {
        let (tx, rx) = mpsc::channel();
        let ctx = Context::builder()
            .threads(1)
            .protocol(Rec(Mutex::new(tx)))
            .start()
            .unwrap();
        (ctx, rx)
    };
    ctx.connect("rec", ClientConfig::new(&format!("ws://{addr}/")).unwrap())
        .unwrap();
    let wait = |rx: &mpsc::Receiver<Option<u16>>| rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(wait(&crx), None, "client established");
    assert_eq!(wait(&srx), None, "server established");
    ctx.shutdown();
    assert_eq!(wait(&srx), Some(1001), "the server saw the client go away");
    // The client side got the server's answer to its close.
    assert_eq!(wait(&crx), Some(1001));
}

/// Reports each attempt of a nailed-up connection with its time.
struct Nailed(Mutex<mpsc::Sender<(std::time::Instant, &'static str)>>);

impl Nailed {
    fn report(&self, what: &'static str) {
        if let Ok(t) = self.0.lock() {
            let _ = t.send((std::time::Instant::now(), what));
        }
    }
}

impl Protocol for Nailed {
    type Session = ();
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "nailed"
    }
    fn thread_init(&self, _tsi: rlws::ThreadIndex) {}
    fn established(&self, _: &mut Cx<'_, Self>, _: &Handshake<'_>) -> Result<(), Close> {
        self.report("up");
        Ok(())
    }
    fn receive(&self, _: &mut Cx<'_, Self>, _: &mut (), m: Received<'_>) -> Result<(), Close> {
        // "bye" from the server: the protocol ends the connection itself.
        if m.data == b"bye" {
            return Err(Close::new(1000, "done"));
        }
        Ok(())
    }
    fn closed(&self, _: &mut Cx<'_, Self>, _: (), _: Option<CloseCode>) {
        self.report("closed");
    }
    fn client_connection_error(&self, _: &mut ThreadCx<'_, Self>, _: ConnId, _: &ConnectError) {
        self.report("refused");
    }
}

/// A one-thread context with the `nailed` protocol, and what it reports.
fn nailed_context() -> (Context, mpsc::Receiver<(std::time::Instant, &'static str)>) {
    let (tx, rx) = mpsc::channel();
    let ctx = Context::builder()
        .threads(1)
        .protocol(Nailed(Mutex::new(tx)))
        .start()
        .unwrap();
    (ctx, rx)
}

/// A nailed-up client against a port that refuses twice, then accepts one
/// connection (and closes it), then refuses again: the attempts come at
/// the policy's delays within its jitter, the count restarts after the
/// connection was up, and it stops after the conceal count.
#[test]
fn nailed_up_client_reconnects_at_the_policy_delays_and_gives_up() {
    let ms = Duration::from_millis;
    let (ctx, rx) = nailed_context();
    let refusing = Refusing::new();
    let addr = refusing.addr;
    let mut cfg = ClientConfig::new(&format!("ws://{addr}/")).unwrap();
    cfg.retry = Some(
        rlws::RetryPolicy::new(&[ms(300), ms(600)])
            .jitter(20)
            .conceal(3),
    );
    ctx.connect("nailed", cfg).unwrap();
    let next = |what: &str| {
        let (t, w) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(w, what);
        t
    };
    // Slack for connecting and scheduling on top of the jittered delay.
    let within = |gap: Duration, lo: u64, hi: u64| {
        assert!(
            gap >= ms(lo) && gap <= ms(hi) + ms(150),
            "{gap:?} not in {lo}..{hi} ms"
        );
    };
    let e1 = next("refused");
    let e2 = next("refused");
    within(e2 - e1, 300, 360);
    // Accept one connection, close it, then refuse again.
    let listener = refusing.listen();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        drop(listener);
        let mut ws = tokio_tungstenite::tungstenite::accept(s).unwrap();
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    });
    let up = next("up");
    within(up - e2, 600, 720);
    let closed = next("closed");
    server.join().unwrap();
    // The count restarts: 300, then 600, 600 (the last entry repeats),
    // then the conceal count (3) is reached and it gives up.
    let f1 = next("refused");
    within(f1 - closed, 300, 360);
    let f2 = next("refused");
    within(f2 - f1, 600, 720);
    let f3 = next("refused");
    within(f3 - f2, 600, 720);
    assert!(
        rx.recv_timeout(ms(1500)).is_err(),
        "another attempt after the conceal count"
    );
    ctx.shutdown();
}

/// A nailed-up connection that its own protocol closes stays closed.
#[test]
fn a_nailed_up_client_closed_by_its_protocol_is_not_reopened() {
    let ms = Duration::from_millis;
    let (ctx, rx) = nailed_context();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = ClientConfig::new(&format!("ws://{addr}/")).unwrap();
    cfg.retry = Some(rlws::RetryPolicy::new(&[ms(100)]));
    ctx.connect("nailed", cfg).unwrap();
    let (s, _) = listener.accept().unwrap();
    let mut ws = tokio_tungstenite::tungstenite::accept(s).unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text("bye"))
        .unwrap();
    let up = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(up.1, "up");
    // Its close reaches the server, which answers it.
    loop {
        match ws.read() {
            Ok(tokio_tungstenite::tungstenite::Message::Close(f)) => {
                assert_eq!(f.map(|f| u16::from(f.code)), Some(1000));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let _ = ws.flush();
    let closed = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(closed.1, "closed");
    // No new attempt at the policy's 100 ms (or ten times that).
    listener.set_nonblocking(true).unwrap();
    assert!(
        rx.recv_timeout(ms(1000)).is_err(),
        "reopened after its protocol closed it"
    );
    assert!(listener.accept().is_err(), "a new connection came in");
    ctx.shutdown();
}
