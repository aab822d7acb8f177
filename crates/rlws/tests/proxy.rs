//! Reverse-proxy mounts in front of real backends: nginx (static files,
//! ranges, connection reuse, the forwarded headers it sees), another rlws
//! echoing large bodies, a Unix-socket backend, backends that are slow,
//! dead or broken, an HTTP/2 client in front of an HTTP/1.1 backend, and
//! WebSockets through the proxy.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use rlws::{Context, Mount, ReverseProxy, TlsServerOptions, Vhost};
use rlws_testkit::Nginx;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NGINX_EXTRA: &str = r#"
    location = /headers {
        default_type text/plain;
        return 200 "xff=$http_x_forwarded_for proto=$http_x_forwarded_proto host=$host xhost=$http_x_forwarded_host conn=$http_connection te=$http_te secret=$http_x_secret end=$http_x_end\n";
    }
    location = /hop {
        add_header X-Private gone;
        add_header Connection "X-Private";
        add_header X-Kept kept;
        return 200 "hop\n";
    }
"#;

fn nginx() -> Nginx {
    nginx_with_ca().0
}

/// nginx with its test files, and the CA its TLS certificate is from.
fn nginx_with_ca() -> (Nginx, TestCa) {
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let n = Nginx::start(&cert, &key, NGINX_EXTRA);
    let small: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(n.root.join("1k.bin"), &small).unwrap();
    let f = std::fs::File::create(n.root.join("big.bin")).unwrap();
    f.set_len(20 << 20).unwrap();
    (n, ca)
}

#[tokio::test]
async fn an_https_backend_checked_against_its_ca() {
    let (n, ca) = nginx_with_ca();
    let origin = format!("https://localhost:{}/", n.tls_port);
    let trusting = ReverseProxy::new(&origin)
        .unwrap()
        .tls(trusting(&ca))
        .unwrap();
    // The system's roots do not know the test CA: the backend is refused.
    let doubting = ReverseProxy::new(&origin).unwrap();
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new("/s", trusting),
        Mount::new("/untrusted", doubting),
    ]);
    let a = ask(addr, "GET", "/s/headers", &[]).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let seen = String::from_utf8_lossy(&a.body);
    assert!(
        seen.starts_with("xff=127.0.0.1 proto=http host=localhost"),
        "{seen}"
    );
    let a = ask(addr, "GET", "/s/big.bin", &[]).await;
    assert_eq!(a.body.len(), 20 << 20);
    let a = ask(addr, "GET", "/untrusted/1k.bin", &[]).await;
    assert_eq!(a.status, 502, "{}", String::from_utf8_lossy(&a.body));
    // nginx saw the proxied requests over TLS.
    assert!(n
        .log()
        .iter()
        .any(|l| l.port == n.tls_port && l.request.starts_with("GET /headers")));
}

