//! The HTTP client against rlws' own server (an origin that echoes what it
//! got) and against hand-made servers that misbehave on purpose: bodies and
//! forms, connection sharing over HTTP/1.1 and HTTP/2, keep-warm, servers
//! that close connections, a leader that cannot connect, gzip, and every
//! error reason.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use http::{Method, StatusCode};
use rlws::client::{
    ErrorKind, HttpClient, HttpError, HttpVersion, LeaderFailure, Multipart, Request, RequestBody,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// rlws' server with `/echo` (answers with the request body and what it
/// saw of the request) and `/files` (a directory).
fn server(dir: &std::path::Path) -> (rlws::Context, SocketAddr) {
    echo_site(dir, 1)
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn seen<'a>(r: &'a rlws::client::Response, h: &str) -> &'a str {
    r.headers()
        .get(format!("x-seen-{h}"))
        .map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn requests_bodies_and_forms_over_h1_and_h2() {
    let dir = tempdir("bodies");
    let file = data(300_000);
    std::fs::write(dir.join("data.bin"), &file).unwrap();
    let (_ctx, addr) = server(&dir);
    let base = format!("http://127.0.0.1:{}", addr.port());
    for version in [HttpVersion::Http1, HttpVersion::Http2] {
        let client = HttpClient::builder().version(version).build().unwrap();
        let want = if version == HttpVersion::Http2 {
            "HTTP/2.0"
        } else {
            "HTTP/1.1"
        };

        let r = client.get(&format!("{base}/files/data.bin")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), file);

        // Bytes, with the URL's query and user.
        let u = format!("http://me:secret@127.0.0.1:{}/echo/x?y=1", addr.port());
        let r = client
            .request(
                Request::post(&u)
                    .unwrap()
                    .header("cookie", "c=1")
                    .body("hello"),
            )
            .await
            .unwrap();
        assert_eq!(seen(&r, "version"), want);
        assert_eq!(seen(&r, "method"), "POST");
        assert_eq!(seen(&r, "path"), "/echo/x?y=1");
        assert_eq!(seen(&r, "content-length"), "5");
        assert_eq!(seen(&r, "authorization"), "Basic bWU6c2VjcmV0");
        assert_eq!(seen(&r, "cookie"), "c=1");
        assert!(seen(&r, "user-agent").starts_with("rlws/"));
        assert_eq!(r.text().await.unwrap(), "hello");

        // A urlencoded form.
        let r = client
            .request(
                Request::post(&format!("{base}/echo"))
                    .unwrap()
                    .form(&[("a", "1 2"), ("b", "&")]),
            )
            .await
            .unwrap();
        assert_eq!(
            seen(&r, "content-type"),
            "application/x-www-form-urlencoded"
        );
        assert_eq!(r.text().await.unwrap(), "a=1+2&b=%26");

        // A multipart form with a file part, echoed back byte for byte.
        let form = Multipart::new()
            .text("name", "rlws")
            .file("upload", dir.join("data.bin"))
            .unwrap();
        let boundary = form.boundary().to_string();
        let r = client
            .request(
                Request::post(&format!("{base}/echo"))
                    .unwrap()
                    .multipart(form),
            )
            .await
            .unwrap();
        assert_eq!(
            seen(&r, "content-type"),
            format!("multipart/form-data; boundary={boundary}")
        );
        let len: usize = seen(&r, "content-length").parse().unwrap();
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len(), len);
        let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let start = body[start + 4..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + start
            + 8;
        assert_eq!(
            &body[start..start + file.len()],
            &file[..],
            "the file part arrives intact"
        );
        assert!(body.ends_with(format!("\r\n--{boundary}--\r\n").as_bytes()));

        // A stream of unknown length: chunked over HTTP/1.1, DATA frames over h2.
        let pieces: Vec<Result<bytes::Bytes, std::io::Error>> = (0..50)
            .map(|i| Ok(bytes::Bytes::from(vec![i as u8; 1000])))
            .collect();
        let s = futures_util::stream::iter(pieces);
        let r = client
            .request(
                Request::new(Method::PUT, &format!("{base}/echo"))
                    .unwrap()
                    .body(RequestBody::stream(Box::pin(s), None)),
            )
            .await
            .unwrap();
        if version == HttpVersion::Http1 {
            assert_eq!(seen(&r, "transfer-encoding"), "chunked");
        }
        let b = r.bytes().await.unwrap();
        assert_eq!(b.len(), 50_000);
        assert!(b
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&x| x == i as u8)));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shared_requests_queue_on_one_h1_connection_in_order() {
    let dir = tempdir("share");
    let (_ctx, addr) = server(&dir);
    let url = format!("http://127.0.0.1:{}/echo", addr.port());
    let client = HttpClient::builder()
        .version(HttpVersion::Http1)
        .build()
        .unwrap();
    // Eight requests made at once, POSTs among them: one connection, in
    // the order they were made.
    let reqs = (0..8).map(|i| {
        let c = client.clone();
        let url = url.clone();
        async move {
            let r = c
                .request(Request::post(&url).unwrap().body(format!("request {i}")))
                .await
                .unwrap();
            let info = r.connection();
            (info, r.text().await.unwrap())
        }
    });
    let out = join_all(reqs).await;
    let first = out[0].0.id;
    for (i, (info, text)) in out.iter().enumerate() {
        assert_eq!(text, &format!("request {i}"));
        assert_eq!(info.id, first, "all on one connection");
        assert_eq!(info.transaction, i as u64 + 1, "in order");
        assert!(!info.h2);
    }
    let s = client.stats();
    assert_eq!(
        (
            s.connections,
            s.transactions,
            s.max_transactions_per_connection
        ),
        (1, 8, 8)
    );
    assert_eq!(s.to_string(), "8 transactions on 1 connection");

    // Without sharing: a connection each.
    let client = HttpClient::builder()
        .version(HttpVersion::Http1)
        .share(false)
        .build()
        .unwrap();
    let out = join_all((0..8).map(|_| client.get(&url))).await;
    let mut ids: Vec<u64> = out
        .into_iter()
        .map(|r| r.unwrap().connection().id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    assert_eq!(client.stats().connections, 8);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn shared_requests_join_one_h2_connection_as_concurrent_streams() {
    let dir = tempdir("h2share");
    let (_ctx, addr) = server(&dir);
    let url = format!("http://127.0.0.1:{}/echo", addr.port());
    let client = HttpClient::builder()
        .version(HttpVersion::Http2)
        .build()
        .unwrap();
    // Every stream's body stays open until all eight have their response
    // heads: only concurrent streams can get there.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..8)
        .map(|_| tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1))
        .unzip();
    let heads =
        join_all(rxs.into_iter().map(|rx| {
            let s = futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|x| (x, rx))
            });
            client.request(
                Request::post(&url)
                    .unwrap()
                    .body(RequestBody::stream(Box::pin(s), None)),
            )
        }))
        .await;
    let mut resps: Vec<_> = heads.into_iter().map(Result::unwrap).collect();
    let id = resps[0].connection().id;
    for (i, (r, tx)) in resps.iter_mut().zip(&txs).enumerate() {
        assert!(r.connection().h2);
        assert_eq!(r.connection().id, id);
        tx.send(Ok(format!("stream {i}").into())).await.unwrap();
    }
    drop(txs);
    for (i, r) in resps.into_iter().enumerate() {
        assert_eq!(r.text().await.unwrap(), format!("stream {i}"));
    }
    assert_eq!(client.stats().connections, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_idle_shared_connection_closes_after_keep_warm() {
    let dir = tempdir("warm");
    let (ctx, addr) = server(&dir);
    let url = format!("http://127.0.0.1:{}/echo", addr.port());
    let client = HttpClient::builder()
        .keep_warm(Duration::from_millis(200))
        .build()
        .unwrap();
    let a = client.get(&url).await.unwrap();
    let id = a.connection().id;
    a.bytes().await.unwrap();
    let b = client.get(&url).await.unwrap();
    assert_eq!(b.connection().id, id, "reused while warm");
    b.bytes().await.unwrap();
    // The server sees the connection go once keep-warm has passed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ctx.live_per_thread().iter().sum::<usize>() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = client.get(&url).await.unwrap();
    assert_ne!(c.connection().id, id, "a new connection after keep-warm");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_idle_h2_connection_closes_after_keep_warm_but_not_under_a_stream() {
    let dir = tempdir("warm2");
    std::fs::write(dir.join("big.bin"), data(6 << 20)).unwrap();
    let (ctx, addr) = server(&dir);
    let base = format!("http://127.0.0.1:{}", addr.port());
    let client = HttpClient::builder()
        .version(HttpVersion::Http2)
        .keep_warm(Duration::from_millis(200))
        .build()
        .unwrap();
    let live = || ctx.live_per_thread().iter().sum::<usize>();
    // A stream still being read keeps its connection, past keep-warm.
    let r = client.get(&format!("{base}/files/big.bin")).await.unwrap();
    let id = r.connection().id;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(live(), 1, "the connection stays while its stream is open");
    assert_eq!(r.bytes().await.unwrap().len(), 6 << 20);
    // Idle now: the server sees it go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "h2 connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = client.get(&format!("{base}/echo")).await.unwrap();
    assert_ne!(r.connection().id, id);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A server that answers every request with `head` + "ok" and then closes
/// the connection; counts connections.
async fn closing_server(
    head: &'static str,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut b = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s
                    .write_all(format!("{head}Content-Length: 2\r\n\r\nok").as_bytes())
                    .await;
            });
        }
    });
    (addr, n)
}

