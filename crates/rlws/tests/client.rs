//! The WebSocket client against rlws' own server and against fake servers.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use rlws::client::{connect, ClientConfig, ConnectError, HandshakeError, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn echo_with_and_without_deflate() {
    let (_ctx, addr) = start(1);
    for deflate in [true, false] {
        let mut cfg = ClientConfig::new(&format!("ws://{addr}/echo")).unwrap();
        if !deflate {
            cfg.deflate = None;
        }
        let mut ws = connect(cfg).await.unwrap();
        assert_eq!(ws.deflate().is_some(), deflate);
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 7) as u8).collect();
        for m in [
            Message::Text("hello".into()),
            Message::Text(String::new()),
            Message::Binary(vec![1, 2, 3]),
            Message::Binary(big),
            Message::Text("κόσμε".repeat(1000)),
        ] {
            ws.send(m.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), m);
        }
        ws.close(1000, "done").await.unwrap();
    }
}

#[tokio::test]
async fn stream_and_sink() {
    let (_ctx, addr) = start(1);
    let cfg = ClientConfig::new(&format!("ws://{addr}/"))
        .unwrap()
        .subprotocol("rlws-echo");
    let mut ws = connect(cfg).await.unwrap();
    assert_eq!(ws.protocol(), Some("rlws-echo"));
    for i in 0..100 {
        ws.feed(Message::Text(format!("{i}"))).await.unwrap();
    }
    ws.flush().await.unwrap();
    for i in 0..100 {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m, Message::Text(format!("{i}")));
    }
    SinkExt::close(&mut ws).await.unwrap();
    // The server answers our close and the stream ends.
    let mut got_close = false;
    while let Some(m) = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        if let Ok(Message::Close(Some((code, _)))) = m {
            assert_eq!(code, 1000);
            got_close = true;
        }
    }
    assert!(got_close);
}

#[tokio::test]
async fn ping_is_answered_and_server_close_is_reported() {
    let (_ctx, addr) = start_with(
        rlws::test_site()
            .threads(1)
            .ws_keepalive(Duration::from_secs(1), Duration::from_secs(2)),
    );
    let cfg = ClientConfig::new(&format!("ws://{addr}/"))
        .unwrap()
        .subprotocol("dumb-increment-protocol");
    let mut ws = connect(cfg).await.unwrap();
    let mut pings = 0;
    let mut numbers = 0;
    let end = tokio::time::Instant::now() + Duration::from_millis(3500);
    while let Ok(Some(m)) = tokio::time::timeout_at(end, ws.recv()).await {
        match m.unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Text(_) => numbers += 1,
            m => panic!("unexpected {m:?}"),
        }
    }
    assert!(pings >= 1, "the idle client was pinged");
    assert!(
        numbers > 40,
        "and kept receiving numbers ({numbers}): pongs were sent"
    );
    ws.send(Message::Text("closeme\n".into())).await.unwrap();
    loop {
        match ws.recv().await.unwrap().unwrap() {
            Message::Close(c) => {
                assert_eq!(c.unwrap().0, 1001);
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn connect_errors_say_why() {
    let (_ctx, addr) = start(1);
    // Refused.
    let nobody = Refusing::new();
    let e = connect(ClientConfig::new(&format!("ws://{}/", nobody.addr)).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::Refused), "{e}");
    // HTTP status.
    let cfg = ClientConfig::new(&format!("ws://{addr}/"))
        .unwrap()
        .subprotocol("nope");
    let e = connect(cfg).await.unwrap_err();
    assert!(matches!(e, ConnectError::Status(400)), "{e}");
    // DNS.
    let e = connect(ClientConfig::new("ws://no-such-host.invalid/").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectError::Dns(_)), "{e}");
    // Timeout: a server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let saddr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (s, _) = silent.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let mut cfg = ClientConfig::new(&format!("ws://{saddr}/")).unwrap();
    cfg.connect_timeout = Duration::from_millis(300);
    let t0 = std::time::Instant::now();
    let e = connect(cfg).await.unwrap_err();
    assert!(matches!(e, ConnectError::Timeout), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    hold.abort();
    // Handshake mismatch: wrong accept key, an unoffered subprotocol, a
    // malformed extension answer, no Upgrade header.
    type Check = fn(&HandshakeError) -> bool;
    let cases: [(&str, Check); 4] = [
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            |e| matches!(e, HandshakeError::AcceptMismatch)),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {KEY}\r\nSec-WebSocket-Protocol: other\r\n\r\n",
            |e| matches!(e, HandshakeError::UnofferedSubprotocol(p) if p == "other")),
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {KEY}\r\nSec-WebSocket-Extensions: permessage-deflate; bogus\r\n\r\n",
            |e| matches!(e, HandshakeError::Extension(_))),
        ("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {KEY}\r\n\r\n",
            |e| matches!(e, HandshakeError::NoUpgrade)),
    ];
    for (resp, check) in cases {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let laddr = l.local_addr().unwrap();
        let fake = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let key = req
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .trim()
                .to_string();
            let resp = resp.replace("{KEY}", &rlws_ws::handshake::accept_key(key.as_bytes()));
            s.write_all(resp.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        });
        let e = connect(ClientConfig::new(&format!("ws://{laddr}/")).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ConnectError::Handshake(ref h) if check(h)),
            "{resp:?}: {e:?}"
        );
        fake.abort();
    }
}

#[tokio::test]
async fn server_protocol_violation_is_a_1002_from_the_client() {
    // A fake server that sends a masked frame (servers must not mask).
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let laddr = l.local_addr().unwrap();
    let fake = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_string();
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            rlws_ws::handshake::accept_key(key.as_bytes())
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        s.write_all(&frame(1, true, b"masked")).await.unwrap();
        let mut got = vec![0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut got))
            .await
            .unwrap()
            .unwrap();
        got.truncate(n);
        got
    });
    let mut cfg = ClientConfig::new(&format!("ws://{laddr}/")).unwrap();
    cfg.deflate = None;
    let mut ws = connect(cfg).await.unwrap();
    assert!(matches!(
        ws.recv().await,
        Some(Err(rlws::client::WsError::Protocol(_)))
    ));
    let sent = fake.await.unwrap();
    // A masked close frame with 1002.
    assert_eq!(sent[0], 0x88);
    let mask = [sent[2], sent[3], sent[4], sent[5]];
    let code = u16::from_be_bytes([sent[6] ^ mask[0], sent[7] ^ mask[1]]);
    assert_eq!(code, 1002);
}
