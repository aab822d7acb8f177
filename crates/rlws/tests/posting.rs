//! A protocol written outside the crate, fed by events posted from another
//! thread through the context's `Poster` (lws' cancel-service wake-up).

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use rlws::{Close, Context, Cx, Handshake, Protocol, Received, ThreadCx, Writer};

/// Sends every posted announcement to every connection on the thread.
struct Announce;

#[derive(Default)]
struct Board {
    messages: Vec<String>,
}

struct Reader {
    seen: usize,
}

impl Protocol for Announce {
    type Session = Reader;
    type ThreadState = Board;
    type Event = String;

    fn name(&self) -> &str {
        "announce"
    }

    fn thread_init(&self, _tsi: rlws::ThreadIndex) -> Board {
        Board::default()
    }

    fn established(&self, cx: &mut Cx<'_, Self>, _hs: &Handshake<'_>) -> Result<Reader, Close> {
        Ok(Reader {
            seen: cx.thread_state().messages.len(),
        })
    }

    fn receive(
        &self,
        _cx: &mut Cx<'_, Self>,
        _s: &mut Reader,
        _m: Received<'_>,
    ) -> Result<(), Close> {
        Err(Close::new(1008, "read-only"))
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut Reader,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let board = cx.thread_state();
        while s.seen < board.messages.len() {
            if w.text(&board.messages[s.seen]).is_err() {
                cx.request_writeable();
                break;
            }
            s.seen += 1;
        }
        Ok(())
    }

    fn event(&self, cx: &mut ThreadCx<'_, Self>, ev: String) {
        let tsi = cx.tsi();
        cx.thread_state()
            .messages
            .push(format!("{ev} (thread {tsi})"));
        cx.request_writeable_all();
    }
}

#[tokio::test]
async fn events_posted_from_outside_reach_every_thread() {
    let ctx = Context::builder()
        .threads(2)
        .protocol(Announce)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap();
    let addr = ctx.local_addrs()[0];
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{addr}/"),
            )
            .unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", "announce".parse().unwrap());
        clients.push(tokio_tungstenite::connect_async(req).await.unwrap().0);
    }
    assert_eq!(ctx.live_per_thread(), vec![2, 2]);
    let poster = ctx.poster();
    std::thread::spawn(move || {
        for tsi in 0..poster.thread_count() {
            assert!(poster.post(tsi.into(), "announce", String::from("hello")));
        }
        assert!(!poster.post(
            rlws::ThreadIndex::new(0),
            "no-such-protocol",
            String::from("x")
        ));
        assert!(!poster.post(rlws::ThreadIndex::new(9), "announce", String::from("x")));
    })
    .join()
    .unwrap();
    let mut threads_seen = Vec::new();
    for c in clients.iter_mut() {
        let m = tokio::time::timeout(Duration::from_secs(5), c.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let t = m.into_text().unwrap().to_string();
        assert!(t.starts_with("hello (thread "), "{t}");
        threads_seen.push(t);
    }
    threads_seen.sort();
    threads_seen.dedup();
    assert_eq!(
        threads_seen.len(),
        2,
        "both threads delivered: {threads_seen:?}"
    );
    // A message to a read-only protocol is refused with the protocol's close code.
    use futures_util::SinkExt;
    clients[0]
        .send(tokio_tungstenite::tungstenite::Message::text("hi"))
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), clients[0].next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match m {
        tokio_tungstenite::tungstenite::Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 1008)
        }
        m => panic!("unexpected {m:?}"),
    }
}