#[tokio::test]
async fn servers_that_close_connections_get_one_per_request_and_lose_none() {
    for head in [
        "HTTP/1.1 200 OK\r\nConnection: close\r\n",
        "HTTP/1.0 200 OK\r\n",
    ] {
        let (addr, conns) = closing_server(head).await;
        let url = format!("http://127.0.0.1:{}/", addr.port());
        let client = HttpClient::new();
        let out = join_all((0..8).map(|_| async {
            let r = client.get(&url).await?;
            r.text().await
        }))
        .await;
        for r in out {
            assert_eq!(r.unwrap(), "ok", "{head:?}");
        }
        assert_eq!(
            conns.load(std::sync::atomic::Ordering::SeqCst),
            8,
            "{head:?}"
        );
        assert_eq!(client.stats().transactions, 8);
    }
}

#[tokio::test]
async fn requests_queued_on_a_leader_that_cannot_connect_each_get_the_error() {
    let refusing = Refusing::new();
    let url = format!("http://127.0.0.1:{}/", refusing.addr.port());
    let client = HttpClient::new();
    let out = join_all((0..8).map(|_| client.get(&url))).await;
    for r in out {
        let e = r.expect_err("nothing listens");
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    }
    assert_eq!(client.stats().tcp_connects, 1, "one leader tried");

    let client = HttpClient::builder()
        .leader_failure(LeaderFailure::RetryEach)
        .build()
        .unwrap();
    let out = join_all((0..8).map(|_| client.get(&url))).await;
    assert!(out
        .iter()
        .all(|r| matches!(r, Err(e) if e.kind() == ErrorKind::Refused)));
    assert_eq!(client.stats().tcp_connects, 8, "each tried on its own");
}

