//! WebSocket server behaviour over real sockets on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

async fn tt_connect(
    addr: std::net::SocketAddr,
    path: &str,
    proto: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(p) = proto {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, resp) = tokio_tungstenite::connect_async_with_config(req, Some(cfg), false)
        .await
        .unwrap();
    if let Some(p) = proto {
        assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), p);
    }
    ws
}

async fn next_msg<S>(ws: &mut S) -> Message
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("timeout")
        .expect("stream ended")
        .expect("ws error")
}

#[tokio::test]
async fn echo_text_binary_empty_and_large() {
    let (_ctx, addr) = start(2);
    let mut ws = tt_connect(addr, "/echo", None).await;
    for m in [
        Message::text("hello"),
        Message::text("κόσμε 𝄞"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text(""),
        Message::binary(vec![]),
        Message::binary(vec![7u8; 70_000]),
    ] {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(next_msg(&mut ws).await, m);
    }
    // 16 MiB, the conformance limit of /echo.
    let big: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 253) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    match next_msg(&mut ws).await {
        Message::Binary(b) => assert!(b[..] == big[..], "16 MiB echo differs"),
        other => panic!("unexpected {other:?}"),
    }
    ws.close(Some(CloseFrame {
        code: TCode::Normal,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    // The server answers the close with the same code, then the stream ends.
    let mut reply = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(f))) => reply = Some(f.map(|f| f.code)),
            Some(Ok(m)) => panic!("unexpected {m:?} after our close"),
            None | Some(Err(_)) => break,
        }
    }
    assert_eq!(reply, Some(Some(TCode::Normal)), "a close reply with 1000");
}

