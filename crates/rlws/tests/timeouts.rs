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