/// A server that accepts and then does `what` with each connection.
async fn odd_server(what: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            let mut b = [0u8; 4096];
            let _ = s.read(&mut b).await;
            if !what.is_empty() {
                let _ = s.write_all(what).await;
            }
            if what == b"close" {
                drop(s);
            } else {
                held.push(s);
            }
        }
    });
    addr
}

#[tokio::test]
async fn every_error_reason_is_reported() {
    let kind = |r: Result<rlws::client::Response, HttpError>| r.expect_err("must fail").kind();
    let client = HttpClient::builder()
        .connect_timeout(Duration::from_millis(300))
        .idle_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    assert_eq!(
        kind(client.get("http://nonexistent.invalid/").await),
        ErrorKind::Dns
    );
    let refusing = Refusing::new();
    assert_eq!(
        kind(
            client
                .get(&format!("http://127.0.0.1:{}/", refusing.addr.port()))
                .await
        ),
        ErrorKind::Refused
    );
    // Accepts but never answers: the TLS handshake runs into the connect
    // timeout, a plain request into the idle timeout.
    let silent = odd_server(b"").await;
    assert_eq!(
        kind(
            client
                .get(&format!("https://127.0.0.1:{}/", silent.port()))
                .await
        ),
        ErrorKind::Timeout
    );
    assert_eq!(
        kind(
            client
                .get(&format!("http://127.0.0.1:{}/", silent.port()))
                .await
        ),
        ErrorKind::Timeout
    );
    // The overall timeout.
    let r = client
        .request(
            Request::get(&format!("http://127.0.0.1:{}/", silent.port()))
                .unwrap()
                .timeout(Duration::from_millis(100)),
        )
        .await;
    assert!(matches!(r, Err(HttpError::Timeout)));
    // Not HTTP, or closed before the response.
    let garbage = odd_server(b"SSH-2.0-OpenSSH_9.2\r\n\r\n").await;
    assert_eq!(
        kind(
            client
                .get(&format!("http://127.0.0.1:{}/", garbage.port()))
                .await
        ),
        ErrorKind::Protocol
    );
    let closing = odd_server(b"close").await;
    assert_eq!(
        kind(
            client
                .get(&format!("http://127.0.0.1:{}/", closing.port()))
                .await
        ),
        ErrorKind::Protocol
    );
    // An untrusted certificate.
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    let dir = tempdir("errs");
    let (_ctx, addr) = server(&dir);
    let tls = tls_proxy(&cert, &key, addr).await;
    let url = format!("https://127.0.0.1:{}/echo", tls.port());
    assert_eq!(kind(client.get(&url).await), ErrorKind::Tls);
    // ...trusted through the CA, and with the insecure mode.
    for tls_opts in [
        rlws::TlsClientOptions {
            ca_pem: Some(ca.pem().into_bytes()),
            ..Default::default()
        },
        rlws::TlsClientOptions {
            insecure: true,
            ..Default::default()
        },
    ] {
        let c = HttpClient::builder().tls(tls_opts).build().unwrap();
        assert_eq!(c.get(&url).await.unwrap().status(), StatusCode::OK);
    }
    // A bad CA is a build error.
    let bad = rlws::TlsClientOptions {
        ca_pem: Some(b"not pem".to_vec()),
        ..Default::default()
    };
    assert_eq!(
        HttpClient::builder().tls(bad).build().unwrap_err().kind(),
        ErrorKind::Tls
    );
    // Bad requests.
    assert!(Request::get("ftp://x/").is_err());
    let r = client
        .request(Request::get(&url).unwrap().header("x", "a\nb"))
        .await;
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Request);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tls_sessions_resume_across_connections() {
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    let dir = tempdir("resume");
    let ctx = rlws::Context::builder()
        .threads(1)
        .vhost(
            rlws::Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .tls(rlws::TlsServerOptions::new(cert, key))
                .mount(rlws::Mount::new("/echo", Echo)),
        )
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("localhost").unwrap();
    let client = HttpClient::builder()
        .tls(rlws::TlsClientOptions {
            ca_pem: Some(ca.pem().into_bytes()),
            ..Default::default()
        })
        .share(false)
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}/echo", addr.port());
    for _ in 0..3 {
        let r = client.get(&url).await.unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2, "ALPN chose h2");
        r.bytes().await.unwrap();
    }
    let s = client.stats();
    assert_eq!(s.tls_handshakes, 3);
    assert!(s.tls_resumed >= 2, "{s:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Serves one gzip-encoded body (valid or cut short) per connection.
async fn gzip_server(body: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut b = [0u8; 4096];
            let n = s.read(&mut b).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&b[..n]).to_lowercase();
            let gz = req.contains("accept-encoding: gzip");
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nX-Asked: {gz}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        }
    });
    addr
}