#[tokio::test]
async fn tungstenite_fragments_and_ping_pong() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let (_ctx, addr) = start(1);
    let mut ws = tt_connect(addr, "/echo", None).await;
    ws.send(Message::Frame(Frame::message(
        "Hello, ",
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Ping("p1".into())).await.unwrap();
    ws.send(Message::Frame(Frame::message(
        "wörld",
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(next_msg(&mut ws).await, Message::Pong("p1".into()));
    assert_eq!(next_msg(&mut ws).await, Message::text("Hello, wörld"));
    // A close with an application code is answered with the same code.
    ws.send(Message::Close(Some(CloseFrame {
        code: TCode::from(4321),
        reason: "app".into(),
    })))
    .await
    .unwrap();
    match next_msg(&mut ws).await {
        Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4321),
        m => panic!("unexpected {m:?}"),
    }
}

#[tokio::test]
async fn pipelined_messages_come_back_in_order() {
    let (_ctx, addr) = start(1);
    let mut ws = tt_connect(addr, "/", Some("rlws-echo")).await;
    for i in 0..1000 {
        ws.feed(Message::text(format!("m{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..1000 {
        assert_eq!(next_msg(&mut ws).await, Message::text(format!("m{i}")));
    }
}

#[tokio::test]
async fn a_backlog_past_the_echo_high_water_comes_back_whole_and_in_order() {
    let (_ctx, addr) = start(1);
    // A small receive buffer: the server's writes block soon, so what it
    // echoes waits in the protocol's backlog.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/").into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "rlws-echo".parse().unwrap());
    let (ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    // 6 MB of 3 KiB messages, text and binary in turn: the echo pauses
    // reading with 256 messages waiting, and resumes as they go out.
    const N: usize = 2000;
    let msg = |i: usize| -> Message {
        let body: String = format!("{i:06}").repeat(512);
        if i % 2 == 0 {
            Message::text(body)
        } else {
            Message::binary(body.into_bytes())
        }
    };
    let (progress, mut written) = tokio::sync::watch::channel(0usize);
    let writer = tokio::spawn(async move {
        for i in 0..N {
            tx.send(msg(i)).await.unwrap();
            progress.send_replace(i + 1);
        }
        tx
    });
    // The server takes at least its 1 MiB backlog before it pauses, so the
    // writer gets this far without anyone reading.
    tokio::time::timeout(
        Duration::from_secs(20),
        written.wait_for(|n| *n * 3072 >= 1 << 20),
    )
    .await
    .expect("1 MiB written within 20 s")
    .unwrap();
    for i in 0..N {
        let got = tokio::time::timeout(Duration::from_secs(20), rx.next())
            .await
            .unwrap_or_else(|_| panic!("echo {i} within 20 s"))
            .unwrap()
            .unwrap();
        assert!(got == msg(i), "echo {i} differs");
    }
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn fragmented_message_with_interleaved_ping() {
    let (_ctx, addr) = start(1);
    let mut c = raw_connect(addr, "/echo", None).await;
    c.send(&frame(1, false, b"frag")).await;
    c.send(&frame(9, true, b"ping!")).await;
    c.send(&frame(0, false, b"men")).await;
    c.send(&frame(0, true, "téd".as_bytes())).await;
    let (op, p) = c.frame().await.unwrap();
    assert_eq!(
        (op, p.as_slice()),
        (0xA, b"ping!".as_slice()),
        "pong with the ping's payload first"
    );
    let (op, p) = c.frame().await.unwrap();
    assert_eq!(op, 1);
    assert_eq!(p, "fragmentéd".as_bytes());
}

#[tokio::test]
async fn answer_requested_before_the_peer_closes_goes_out_before_the_close_reply() {
    let (_ctx, addr) = start(1);
    for _ in 0..20 {
        let mut c = raw_connect(addr, "/echo", None).await;
        // The message and the close arrive in one segment, so they are parsed
        // in one go: the echo asked for by the first must still precede the
        // close reply.
        let mut both = frame(1, true, b"last words");
        both.extend_from_slice(&frame(8, true, &1000u16.to_be_bytes()));
        c.send(&both).await;
        let (op, p) = c.frame().await.unwrap();
        assert_eq!((op, p.as_slice()), (1, b"last words".as_slice()));
        assert_eq!(c.close_code().await, Some(1000));
        c.expect_eof().await;
    }
}

#[tokio::test]
async fn close_codes_are_echoed() {
    let (_ctx, addr) = start(1);
    for code in [1000u16, 1001, 3000, 4000, 4999] {
        let mut c = raw_connect(addr, "/echo", None).await;
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(b"reason");
        c.send(&frame(8, true, &p)).await;
        assert_eq!(c.close_code().await, Some(code));
        c.expect_eof().await;
    }
    // An empty close frame is answered with an empty one.
    let mut c = raw_connect(addr, "/echo", None).await;
    c.send(&frame(8, true, b"")).await;
    assert_eq!(c.close_code().await, Some(1005));
}

#[tokio::test]
async fn bad_input_gets_the_right_close_code_and_others_keep_working() {
    let (_ctx, addr) = start(2);
    let mut bystander = tt_connect(addr, "/echo", None).await;
    let mut unmasked = Vec::new();
    rlws_ws::frame::encode_frame(
        &mut unmasked,
        rlws_ws::OpCode::Text,
        true,
        false,
        b"hi",
        None,
    );
    let mut rsv = frame(1, true, b"hi");
    rsv[0] |= 0x20;
    // Declare 17 MiB but send only the header.
    let huge = vec![0x82, 0xFF, 0, 0, 0, 0, 0x01, 0x10, 0, 0, 1, 2, 3, 4];
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, 1002),
        ("bad utf-8", frame(1, true, &[0xC0, 0xAF]), 1007),
        (
            "bad utf-8 in a fragment",
            frame(1, false, &[b'a', 0xED, 0xA0, 0x80]),
            1007,
        ),
        ("rsv2", rsv, 1002),
        ("reserved opcode", frame(3, true, b"x"), 1002),
        ("long ping", frame(9, true, &[0u8; 126]), 1002),
        ("fragmented ping", frame(9, false, b"x"), 1002),
        ("orphan continuation", frame(0, true, b"x"), 1002),
        ("close 999", frame(8, true, &999u16.to_be_bytes()), 1002),
        ("close 1-byte", frame(8, true, &[3]), 1002),
        (
            "close bad utf-8 reason",
            frame(8, true, &[3, 232, 0xFF]),
            1007,
        ),
        ("17 MiB frame", huge, 1009),
    ];
    for (name, bytes, want) in cases {
        let mut c = raw_connect(addr, "/echo", None).await;
        c.send(&bytes).await;
        assert_eq!(c.close_code().await, Some(want), "{name}");
        c.expect_eof().await;
        bystander.send(Message::text(name)).await.unwrap();
        assert_eq!(next_msg(&mut bystander).await, Message::text(name));
    }
}

#[tokio::test]
async fn message_over_protocol_limit_is_1009() {
    let (_ctx, addr) = start(1);
    // The mirror protocol accepts 64 KiB messages: send 40 + 40 KiB fragments.
    let mut c = raw_connect(addr, "/", Some("lws-mirror-protocol")).await;
    c.send(&frame(1, false, &[b'a'; 40 * 1024])).await;
    c.send(&frame(0, true, &[b'a'; 40 * 1024])).await;
    assert_eq!(c.close_code().await, Some(1009));
}

#[tokio::test]
async fn dumb_increment_counts_and_resets() {
    let (_ctx, addr) = start(1);
    let mut ws = tt_connect(addr, "/", Some("dumb-increment-protocol")).await;
    let mut last = None;
    for _ in 0..5 {
        let n: u64 = next_msg(&mut ws)
            .await
            .into_text()
            .unwrap()
            .parse()
            .unwrap();
        if let Some(l) = last {
            assert_eq!(n, l + 1);
        }
        last = Some(n);
    }
    ws.send(Message::text("reset\n")).await.unwrap();
    // After the reset the count restarts from zero.
    let mut seen_zero = false;
    for _ in 0..10 {
        let n: u64 = next_msg(&mut ws)
            .await
            .into_text()
            .unwrap()
            .parse()
            .unwrap();
        if n == 0 {
            seen_zero = true;
            break;
        }
    }
    assert!(seen_zero, "counter did not reset");
    ws.send(Message::text("closeme\n")).await.unwrap();
    loop {
        match next_msg(&mut ws).await {
            Message::Close(Some(f)) => {
                assert_eq!(u16::from(f.code), 1001);
                break;
            }
            Message::Text(_) => {}
            m => panic!("unexpected {m:?}"),
        }
    }
}

#[tokio::test]
async fn mirror_broadcasts_across_threads() {
    let (ctx, addr) = start(3);
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(tt_connect(addr, "/", Some("lws-mirror-protocol")).await);
    }
    // Least-loaded placement spreads the six connections over the three threads.
    let live = ctx.live_per_thread();
    assert_eq!(live, vec![2, 2, 2], "placement {live:?}");
    for i in 0..20 {
        let m = format!("c #ff0000 {i} {i} 5;");
        clients[i % 6].send(Message::text(m)).await.unwrap();
    }
    for c in clients.iter_mut() {
        let mut got = Vec::new();
        for _ in 0..20 {
            got.push(next_msg(c).await.into_text().unwrap().to_string());
        }
        got.sort();
        let mut want: Vec<String> = (0..20).map(|i| format!("c #ff0000 {i} {i} 5;")).collect();
        want.sort();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn mirror_instances_named_by_the_query_are_kept_apart_across_threads() {
    let (_ctx, addr) = start(2);
    // Two of "one" and one of "two", spread over both threads; and the
    // default instance.
    let mut one_a = tt_connect(addr, "/?mirror=one", Some("lws-mirror-protocol")).await;
    let mut two = tt_connect(addr, "/?mirror=two", Some("lws-mirror-protocol")).await;
    let mut one_b = tt_connect(addr, "/?x=1&mirror=one", Some("lws-mirror-protocol")).await;
    let mut default = tt_connect(addr, "/", Some("lws-mirror-protocol")).await;
    one_a.send(Message::text("to one")).await.unwrap();
    two.send(Message::text("to two")).await.unwrap();
    default.send(Message::text("to the default")).await.unwrap();
    assert_eq!(
        next_msg(&mut one_a).await.into_text().unwrap().as_str(),
        "to one"
    );
    assert_eq!(
        next_msg(&mut one_b).await.into_text().unwrap().as_str(),
        "to one"
    );
    // Each of the others sees its own instance's message first and only.
    assert_eq!(
        next_msg(&mut two).await.into_text().unwrap().as_str(),
        "to two"
    );
    assert_eq!(
        next_msg(&mut default).await.into_text().unwrap().as_str(),
        "to the default"
    );
    // A later message to "one" is again all "one" sees next.
    one_b.send(Message::text("again one")).await.unwrap();
    assert_eq!(
        next_msg(&mut one_a).await.into_text().unwrap().as_str(),
        "again one"
    );
    two.send(Message::text("again two")).await.unwrap();
    assert_eq!(
        next_msg(&mut two).await.into_text().unwrap().as_str(),
        "again two"
    );
    assert_eq!(
        next_msg(&mut one_b).await.into_text().unwrap().as_str(),
        "again one"
    );
}

/// The next status document whose connection list satisfies `want`.
async fn status_until(
    st: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    want: impl Fn(&[serde_json::Value]) -> bool,
) -> serde_json::Value {
    for _ in 0..10 {
        let t = next_msg(st).await.into_text().unwrap().to_string();
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if want(v["connections"].as_array().unwrap()) {
            return v;
        }
    }
    panic!("status never showed the expected connections");
}

#[tokio::test]
async fn status_lists_connections() {
    let (_ctx, addr) = start(2);
    let mut req = format!("ws://{addr}/echo?x=1")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("user-agent", "status-test/1.0 (x)".parse().unwrap());
    let (echo, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let d = tt_connect(addr, "/", Some("dumb-increment-protocol")).await;
    let mut st = tt_connect(addr, "/", Some("lws-status")).await;
    let has = |cs: &[serde_json::Value], p: &str| cs.iter().any(|c| c["protocol"] == p);
    let v = status_until(&mut st, |cs| {
        has(cs, "dumb-increment-protocol") && has(cs, "lws-status") && has(cs, "rlws-echo")
    })
    .await;
    assert_eq!(v["threads"], 2);
    let cs = v["connections"].as_array().unwrap();
    assert_eq!(cs.len(), 3, "{v}");
    let e = cs.iter().find(|c| c["protocol"] == "rlws-echo").unwrap();
    assert_eq!(e["path"], "/echo");
    assert_eq!(e["ua"], "status-test/1.0 (x)");
    assert!(e["tsi"].as_u64().unwrap() < 2);
    assert!(e["since_ms"].as_u64().unwrap() > 1_600_000_000_000);
    let dumb = cs
        .iter()
        .find(|c| c["protocol"] == "dumb-increment-protocol")
        .unwrap();
    assert_eq!(dumb["path"], "/");
    assert!(dumb["ua"].is_null());
    // Listed in the order they were opened.
    let ids: Vec<u64> = cs.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    // Closed connections leave the list; their slots are reused.
    drop(echo);
    drop(d);
    status_until(&mut st, |cs| cs.len() == 1 && has(cs, "lws-status")).await;
    let _again = tt_connect(addr, "/echo", None).await;
    let v = status_until(&mut st, |cs| cs.len() == 2 && has(cs, "rlws-echo")).await;
    assert!(v["connections"][1]["ua"].is_null(), "{v}");
}

#[tokio::test]
async fn slow_reader_is_back_pressured_and_others_keep_working() {
    let (ctx, addr) = start(1);
    // A client that sends a lot and never reads: the server must stop
    // reading from it (RX flow control) instead of buffering without bound.
    let mut slow = raw_connect(addr, "/echo", None).await;
    let chunk = frame(2, true, &vec![1u8; 64 * 1024]);
    let mut sent = 0usize;
    let send_all = async {
        loop {
            match tokio::time::timeout(
                Duration::from_millis(500),
                slow.s.write_all_buf(&mut &chunk[..]),
            )
            .await
            {
                Ok(Ok(())) => sent += chunk.len(),
                _ => break,
            }
            if sent > 512 << 20 {
                break;
            }
        }
    };
    use tokio::io::AsyncWriteExt;
    send_all.await;
    assert!(
        sent < 256 << 20,
        "server kept reading {sent} bytes from a client that never reads"
    );
    // Another connection on the same thread still gets service.
    let mut other = tt_connect(addr, "/echo", None).await;
    other.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_msg(&mut other).await, Message::text("still here"));
    assert_eq!(ctx.live_per_thread().iter().sum::<usize>(), 2);
}

#[tokio::test]
async fn connection_flood_past_the_cap_gets_503() {
    let (ctx, addr) = start_with(rlws::test_site().threads(2).fd_limit_per_thread(5));
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(tt_connect(addr, "/echo", None).await);
    }
    let mut refused = 0;
    for _ in 0..20 {
        let r = http_raw(
            addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if r.starts_with("HTTP/1.1 503") {
            refused += 1;
        }
    }
    assert_eq!(refused, 20);
    assert_eq!(ctx.refused(), 20);
    for ws in held.iter_mut() {
        ws.send(Message::text("ok")).await.unwrap();
        assert_eq!(next_msg(ws).await, Message::text("ok"));
    }
    // Freeing a connection makes room again.
    let mut one = held.pop().unwrap();
    one.close(None).await.unwrap();
    while let Some(Ok(_)) = one.next().await {}
    drop(one);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ctx.live_per_thread().iter().sum::<usize>() >= 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was not freed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test]
async fn shutdown_closes_websockets_with_1001() {
    let (ctx, addr) = start(2);
    let mut a = raw_connect(addr, "/echo", None).await;
    let mut b = raw_connect(addr, "/", Some("dumb-increment-protocol")).await;
    let h = std::thread::spawn(move || ctx.shutdown());
    assert_eq!(a.close_code().await, Some(1001));
    assert_eq!(b.close_code().await, Some(1001));
    a.send(&frame(8, true, &1001u16.to_be_bytes())).await;
    b.send(&frame(8, true, &1001u16.to_be_bytes())).await;
    h.join().unwrap();
}

#[tokio::test]
async fn idle_connection_is_pinged_and_hung_up_without_pong() {
    let (_ctx, addr) = start_with(
        rlws::test_site()
            .threads(1)
            .ws_keepalive(Duration::from_secs(1), Duration::from_secs(1)),
    );
    let mut c = raw_connect(addr, "/echo", None).await;
    let (op, _) = c.frame().await.expect("a ping");
    assert_eq!(op, 9);
    // Answer one ping: the connection stays.
    c.send(&frame(0xA, true, b"rlws")).await;
    let (op, _) = c.frame().await.expect("a second ping after more idle time");
    assert_eq!(op, 9);
    // Ignore it: the server hangs up.
    c.expect_eof().await;
}

#[tokio::test]
async fn handshake_errors() {
    let (_ctx, addr) = start(1);
    let r = http_raw(addr, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 426"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("sec-websocket-version: 13"),
        "{r}"
    );
    let r = http_raw(addr, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = http_raw(addr, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: nope\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}

#[tokio::test]
async fn a_retry_policys_validity_drives_the_ping_pong_check() {
    // Ping after 1 s without proof of life, hang up at 2 s.
    let policy =
        rlws::RetryPolicy::default().validity(Duration::from_secs(1), Duration::from_secs(2));
    let (_ctx, addr) = start_with(rlws::test_site().threads(1).validity(&policy));
    let t0 = std::time::Instant::now();
    let mut c = raw_connect(addr, "/echo", None).await;
    let (op, _) = c.frame().await.expect("a ping");
    assert_eq!(op, 9);
    let pinged = t0.elapsed();
    assert!(pinged >= Duration::from_millis(900), "{pinged:?}");
    // No pong: hung up, about a second later.
    c.expect_eof().await;
    let gone = t0.elapsed();
    assert!(
        gone >= pinged + Duration::from_millis(500),
        "{pinged:?} {gone:?}"
    );
}

/// A protocol whose connections are pinged after 1 s without data.
struct Watched;

impl rlws::Protocol for Watched {
    type Session = ();
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "watched"
    }
    fn options(&self) -> rlws::ProtocolOptions {
        rlws::ProtocolOptions {
            validity: Some(rlws::Validity::new(
                Duration::from_secs(1),
                Duration::from_secs(3),
            )),
            ..Default::default()
        }
    }
    fn thread_init(&self, _: rlws::ThreadIndex) {}
    fn established(
        &self,
        _: &mut rlws::Cx<'_, Self>,
        _: &rlws::Handshake<'_>,
    ) -> Result<(), rlws::Close> {
        Ok(())
    }
    fn receive(
        &self,
        _: &mut rlws::Cx<'_, Self>,
        _: &mut (),
        _: rlws::Received<'_>,
    ) -> Result<(), rlws::Close> {
        Ok(())
    }
}

/// Proof-of-life rules per vhost, protocol and client connection: the
/// context never pings, one vhost does (after 1 s), the other on the same
/// socket stays quiet except for a protocol with its own rule, and a
/// client connection with its own rule pings its server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validity_per_vhost_and_per_client_connection() {
    use rlws::{Validity, Vhost};
    let s = Duration::from_secs;
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let ctx = rlws::test_site()
        .threads(1)
        .ws_keepalive(Duration::ZERO, Duration::ZERO)
        .vhost(
            Vhost::new("pinged", any)
                .validity(Validity::new(s(1), s(2)))
                .ws_path("/echo", "rlws-echo"),
        )
        .protocol(Watched)
        .vhost(
            Vhost::new("quiet", any)
                .ws_path("/echo", "rlws-echo")
                .ws_path("/watched", "watched"),
        )
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("pinged").unwrap();
    assert_eq!(ctx.vhost_addr("quiet"), Some(addr));
    let pinged = tokio::spawn(async move {
        let t0 = std::time::Instant::now();
        let mut c = raw_connect_host(addr, "pinged", "/echo", None).await;
        let (op, _) = c.frame().await.expect("a ping");
        assert_eq!(op, 9);
        assert!(t0.elapsed() >= Duration::from_millis(900));
    });
    let quiet = tokio::spawn(async move {
        let mut c = raw_connect_host(addr, "quiet", "/echo", None).await;
        assert!(
            tokio::time::timeout(s(3), c.frame()).await.is_err(),
            "the context's rule (never) applies on the other vhost"
        );
    });
    // The protocol's own rule, on the quiet vhost.
    let watched = tokio::spawn(async move {
        let mut c = raw_connect_host(addr, "quiet", "/watched", None).await;
        let (op, _) = c.frame().await.expect("a ping");
        assert_eq!(op, 9);
    });
    pinged.await.unwrap();
    quiet.await.unwrap();
    watched.await.unwrap();

    // A client connection with its own rule, from a context that never pings.
    let server = tokio::net::TcpListener::bind(any).await.unwrap();
    let saddr = server.local_addr().unwrap();
    let cctx = rlws::test_site()
        .threads(1)
        .ws_keepalive(Duration::ZERO, Duration::ZERO)
        .start()
        .unwrap();
    let mut cfg = rlws::client::ClientConfig::new(&format!("ws://{saddr}/")).unwrap();
    cfg.validity = Some(Validity::new(s(1), s(5)));
    cctx.connect("rlws-echo", cfg).unwrap();
    let (sock, _) = server.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
    let m = tokio::time::timeout(s(4), ws.next())
        .await
        .expect("a ping within 4 s");
    assert!(matches!(m, Some(Ok(Message::Ping(_)))), "{m:?}");
    drop(cctx);
    drop(ctx);
}
