//! HTTP/1.1 behaviour of the built-in site and directory serving.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn embedded_site_index_assets_and_404() {
    let (_ctx, addr) = start(1);
    let r = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("content-type: text/html"));
    assert!(r.contains("server: rlws"));
    assert!(r.contains("rlws test page"));
    for (path, ty) in [
        ("/test.js", "text/javascript"),
        ("/lws-common.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let r = http_raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(
            r.starts_with("HTTP/1.1 200") && r.contains(ty),
            "{path}: {r}"
        );
    }
    let r = http_raw(
        addr,
        "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let r = http_raw(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 405") && r.contains("allow: GET, HEAD"),
        "{r}"
    );
    let r = http_raw(
        addr,
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 200") && !r.contains("rlws test page"),
        "{r}"
    );
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let (_ctx, addr) = start(1);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /404 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert_eq!(text.matches("HTTP/1.1 404").count(), 1, "{text}");
}

/// A client that shuts its sending side once its requests are out (as
/// `nc -N` does) still gets every answer, then the end of the connection.
#[tokio::test]
async fn a_half_closed_client_gets_its_answers() {
    let (_ctx, addr) = start(1);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the server ends the connection after answering")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(text.contains("rlws test page"), "{text}");
}

#[tokio::test]
async fn header_limits() {
    let (_ctx, addr) = start(1);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = http_raw(addr, &format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")).await;
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let long = "a".repeat(64 * 1024);
    let r = http_raw(
        addr,
        &format!("GET / HTTP/1.1\r\nHost: x\r\nX-Long: {long}\r\n\r\n"),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 431"), "{}", &r[..r.len().min(200)]);
    let r = http_raw(addr, "GARBAGE\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
}

#[tokio::test]
async fn slow_headers_time_out() {
    let (_ctx, addr) = start_with(rlws::test_site().threads(1).http(rlws::HttpOptions {
        header_timeout: Duration::from_secs(1),
        ..Default::default()
    }));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(
        r.is_ok(),
        "connection with incomplete headers was not closed"
    );
    // An idle keep-alive connection is closed after the same time.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let mut out = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(r.is_ok(), "idle keep-alive connection was not closed");
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "closed too early: {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn directory_root_with_default_document_and_no_traversal() {
    let dir = std::env::temp_dir().join(format!("rlws-http-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("index.html"), "<p>root index</p>").unwrap();
    std::fs::write(dir.join("sub/data.json"), "{\"a\":1}").unwrap();
    let (_ctx, addr) = start_with(
        rlws::test_site()
            .threads(1)
            .site(rlws::Files::new(dir.clone())),
    );
    let r = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 200") && r.contains("root index"),
        "{r}"
    );
    let r = http_raw(
        addr,
        "GET /sub/data.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        r.contains("application/json") && r.contains("{\"a\":1}"),
        "{r}"
    );
    for bad in [
        "/../../etc/passwd",
        "/sub/%2e%2e/%2e%2e/etc/passwd",
        "/%2e%2e%2fetc%2fpasswd",
    ] {
        let r = http_raw(
            addr,
            &format!("GET {bad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert!(!r.contains("root:"), "{bad}: {r}");
        assert!(
            r.starts_with("HTTP/1.1 400") || r.starts_with("HTTP/1.1 404"),
            "{bad}: {r}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn changed_files_are_served_fresh() {
    let dir = std::env::temp_dir().join(format!("rlws-http-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_ctx, addr) = start_with(
        rlws::test_site()
            .threads(1)
            .site(rlws::Files::new(dir.clone())),
    );
    let get = |path: &'static str| async move {
        http_raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await
    };
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let write_old = |name: &str, body: &str| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        use std::io::Write;
        (&f).write_all(body.as_bytes()).unwrap();
        f.set_modified(hour_ago).unwrap();
    };
    // A settled file is kept in the thread's cache; rewriting it (same
    // size) changes its modification time and is noticed.
    write_old("a.txt", "first");
    assert!(get("/a.txt").await.ends_with("first"));
    assert!(get("/a.txt").await.ends_with("first"));
    std::fs::write(dir.join("a.txt"), "again").unwrap();
    let r = get("/a.txt").await;
    assert!(r.ends_with("again"), "{r}");
    // A file modified just now is read on every request, even when it
    // changes again within the file system's timestamp granularity.
    std::fs::write(dir.join("b.txt"), "1111").unwrap();
    assert!(get("/b.txt").await.ends_with("1111"));
    std::fs::write(dir.join("b.txt"), "2222").unwrap();
    assert!(get("/b.txt").await.ends_with("2222"));
    // Removed: 404.
    std::fs::remove_file(dir.join("b.txt")).unwrap();
    assert!(get("/b.txt").await.starts_with("HTTP/1.1 404"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_vhost_without_mounts_answers_404_and_still_upgrades() {
    let ctx = rlws::Context::builder()
        .threads(1)
        .protocol(rlws::builtin::Echo::default())
        .vhost(rlws::Vhost::new(
            "bare.test",
            "127.0.0.1:0".parse().unwrap(),
        ))
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("bare.test").unwrap();
    let r = http_raw(
        addr,
        "GET / HTTP/1.1\r\nHost: bare.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(!r.contains("dumb-increment"), "no test page: {r}");
    let mut ws = raw_connect(addr, "/", Some("rlws-echo")).await;
    ws.send(&frame(0x1, true, b"still here")).await;
    assert_eq!(ws.frame().await, Some((0x1, b"still here".to_vec())));
}

/// A user origin: reads the request body as it streams in and answers with
/// what it saw.
#[derive(Debug)]
struct Counter;

impl rlws::Origin for Counter {
    fn serve<'a>(
        &'a self,
        req: rlws::OriginRequest<'a>,
    ) -> rlws::BoxFuture<'a, http::Response<rlws::Body>> {
        Box::pin(async move {
            use http_body_util::BodyExt;
            let rest = req.path_in_mount().to_string();
            let local = req.peer().ip().is_loopback();
            let method = req.request().method().clone();
            let mut body = req.into_request().into_body();
            let mut bytes = 0usize;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    bytes += data.len();
                }
            }
            rlws::text(
                http::StatusCode::CREATED,
                &format!("{method} {rest} {bytes} bytes local={local}"),
            )
        })
    }
}

/// Answers with the request body itself: each piece goes back out as it
/// arrives, so a client can only get an answer to a piece it has sent.
#[derive(Debug)]
struct Mirror;

impl rlws::Origin for Mirror {
    fn serve<'a>(
        &'a self,
        req: rlws::OriginRequest<'a>,
    ) -> rlws::BoxFuture<'a, http::Response<rlws::Body>> {
        Box::pin(async move { http::Response::new(req.into_request().into_body()) })
    }
}

fn origin_site() -> rlws::ContextBuilder {
    rlws::Context::builder().threads(1).vhost(
        rlws::Vhost::new("o.test", "127.0.0.1:0".parse().unwrap())
            .mount(rlws::Mount::new("/count", Counter).header("x-mount", "count"))
            .mount(rlws::Mount::new("/mirror", Mirror)),
    )
}

#[tokio::test]
async fn a_user_origin_gets_the_body_and_the_path_below_its_mount() {
    let ctx = origin_site().start().unwrap();
    let addr = ctx.vhost_addr("o.test").unwrap();
    let r = http_raw(
        addr,
        "POST /count/a/b?q=1 HTTP/1.1\r\nHost: o.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n1\r\n!\r\n0\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    assert!(r.contains("POST /a/b 12 bytes local=true"), "{r}");
    assert!(r.contains("x-mount: count"), "mount headers added: {r}");
    assert!(r.contains("server: rlws"), "server header added: {r}");
    // Paths outside the mount are not the origin's.
    let r = http_raw(
        addr,
        "GET /counter HTTP/1.1\r\nHost: o.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

#[tokio::test]
async fn an_origin_streams_the_request_body_and_its_answer_piece_by_piece() {
    let ctx = origin_site().start().unwrap();
    let addr = ctx.vhost_addr("o.test").unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"PUT /mirror HTTP/1.1\r\nHost: o.test\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    for piece in ["first piece", "second piece", "third piece"] {
        s.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
        // The answer to this piece must come before the next is sent.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&seen).contains(piece) {
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!("no answer to {piece:?}: {}", String::from_utf8_lossy(&seen))
                })
                .unwrap();
            assert!(n > 0, "closed early");
            seen.extend_from_slice(&buf[..n]);
        }
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
}

#[tokio::test]
async fn a_large_file_is_streamed_whole_with_its_length() {
    let dir = std::env::temp_dir().join(format!("rlws-http-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Larger than the 2 MiB cache limit: read in pieces, never whole.
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &data).unwrap();
    let (_ctx, addr) = start_with(
        rlws::Context::builder()
            .threads(1)
            .site(rlws::Files::new(dir.clone())),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", data.len())),
        "{head}"
    );
    assert!(head.contains("etag: "), "{head}");
    assert!(out[split..] == data[..], "body differs");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_cached_large_file_goes_out_whole_on_a_kept_alive_connection() {
    let dir = std::env::temp_dir().join(format!("rlws-http-sendfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let content =
        |seed: u8| -> Vec<u8> { (0..1u32 << 20).map(|i| (i % 253) as u8 ^ seed).collect() };
    // Settled (an hour old): kept in the cache, and sent from the file on
    // plain TCP.
    let path = dir.join("m.bin");
    let write = |data: &[u8], mtime: std::time::SystemTime| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        use std::io::Write;
        (&f).write_all(data).unwrap();
        f.set_modified(mtime).unwrap();
    };
    write(
        &content(0),
        std::time::SystemTime::now() - Duration::from_secs(3600),
    );
    let (_ctx, addr) = start_with(
        rlws::Context::builder()
            .threads(1)
            .site(rlws::Files::new(dir.clone())),
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut pending = Vec::new();
    // Reads one response with a body of Content-Length bytes.
    async fn response(s: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> (String, Vec<u8>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end + 4]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("no length: {head}"));
                if pending.len() >= end + 4 + len {
                    let body = pending[end + 4..end + 4 + len].to_vec();
                    pending.drain(..end + 4 + len);
                    return (head, body);
                }
            }
            let mut buf = vec![0u8; 256 * 1024];
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .expect("a whole response within 20 s")
                .unwrap();
            assert!(n > 0, "closed early");
            pending.extend_from_slice(&buf[..n]);
        }
    }
    let get = b"GET /m.bin HTTP/1.1\r\nHost: x\r\n\r\n";
    // The first read fills the cache; two pipelined ones come from it.
    for round in [1, 2] {
        for _ in 0..round {
            s.write_all(get).await.unwrap();
        }
        for _ in 0..round {
            let (head, body) = response(&mut s, &mut pending).await;
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(body == content(0), "body differs");
        }
    }
    // Rewritten in place (same size, a new modification time): the next
    // request on the same connection gets the new bytes, whole.
    write(
        &content(7),
        std::time::SystemTime::now() - Duration::from_secs(1800),
    );
    s.write_all(get).await.unwrap();
    s.write_all(b"HEAD /m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = response(&mut s, &mut pending).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(body == content(7), "body differs after the change");
    let mut rest = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut rest))
        .await
        .unwrap()
        .unwrap();
    pending.extend_from_slice(&rest[..n]);
    let head = String::from_utf8_lossy(&pending).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 1048576"), "{head}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_websocket_route_is_a_mount_upgrades_below_it_and_plain_http_gets_426() {
    let (_ctx, addr) = start(1);
    let r = http_raw(
        addr,
        "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 426"), "{r}");
    assert!(r.contains("upgrade: websocket"), "{r}");
    assert!(r.contains("server: rlws"), "{r}");
    // Below the route's mountpoint, upgrades run its protocol too.
    let mut ws = raw_connect(addr, "/echo/deeper", None).await;
    assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
    ws.send(&frame(0x1, true, b"routed")).await;
    assert_eq!(ws.frame().await, Some((0x1, b"routed".to_vec())));
    // Elsewhere the vhost's default protocol answers (the counter).
    let mut ws = raw_connect(addr, "/", None).await;
    let (op, n) = ws.frame().await.expect("a counter");
    assert_eq!(op, 0x1);
    assert!(std::str::from_utf8(&n)
        .unwrap()
        .trim()
        .parse::<u64>()
        .is_ok());
}