#[tokio::test]
async fn gzip_bodies_are_decoded_when_asked() {
    use std::io::Write;
    let plain = data(1_000_000);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let addr = gzip_server(gz.clone()).await;
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let client = HttpClient::builder().gzip(true).build().unwrap();
    let r = client.get(&url).await.unwrap();
    assert_eq!(r.headers()["x-asked"], "true");
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().await.unwrap(), plain);
    // Not asked: the bytes as sent.
    let r = HttpClient::new().get(&url).await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), gz);
    // Cut short: an error, not a silently short body.
    let cut = gzip_server(gz[..gz.len() / 2].to_vec()).await;
    let r = client
        .get(&format!("http://127.0.0.1:{}/", cut.port()))
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap_err().kind(), ErrorKind::Protocol);
}

#[tokio::test]
async fn client_certificates_for_servers_that_require_one() {
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1"]);
    let (ccert, ckey) = ca.leaf(&["client.test"]);
    let mut tls = rlws::TlsServerOptions::new(cert, key);
    tls.client_ca_pem = Some(ca.pem().into_bytes());
    tls.client_auth = rlws::ClientAuth::Required;
    let ctx = rlws::Context::builder()
        .threads(1)
        .vhost(
            rlws::Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .tls(tls)
                .mount(rlws::Mount::new("/echo", Echo)),
        )
        .start()
        .unwrap();
    let url = format!(
        "https://127.0.0.1:{}/echo",
        ctx.vhost_addr("localhost").unwrap().port()
    );
    let with = HttpClient::builder()
        .tls(rlws::TlsClientOptions {
            ca_pem: Some(ca.pem().into_bytes()),
            client_cert_pem: Some((ccert.into_bytes(), ckey.into_bytes())),
            ..Default::default()
        })
        .build()
        .unwrap();
    let r = with
        .request(Request::post(&url).unwrap().body("with a certificate"))
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "with a certificate");
    let without = HttpClient::builder()
        .tls(rlws::TlsClientOptions {
            ca_pem: Some(ca.pem().into_bytes()),
            ..Default::default()
        })
        .build()
        .unwrap();
    let e = without.get(&url).await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Tls | ErrorKind::Protocol),
        "{e}"
    );
}

