//! Per-connection timeouts (lws' `lws_set_timeout`): a deadline with a
//! reason that closes the connection when it passes, extended or
//! cancelled by the protocol.

mod common;

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rlws::client::{connect, ClientConfig, Message};
use rlws::{Close, CloseCode, Cx, Handshake, Protocol, Received};

/// Must hear "hello" within 600 ms; "more" gives it another 600 ms.
struct Hello {
    closed: Mutex<mpsc::Sender<Instant>>,
}

impl Protocol for Hello {
    type Session = ();
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "hello"
    }

    fn established(&self, cx: &mut Cx<'_, Self>, _: &Handshake<'_>) -> Result<(), Close> {
        cx.set_timeout("no hello", Duration::from_millis(600));
        Ok(())
    }

    fn receive(&self, cx: &mut Cx<'_, Self>, _: &mut (), m: Received<'_>) -> Result<(), Close> {
        match m.data {
            b"hello" => cx.cancel_timeout(),
            b"more" => cx.set_timeout("no hello after more", Duration::from_millis(600)),
            _ => {}
        }
        Ok(())
    }

    fn closed(&self, _: &mut Cx<'_, Self>, _: (), _: Option<CloseCode>) {
        let _ = self.closed.lock().unwrap().send(Instant::now());
    }
}

#[tokio::test]
async fn a_deadline_closes_the_connection_unless_extended_or_cancelled() {
    let (tx, rx) = mpsc::channel();
    let (_ctx, addr) = common::start_with(rlws::Context::builder().threads(1).protocol(Hello {
        closed: Mutex::new(tx),
    }));
    let url = format!("ws://{addr}/");
    let cfg = || ClientConfig::new(&url).unwrap().subprotocol("hello");

    // Silent: closed at the deadline, without a close handshake.
    let t0 = Instant::now();
    let mut ws = connect(cfg()).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .expect("closed by the server");
    assert!(!matches!(r, Some(Ok(Message::Text(_)))), "{r:?}");
    let closed = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let after = closed - t0;
    assert!(
        after >= Duration::from_millis(600) && after < Duration::from_secs(4),
        "{after:?}"
    );

    // Extended once, then cancelled: still open well past both deadlines.
    let mut ws = connect(cfg()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(Message::Text("more".into())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // 700 ms after connecting: past the first deadline, within the second.
    ws.send(Message::Text("hello".into())).await.unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(1000)).is_err(),
        "cancelled: still open"
    );
    ws.close(1000, "bye").await.unwrap();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("closed by the client");
}

/// An origin that gives the connection a deadline, then: `stall` never
/// answers; `rescue` cancels it and answers late; `extend` sets it again
/// before it passes and answers within the new one.
#[derive(Debug)]
struct Deadlines;

impl rlws::Origin for Deadlines {
    fn serve<'a>(
        &'a self,
        req: rlws::OriginRequest<'a>,
    ) -> rlws::BoxFuture<'a, http::Response<rlws::Body>> {
        Box::pin(async move {
            let ms = Duration::from_millis;
            req.set_timeout("slow origin", ms(300));
            match req.path_in_mount() {
                "/stall" => std::future::pending::<()>().await,
                "/rescue" => {
                    req.cancel_timeout();
                    tokio::time::sleep(ms(500)).await;
                }
                _ => {
                    tokio::time::sleep(ms(200)).await;
                    req.connection_timeout().set("slow origin", ms(400));
                    tokio::time::sleep(ms(300)).await;
                }
            }
            rlws::text(http::StatusCode::OK, "in time")
        })
    }
}

/// HTTP connections get deadlines from their origins: the connection
/// closes when one passes (no answer), and not when it was cancelled or
/// extended in time.
#[test]
fn http_connections_close_at_their_deadline() {
    let ctx = rlws::Context::builder()
        .threads(1)
        .listen("127.0.0.1:0".parse().unwrap())
        .site(Deadlines)
        .start()
        .unwrap();
    let addr = ctx.local_addrs()[0];
    let ask = |path: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let t0 = Instant::now();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        (resp, t0.elapsed())
    };
    let (resp, took) = ask("/stall");
    assert_eq!(resp, "", "closed without an answer");
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let (resp, took) = ask("/rescue");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(took >= Duration::from_millis(490), "{took:?}");
    let (resp, took) = ask("/extend");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(took >= Duration::from_millis(490), "{took:?}");
    ctx.shutdown();
}