#[tokio::test]
async fn static_files_ranges_and_headers_through_the_proxy_to_nginx() {
    let n = nginx();
    let origin = format!("http://127.0.0.1:{}/", n.port);
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/n", ReverseProxy::new(&origin).unwrap())]);
    let direct = ask(
        SocketAddr::from(([127, 0, 0, 1], n.port)),
        "GET",
        "/1k.bin",
        &[],
    )
    .await;
    let a = ask(addr, "GET", "/n/1k.bin", &[]).await;
    assert_eq!(a.status, 200);
    assert!(a.body == direct.body);
    for h in ["etag", "last-modified", "content-type", "content-length"] {
        assert_eq!(a.header(h), direct.header(h), "{h}");
    }
    // A conditional request and a range go through to nginx.
    let etag = a.header("etag").unwrap().to_string();
    let a = ask(addr, "GET", "/n/1k.bin", &[("If-None-Match", &etag)]).await;
    assert_eq!(a.status, 304);
    let a = ask(addr, "GET", "/n/1k.bin", &[("Range", "bytes=10-19")]).await;
    assert_eq!(a.status, 206);
    assert!(a.body == direct.body[10..20]);
    // 20 MiB, streamed.
    let a = ask(addr, "GET", "/n/big.bin", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body.len(), 20 << 20);
    let a = ask(addr, "GET", "/n/nothing-here", &[]).await;
    assert_eq!(a.status, 404);
    // What nginx was sent.
    let a = ask(
        addr,
        "GET",
        "/n/headers",
        &[
            ("X-Forwarded-For", "10.0.0.1"),
            ("Connection", "close, X-Secret"),
            ("X-Secret", "hop-by-hop"),
            ("TE", "trailers"),
            ("X-End", "to-end"),
        ],
    )
    .await;
    let seen = String::from_utf8_lossy(&a.body);
    assert_eq!(
        seen.trim_end(),
        format!(
            "xff=10.0.0.1, 127.0.0.1 proto=http host=localhost xhost=localhost conn= te= secret= end=to-end"
        )
    );
    // The host the vhost was chosen by goes on, not another in `Host`.
    let raw = http_raw(
        addr,
        "GET http://localhost/n/headers HTTP/1.1\r\nHost: admin.internal\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.contains("host=localhost xhost=localhost "), "{raw}");
    // Dot-segments could leave the mount (and the backend's base path).
    for bad in ["/n/../headers", "/n/%2e%2e/headers", "/n/a/./b"] {
        assert_eq!(ask(addr, "GET", bad, &[]).await.status, 400, "{bad}");
    }
    // What comes back: hop-by-hop fields stop at the proxy.
    let a = ask(addr, "GET", "/n/hop", &[]).await;
    assert_eq!(a.header("x-kept"), Some("kept"));
    assert_eq!(a.header("x-private"), None);
}

#[tokio::test]
async fn connections_to_the_backend_are_reused() {
    let n = nginx();
    let origin = format!("http://127.0.0.1:{}", n.port);
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/", ReverseProxy::new(&origin).unwrap())]);
    let before = n.log().len();
    for _ in 0..6 {
        let a = ask(addr, "GET", "/1k.bin", &[]).await;
        assert_eq!(a.status, 200);
    }
    let log = n.log_lines(before + 6);
    let conns: std::collections::BTreeSet<u64> =
        log[before..].iter().map(|l| l.connection).collect();
    assert_eq!(
        conns.len(),
        1,
        "six requests, one connection to nginx: {log:?}"
    );
    assert_eq!(log.last().unwrap().position, 6);
}

#[tokio::test]
async fn an_h2_client_in_front_of_an_http1_backend() {
    let n = nginx();
    let ca = TestCa::new("rlws front CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let origin = format!("http://127.0.0.1:{}", n.port);
    let v = Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
        .tls(TlsServerOptions::new(cert.into_bytes(), key.into_bytes()))
        .mount(Mount::new("/", ReverseProxy::new(&origin).unwrap()));
    let ctx = Context::builder().threads(1).vhost(v).start().unwrap();
    let port = ctx.vhost_addr("localhost").unwrap().port();
    let client = rlws::client::HttpClient::builder()
        .tls(trusting(&ca))
        .build()
        .unwrap();
    let r = client
        .get(&format!("https://localhost:{port}/headers"))
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    let body = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    assert!(
        body.starts_with(&format!(
            "xff=127.0.0.1 proto=https host=localhost xhost=localhost:{port}"
        )),
        "{body}"
    );
    let r = client
        .get(&format!("https://localhost:{port}/big.bin"))
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 20 << 20);
    let log = n.log();
    assert!(
        log.iter().all(|l| l.request.ends_with("HTTP/1.1")),
        "{log:?}"
    );
}

#[tokio::test]
async fn large_bodies_stream_both_ways_through_the_proxy() {
    let dir = tempdir("proxy-echo");
    let (_back, back) = echo_site(&dir, 1);
    let origin = format!("http://{back}/echo");
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/p", ReverseProxy::new(&origin).unwrap())]);
    let data: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 9) as u8)
        .collect();
    let len = data.len().to_string();
    let a = ask_body(addr, "POST", "/p/x?q=1", &[("Content-Length", &len)], &data).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-seen-path"), Some("/echo/x?q=1"));
    assert_eq!(a.header("x-seen-host"), Some("localhost"));
    assert!(a.body == data, "the body came back whole");
    // Chunked in, chunked on to the backend.
    let chunked = chunked(&data[..3_000_000], 100_000);
    let a = ask_body(
        addr,
        "PUT",
        "/p",
        &[("Transfer-Encoding", "chunked")],
        &chunked,
    )
    .await;
    assert_eq!(a.header("x-seen-method"), Some("PUT"));
    assert_eq!(a.header("x-seen-transfer-encoding"), Some("chunked"));
    assert!(a.body == data[..3_000_000]);
}