#[tokio::test]
async fn shared_requests_spread_over_at_most_n_h1_connections() {
    let dir = tempdir("maxconn");
    let (_ctx, addr) = server(&dir);
    let url = format!("http://127.0.0.1:{}/echo", addr.port());
    let client = HttpClient::builder()
        .version(HttpVersion::Http1)
        .max_connections_per_endpoint(4)
        .build()
        .unwrap();
    // The first finds out what the server speaks; then up to four run.
    for round in 0..2 {
        let out = join_all((0..16).map(|i| {
            let c = client.clone();
            let url = url.clone();
            async move {
                let r = c
                    .request(Request::post(&url).unwrap().body(format!("{i}")))
                    .await
                    .unwrap();
                let id = r.connection().id;
                (id, r.text().await.unwrap())
            }
        }))
        .await;
        for (i, (_, text)) in out.iter().enumerate() {
            assert_eq!(text, &i.to_string());
        }
        let mut ids: Vec<u64> = out.iter().map(|o| o.0).collect();
        ids.sort();
        ids.dedup();
        assert!(ids.len() <= 4, "round {round}: {ids:?}");
    }
    let s = client.stats();
    assert_eq!(s.transactions, 32);
    assert!(s.connections <= 4 && s.connections >= 2, "{s:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_request_given_up_on_frees_the_shared_connection_for_the_next() {
    // The first connection never answers; later ones do.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut first = true;
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            if std::mem::take(&mut first) {
                held.push(s);
                continue;
            }
            tokio::spawn(async move {
                let mut b = [0u8; 4096];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            });
        }
    });
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let client = HttpClient::new();
    let a = client.request(
        Request::get(&url)
            .unwrap()
            .timeout(Duration::from_millis(200)),
    );
    let b = async {
        // Queued behind `a` on the shared connection.
        tokio::time::timeout(Duration::from_secs(10), client.get(&url)).await
    };
    let (a, b) = tokio::join!(a, b);
    assert!(matches!(a, Err(HttpError::Timeout)), "{a:?}");
    let b = b
        .expect("the queued request did not wait out the idle timeout")
        .unwrap();
    assert_eq!(b.text().await.unwrap(), "ok");
}
