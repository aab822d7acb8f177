//! WebSockets over TLS on HTTP/1.1, served as records in the service
//! thread's table (rustls under the thread's poller): echo of small and
//! large messages, many at once, flow of timer-driven writes, the close
//! handshake with TLS' close_notify after it, and a peer that vanishes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::TestCa;
use futures_util::{SinkExt, StreamExt};
use rlws::client::{connect, ClientConfig, Message};
use rlws::{TlsServerOptions, Vhost};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as TMessage;

const LIMIT: Duration = Duration::from_secs(20);

fn tls_site(ca: &TestCa) -> (rlws::Context, SocketAddr) {
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(
            Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .site(rlws::builtin::TestSite)
                .ws_path("/echo", "rlws-echo")
                .tls(TlsServerOptions::new(cert, key)),
        )
        .start()
        .expect("context starts");
    let addr = ctx.vhost_addr("localhost").expect("vhost listens");
    (ctx, addr)
}

fn client_config(url: &str, ca: &TestCa) -> ClientConfig {
    let mut cfg = ClientConfig::new(url).unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    cfg
}

/// A TLS stream to `addr` trusting `ca`, speaking HTTP/1.1 by ALPN.
async fn tls_to(addr: SocketAddr, ca: &TestCa) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let s = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), s)
        .await
        .expect("TLS handshake")
}

#[tokio::test]
async fn echo_over_tls_small_large_and_many() {
    let ca = TestCa::new("tls ws ca");
    let (_ctx, addr) = tls_site(&ca);
    let url = format!("wss://localhost:{}/echo", addr.port());
    let run = async {
        let mut ws = connect(client_config(&url, &ca))
            .await
            .expect("wss connects");
        // Larger than what rustls buffers before it must write (64 KiB),
        // so the record's writes block and resume.
        let big = Message::Binary((0..3_000_000u32).map(|i| (i * 13) as u8).collect());
        for m in [Message::Text("over TLS".into()), big.clone()] {
            ws.send(m.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), m);
        }
        // Pipelined: 200 messages out before the first is read back.
        for i in 0..200 {
            ws.send(Message::Text(format!("msg {i}"))).await.unwrap();
        }
        for i in 0..200 {
            assert_eq!(
                ws.recv().await.unwrap().unwrap(),
                Message::Text(format!("msg {i}"))
            );
        }
        ws.close(1000, "").await.unwrap();

        // Many at once on the one thread, each echoing its own text.
        let mut tasks = Vec::new();
        for n in 0..100 {
            let cfg = client_config(&url, &ca);
            tasks.push(tokio::spawn(async move {
                let mut ws = connect(cfg).await.expect("wss connects");
                let m = Message::Text(format!("conn {n}"));
                ws.send(m.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), m);
                ws
            }));
        }
        let mut open = Vec::new();
        for t in tasks {
            open.push(t.await.unwrap());
        }
        for ws in &mut open {
            ws.send(Message::Text("again".into())).await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap().unwrap(),
                Message::Text("again".into())
            );
        }
    };
    tokio::time::timeout(LIMIT, run).await.expect("in time");
}

/// tungstenite over tokio-rustls (neither written here): echo, the close
/// handshake with the code echoed, then TLS' close_notify and the end.
#[tokio::test]
async fn a_foreign_client_sees_the_close_handshake_then_close_notify() {
    let ca = TestCa::new("tls ws ca 2");
    let (_ctx, addr) = tls_site(&ca);
    let run = async {
        let tls = tls_to(addr, &ca).await;
        let url = format!("wss://localhost:{}/echo", addr.port());
        let (mut ws, resp) = tokio_tungstenite::client_async(url.as_str(), tls)
            .await
            .expect("upgrade");
        assert_eq!(resp.status(), 101);
        ws.send(TMessage::Text("hello".into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            TMessage::Text("hello".into())
        );
        ws.send(TMessage::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "bye".into(),
            },
        )))
        .await
        .unwrap();
        match ws.next().await {
            Some(Ok(TMessage::Close(Some(f)))) => assert_eq!(f.code, CloseCode::Normal),
            other => panic!("expected the close reply, got {other:?}"),
        }
        // After the close frames, the TLS layer ends cleanly: rustls
        // reports the end only after the peer's close_notify.
        let mut rest = Vec::new();
        let n = ws
            .get_mut()
            .read_to_end(&mut rest)
            .await
            .expect("clean TLS end");
        assert_eq!(n, 0, "nothing after the close frame: {rest:?}");
    };
    tokio::time::timeout(LIMIT, run).await.expect("in time");
}

/// Timer-driven writes (dumb-increment counts every 50 ms) arrive over
/// TLS; a client that vanishes mid-connection leaves the others running.
#[tokio::test]
async fn timer_writes_flow_and_a_vanished_peer_harms_no_other() {
    let ca = TestCa::new("tls ws ca 3");
    let (_ctx, addr) = tls_site(&ca);
    let run = async {
        let url = format!("wss://localhost:{}/", addr.port());
        let mut cfg = client_config(&url, &ca);
        cfg.subprotocols = vec!["dumb-increment-protocol".into()];
        let mut counter = connect(cfg.clone()).await.expect("wss connects");
        let mut doomed = connect(cfg).await.expect("wss connects");
        let first = match doomed.recv().await.unwrap().unwrap() {
            Message::Text(t) => t,
            other => panic!("{other:?}"),
        };
        assert!(first.parse::<u64>().is_ok(), "{first:?}");
        drop(doomed);
        let mut last = None;
        for _ in 0..5 {
            match counter.recv().await.unwrap().unwrap() {
                Message::Text(t) => {
                    let n: u64 = t.parse().unwrap();
                    if let Some(l) = last {
                        assert_eq!(n, l + 1, "counts go up by one");
                    }
                    last = Some(n);
                }
                other => panic!("{other:?}"),
            }
        }
        // A new connection is served beside the counter.
        let echo = format!("wss://localhost:{}/echo", addr.port());
        let mut ws = connect(client_config(&echo, &ca))
            .await
            .expect("wss connects");
        ws.send(Message::Text("still here".into())).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Text("still here".into())
        );
        assert!(matches!(counter.recv().await, Some(Ok(Message::Text(_)))));
    };
    tokio::time::timeout(LIMIT, run).await.expect("in time");
}
