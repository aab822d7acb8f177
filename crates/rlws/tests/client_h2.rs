//! The rlws client opening WebSockets over HTTP/2 (RFC 8441): several on
//! one connection, over TLS (ALPN h2) and in cleartext (prior knowledge).

mod common;

use std::time::Duration;

use common::*;
use rlws::client::{ClientConfig, ConnectError, H2Connection, HandshakeError, Message};
use rlws::{TlsServerOptions, Vhost};

async fn recv(ws: &mut rlws::client::WebSocket<rlws::Transport>) -> Message {
    tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("no error")
}

/// The status protocol's view: every WebSocket's peer address.
fn peers(doc: &Message) -> Vec<String> {
    let Message::Text(t) = doc else {
        panic!("{doc:?}")
    };
    let v: serde_json::Value = serde_json::from_str(t).unwrap();
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["peer"].as_str().unwrap().to_string())
        .collect()
}

async fn several_websockets_on_one_connection(base: &str, ca_pem: Option<String>) {
    let cfg = |path: &str| {
        let mut c = ClientConfig::new(&format!("{base}{path}")).unwrap();
        c.tls.ca_pem = ca_pem.clone().map(String::into_bytes);
        c
    };
    let h2 = H2Connection::connect(&cfg("/")).await.expect("h2 connects");
    // Three echo sockets (permessage-deflate offered by default) and a
    // counter, all streams of the one connection.
    let mut echoes = Vec::new();
    for _ in 0..3 {
        let ws = h2.websocket(&cfg("/echo")).await.expect("echo opens");
        assert!(ws.deflate().is_some(), "deflate negotiated over h2");
        echoes.push(ws);
    }
    let counter = cfg("/").subprotocol("dumb-increment-protocol");
    let mut counter = h2.websocket(&counter).await.expect("counter opens");
    assert_eq!(counter.protocol(), Some("dumb-increment-protocol"));
    for round in 0..3 {
        for (i, ws) in echoes.iter_mut().enumerate() {
            ws.send(Message::Text(format!("s{i} r{round}")))
                .await
                .unwrap();
        }
        for (i, ws) in echoes.iter_mut().enumerate() {
            assert_eq!(recv(ws).await, Message::Text(format!("s{i} r{round}")));
        }
    }
    let big = Message::Binary((0..400_000u32).map(|i| (i % 251) as u8).collect());
    echoes[1].send(big.clone()).await.unwrap();
    assert_eq!(recv(&mut echoes[1]).await, big);
    let Message::Text(n) = recv(&mut counter).await else {
        panic!("counter sends text")
    };
    assert!(n.parse::<u64>().is_ok(), "{n}");
    // The server sees all of them from one peer address: one TCP connection.
    let mut status = h2
        .websocket(&cfg("/").subprotocol("lws-status"))
        .await
        .expect("status opens");
    let mut seen = peers(&recv(&mut status).await);
    while seen.len() < 5 {
        seen = peers(&recv(&mut status).await);
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().all(|p| *p == seen[0]), "{seen:?}");
    // Closing one stream leaves the others (and the connection) working.
    echoes[0].close(1000, "done").await.unwrap();
    assert!(echoes[0].recv().await.is_none());
    echoes[2].send(Message::Text("still".into())).await.unwrap();
    assert_eq!(recv(&mut echoes[2]).await, Message::Text("still".into()));
    let mut late = h2.websocket(&cfg("/echo")).await.expect("opens later");
    late.send(Message::Text("late".into())).await.unwrap();
    assert_eq!(recv(&mut late).await, Message::Text("late".into()));
}

#[tokio::test]
async fn rlws_client_opens_several_websockets_on_one_h2_connection() {
    let ca = TestCa::new("h2 client ca");
    let (cert, key) = ca.leaf(&["localhost"]);
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(
            Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .tls(TlsServerOptions::new(cert, key))
                .ws_path("/echo", "rlws-echo"),
        )
        .vhost(Vhost::new("plain", "127.0.0.2:0".parse().unwrap()).ws_path("/echo", "rlws-echo"))
        .start()
        .unwrap();
    let tls = ctx.vhost_addr("localhost").unwrap();
    let plain = ctx.vhost_addr("plain").unwrap();
    several_websockets_on_one_connection(
        &format!("wss://localhost:{}", tls.port()),
        Some(ca.pem()),
    )
    .await;
    several_websockets_on_one_connection(&format!("ws://{plain}"), None).await;

    // Refusals are reported like the HTTP/1.1 client's.
    let mut cfg = ClientConfig::new(&format!("wss://localhost:{}/", tls.port())).unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    let h2 = H2Connection::connect(&cfg).await.unwrap();
    let bad = cfg.clone().subprotocol("no-such-protocol");
    match h2.websocket(&bad).await {
        Err(ConnectError::Status(400)) => {}
        other => panic!("{other:?}"),
    }
    // A server without h2 is an error at connect time.
    let (c2, k2) = ca.leaf(&["localhost"]);
    let h1_only = rlws::test_site()
        .threads(1)
        .vhost(
            Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .tls(TlsServerOptions::new(c2, k2))
                .http2(false),
        )
        .start()
        .unwrap();
    let mut cfg = ClientConfig::new(&format!(
        "wss://localhost:{}/",
        h1_only.local_addrs()[0].port()
    ))
    .unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    match H2Connection::connect(&cfg).await {
        // The server refuses the ALPN offer of h2 alone, or ignores it.
        Err(ConnectError::Tls(e)) => assert!(
            matches!(
                e.rustls(),
                Some(rustls::Error::AlertReceived(
                    rustls::AlertDescription::NoApplicationProtocol
                ))
            ),
            "{e:?}"
        ),
        Err(ConnectError::Handshake(HandshakeError::NoH2)) => {}
        other => panic!("{other:?}"),
    }
}