#[tokio::test]
async fn a_unix_socket_backend() {
    let dir = tempdir("proxy-unix");
    let sock = dir.join("backend.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let body = format!("unix backend saw: {line}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    let origin = format!("unix:{}:/base", sock.display());
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/u", ReverseProxy::new(&origin).unwrap())]);
    let a = ask(addr, "GET", "/u/x?y=1", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "unix backend saw: GET /base/x?y=1 HTTP/1.1\n"
    );
}

/// A keep-alive HTTP/1.1 backend on a Unix socket that answers each
/// request with its connection's number and the request's on it; `/slow`
/// sends half its body, then the rest once `go` is notified; `/drop` on a
/// connection's second or later request closes it without an answer.
fn counting_unix_backend(sock: &std::path::Path, go: std::sync::Arc<tokio::sync::Notify>) {
    let listener = tokio::net::UnixListener::bind(sock).unwrap();
    tokio::spawn(async move {
        let mut conns = 0;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            conns += 1;
            let conn = conns;
            let go = go.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut b = [0u8; 1024];
                for n in 1.. {
                    let end = loop {
                        if let Some(e) = find(&buf, b"\r\n\r\n", 0) {
                            break e;
                        }
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&b[..k]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    // As a backend closing an idle connection just as a
                    // request comes: no answer.
                    if head.starts_with("GET /drop") && n > 1 {
                        return;
                    }
                    if head.starts_with("GET /slow") {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nslow-")
                            .await;
                        go.notified().await;
                        let _ = s.write_all(b"done.").await;
                        continue;
                    }
                    let body = format!("conn {conn} request {n}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// Reads from `s` into `got` until it ends with `end`.
async fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, end: &[u8]) {
    let mut b = [0u8; 1024];
    while !got.ends_with(end) {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(got));
        got.extend_from_slice(&b[..n]);
    }
}

#[tokio::test]
async fn connections_to_a_unix_socket_backend_are_reused_when_free() {
    let dir = tempdir("proxy-unix-reuse");
    let sock = dir.join("backend.sock");
    let go = std::sync::Arc::new(tokio::sync::Notify::new());
    counting_unix_backend(&sock, go.clone());
    let origin = format!("unix:{}", sock.display());
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/", ReverseProxy::new(&origin).unwrap())]);
    for n in 1..=6 {
        let a = ask(addr, "GET", "/x", &[]).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            String::from_utf8_lossy(&a.body),
            format!("conn 1 request {n}")
        );
    }
    // While a response streams on the kept connection, another request
    // gets a connection of its own.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    read_until(&mut slow, &mut got, b"slow-").await;
    let a = ask(addr, "GET", "/y", &[]).await;
    assert_eq!(String::from_utf8_lossy(&a.body), "conn 2 request 1");
    go.notify_one();
    read_until(&mut slow, &mut got, b"slow-done.").await;
    // Both are free again: the next request takes one of them.
    let a = ask(addr, "GET", "/z", &[]).await;
    let text = String::from_utf8_lossy(&a.body).to_string();
    assert!(
        text == "conn 1 request 8" || text == "conn 2 request 2",
        "{text}"
    );
    // A kept connection the backend closes on a GET: asked again on a new one.
    let a = ask(addr, "GET", "/drop", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(String::from_utf8_lossy(&a.body), "conn 3 request 1");
    let _ = std::fs::remove_dir_all(dir);
}

/// A backend on 127.0.0.1 that runs `f` on each connection.
async fn fake_backend<F, Fut>(f: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let f = std::sync::Arc::new(f);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(f(s));
        }
    });
    addr
}

async fn read_head(s: &mut tokio::net::TcpStream) {
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
}

#[tokio::test]
async fn slow_dead_and_broken_backends_get_504_503_and_502() {
    // Reads the request and never answers.
    let silent = fake_backend(|mut s| async move {
        read_head(&mut s).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    // Answers its head, then stalls in the body.
    let stalls = fake_backend(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part")
            .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
    })
    .await;
    // Answers nonsense.
    let broken = fake_backend(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"this is not HTTP\r\n\r\n").await;
    })
    .await;
    let dead = Refusing::new();
    let p = |a: SocketAddr| {
        ReverseProxy::new(&format!("http://{a}"))
            .unwrap()
            .timeout(Duration::from_secs(1))
            .unwrap()
    };
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new("/silent", p(silent)),
        Mount::new("/stalls", p(stalls)),
        Mount::new("/broken", p(broken)),
        Mount::new("/dead", p(dead.addr)),
    ]);
    let t = Instant::now();
    let a = ask(addr, "GET", "/silent", &[]).await;
    assert_eq!(a.status, 504, "{}", String::from_utf8_lossy(&a.body));
    assert!(String::from_utf8_lossy(&a.body).contains("did not answer in time"));
    assert!(t.elapsed() < Duration::from_secs(10));
    let a = ask(addr, "GET", "/dead", &[]).await;
    assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
    assert!(String::from_utf8_lossy(&a.body).contains("unreachable"));
    let a = ask(addr, "GET", "/broken", &[]).await;
    assert_eq!(a.status, 502, "{}", String::from_utf8_lossy(&a.body));
    assert!(String::from_utf8_lossy(&a.body).contains("failed"));
    // A backend that never reads an upload: 504 all the same, read as soon
    // as it comes (the proxy then closes with the upload unread).
    let t = Instant::now();
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let upload = tokio::spawn(async move {
        let head = "POST /silent HTTP/1.1\r\nHost: localhost\r\nContent-Length: 33554432\r\n\r\n";
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&vec![b'u'; 32 << 20]).await;
    });
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(15), rd.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&b[..n]),
            other => panic!("no answer to the stalled upload: {other:?}"),
        }
    }
    assert!(
        got.starts_with(b"HTTP/1.1 504"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    upload.abort();
    // A stalled body is cut off: the client never sees it complete.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /stalls HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out))
        .await
        .expect("the proxy ends the connection")
        .ok();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("first part"), "{out}");
    // The front still serves others.
    let a = ask(addr, "GET", "/dead", &[]).await;
    assert_eq!(a.status, 503);
}

