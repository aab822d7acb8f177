//! WebSockets over TLS on HTTP/1.1, served as records in the service
//! thread's table (rlws' own TLS records under the thread's poller): echo
//! of small and large messages, many at once, key updates, TLS 1.2, flow
//! of timer-driven writes, the close handshake with TLS' close_notify
//! after it, and a peer that vanishes.

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
    tls_with(addr, ca, rustls::DEFAULT_VERSIONS).await
}

/// Likewise with only these protocol versions.
async fn tls_with(
    addr: SocketAddr,
    ca: &TestCa,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
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

/// Sends `text` and expects it back.
async fn echoes<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, text: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(TMessage::Text(text.into())).await.unwrap();
    match ws.next().await {
        Some(Ok(TMessage::Text(t))) => assert_eq!(t.as_str(), text),
        other => panic!("expected {text:?} back, got {other:?}"),
    }
}

/// rlws protects the records itself after the handshake: a client's TLS
/// 1.3 key updates (asking for the server's too), before the upgrade and
/// on the table's record, are followed both ways; a connection quiet
/// long enough for its key schedules to be dropped (two sweeps) carries
/// on; and TLS 1.2 works the same.
#[tokio::test]
async fn key_updates_quiet_spells_and_tls12_keep_the_records_readable() {
    let ca = TestCa::new("tls ws ca keys");
    let (_ctx, addr) = tls_site(&ca);
    let url = format!("wss://localhost:{}/echo", addr.port());
    let run = async {
        let mut tls = tls_to(addr, &ca).await;
        assert_eq!(
            tls.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        // Before the upgrade: the server's HTTP side takes it.
        tls.get_mut().1.refresh_traffic_keys().unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tls)
            .await
            .expect("upgrade after a key update");
        echoes(&mut ws, "first").await;
        for round in 0..3 {
            ws.get_mut().get_mut().1.refresh_traffic_keys().unwrap();
            echoes(&mut ws, &format!("after key update {round}")).await;
        }
        // The sweeper drops a quiet record's key schedules after two of
        // its once-a-second rounds; the keys themselves stay.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        echoes(&mut ws, "after a quiet spell").await;
        ws.get_mut().get_mut().1.refresh_traffic_keys().unwrap();
        echoes(&mut ws, "and one more update").await;

        let tls = tls_with(addr, &ca, &[&rustls::version::TLS12]).await;
        assert_eq!(
            tls.get_ref().1.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_2)
        );
        let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), tls)
            .await
            .expect("upgrade over TLS 1.2");
        echoes(&mut ws, "over TLS 1.2").await;
        let big = "x".repeat(100_000);
        echoes(&mut ws, &big).await;
    };
    tokio::time::timeout(LIMIT, run).await.expect("in time");
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

/// OpenSSL's client (a TLS stack nobody here wrote): a request, then a
/// key update asking for the server's, then a second request on the same
/// connection, answered under the new keys.
#[tokio::test]
async fn an_openssl_client_updates_its_keys_between_requests() {
    use std::io::{BufRead, Write};
    let ca = TestCa::new("tls openssl ca");
    let (_ctx, addr) = tls_site(&ca);
    let dir = common::tempdir("openssl-keyupdate");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let mut child = match std::process::Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-crlf", "-tls1_3"])
        .arg("-CAfile")
        .arg(&ca_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("openssl not found ({e}): apt-get install openssl"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // It prints replies on stdout and its own notes (KEYUPDATE) on stderr.
    let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for r in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let wait_for = |want: &str| loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) if l.starts_with(want) => return,
            Ok(_) => {}
            Err(e) => panic!("openssl never printed {want:?}: {e}"),
        }
    };
    wait_for("Verify return code: 0");
    stdin
        .write_all(b"GET / HTTP/1.1\nHost: localhost\n\n")
        .unwrap();
    stdin.flush().unwrap();
    wait_for("HTTP/1.1 200");
    // s_client's command: a KeyUpdate with update_requested.
    stdin.write_all(b"K\n").unwrap();
    stdin.flush().unwrap();
    wait_for("KEYUPDATE");
    stdin
        .write_all(b"GET /not-there HTTP/1.1\nHost: localhost\n\n")
        .unwrap();
    stdin.flush().unwrap();
    wait_for("HTTP/1.1 404");
    let _ = child.kill();
    let _ = child.wait();
}