#[tokio::test]
async fn websockets_go_through_the_proxy_over_h1_and_h2() {
    // The backend: rlws' own test site (its echo protocol).
    let (_back, back) = start(1);
    let origin = format!("http://{back}");
    let ca = TestCa::new("rlws front CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/", ReverseProxy::new(&origin).unwrap())]);
    let (ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    let (mut tx, mut rx) = ws.split();
    for i in 0..20 {
        let m = format!("message {i} through the proxy");
        tx.send(tokio_tungstenite::tungstenite::Message::text(m.clone()))
            .await
            .unwrap();
        let got = rx.next().await.unwrap().unwrap();
        assert_eq!(got.into_text().unwrap().as_str(), m);
    }
    tx.send(tokio_tungstenite::tungstenite::Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: 4001.into(),
            reason: "bye".into(),
        },
    )))
    .await
    .unwrap();
    let mut code = None;
    while let Some(Ok(m)) = rx.next().await {
        if let tokio_tungstenite::tungstenite::Message::Close(Some(c)) = m {
            code = Some(u16::from(c.code));
        }
    }
    assert_eq!(code, Some(4001), "the backend's close answer came back");
    // A tunnel where nothing moves is closed after the tunnel's idle time.
    let (_idle_ctx, idle_addr) = serve_mounts(vec![Mount::new(
        "/",
        ReverseProxy::new(&origin)
            .unwrap()
            .tunnel_idle(Duration::from_millis(500)),
    )]);
    let (mut quiet, _) = tokio_tungstenite::connect_async(format!("ws://{idle_addr}/echo"))
        .await
        .unwrap();
    let t = Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(10), quiet.next()).await;
    assert!(end.is_ok(), "the idle tunnel was closed");
    assert!(t.elapsed() >= Duration::from_millis(400));
    // An h2 client (RFC 8441) in front of the HTTP/1.1 backend.
    let v = Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
        .tls(TlsServerOptions::new(cert.into_bytes(), key.into_bytes()))
        .mount(Mount::new("/", ReverseProxy::new(&origin).unwrap()));
    let tls_ctx = Context::builder().threads(1).vhost(v).start().unwrap();
    let port = tls_ctx.vhost_addr("localhost").unwrap().port();
    let mut cfg = rlws::client::ClientConfig::new(&format!("wss://localhost:{port}/echo")).unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    let h2 = rlws::client::H2Connection::connect(&cfg).await.unwrap();
    let mut ws = h2.websocket(&cfg).await.unwrap();
    let m = rlws::client::Message::Text("over h2 through the proxy".into());
    ws.send(m.clone()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, m);
    ws.close(1000, "done").await.unwrap();
}
