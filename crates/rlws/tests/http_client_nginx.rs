//! The HTTP client against nginx (Debian's nginx-light), which logs the
//! connection and position of every request: sharing over HTTP/1.1 and h2,
//! POSTs, staggered starts, GOAWAY, the concurrent-stream limit, redirect
//! chains, and large downloads read slowly with bounded memory.

mod common;

use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use http::{Method, StatusCode};
use rlws::client::{ErrorKind, HttpClient, HttpError, HttpVersion, Multipart, Request};
use rlws_testkit::{LogLine, Nginx};

const LOCATIONS: &str = r#"
    location = /post { proxy_pass http://127.0.0.1:{port}/posted; }
    location = /posted { return 200 "posted\n"; }
    location = /r/start { absolute_redirect off; return 301 sub/../next; }
    location = /r/next { return 302 http://127.0.0.1:{port}/r/see; }
    location = /r/see { return 303 /1k.bin; }
    location = /r/keep { return 307 /post; }
    location = /r/loop { return 302 /r/loop; }
    location = /r/down { return 302 http://127.0.0.1:{port}/1k.bin; }
"#;

struct Site {
    nginx: Nginx,
    ca: TestCa,
}

impl Site {
    fn start(extra: &str) -> Site {
        let ca = TestCa::new("rlws test CA");
        let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
        let nginx = Nginx::start(&cert, &key, &format!("{LOCATIONS}\n{extra}"));
        std::fs::write(nginx.root.join("1k.bin"), vec![b'x'; 1024]).unwrap();
        Site { nginx, ca }
    }

    fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nginx.port)
    }

    fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.nginx.tls_port)
    }

    fn client(&self) -> rlws::client::HttpClientBuilder {
        HttpClient::builder().tls(rlws::TlsClientOptions {
            ca_pem: Some(self.ca.pem().into_bytes()),
            ..Default::default()
        })
    }

    /// Sparse files read as zeros.
    fn big_file(&self, name: &str, len: u64) {
        let f = std::fs::File::create(self.nginx.root.join(name)).unwrap();
        f.set_len(len).unwrap();
    }

    fn log(&self, n: usize) -> Vec<LogLine> {
        self.nginx.log_lines(n)
    }
}

fn connections(lines: &[LogLine]) -> Vec<u64> {
    let mut c: Vec<u64> = lines.iter().map(|l| l.connection).collect();
    c.sort();
    c.dedup();
    c
}

#[tokio::test]
async fn eight_shared_gets_use_one_connection_over_h1_and_h2_and_eight_without() {
    let site = Site::start("");
    // HTTP/1.1: one connection, requests in order on it.
    let client = site.client().build().unwrap();
    let url = site.http("/1k.bin");
    let out = join_all((0..8).map(|i| {
        let c = client.clone();
        let url = format!("{url}?n={i}");
        async move { c.get(&url).await.unwrap().bytes().await.unwrap().len() }
    }))
    .await;
    assert!(out.iter().all(|&n| n == 1024));
    let log = site.log(8);
    assert_eq!(log.len(), 8, "{log:?}");
    assert_eq!(connections(&log).len(), 1, "{log:?}");
    for (i, l) in log.iter().enumerate() {
        assert_eq!(l.request, format!("GET /1k.bin?n={i} HTTP/1.1"), "in order");
        assert_eq!(l.position, i as u64 + 1);
    }
    assert_eq!(client.stats().to_string(), "8 transactions on 1 connection");

    // h2 over TLS: one connection, all eight streams on it.
    let client = site.client().build().unwrap();
    let out =
        join_all((0..8).map(|_| client.request(Request::get(&site.https("/1k.bin")).unwrap())))
            .await;
    for r in out {
        let r = r.unwrap();
        assert_eq!(r.version(), http::Version::HTTP_2);
        assert_eq!(r.bytes().await.unwrap().len(), 1024);
    }
    let log = site.log(16);
    let h2: Vec<_> = log[8..].to_vec();
    assert!(h2.iter().all(|l| l.request.ends_with("HTTP/2.0")), "{h2:?}");
    assert_eq!(connections(&h2).len(), 1, "{h2:?}");
    assert_eq!(client.stats().tls_handshakes, 1);

    // Not shared: eight connections, over both.
    for (url, version) in [
        (site.http("/1k.bin"), "HTTP/1.1"),
        (site.https("/1k.bin"), "HTTP/2.0"),
    ] {
        let before = site.log(0).len();
        let client = site.client().share(false).build().unwrap();
        let out = join_all((0..8).map(|_| client.get(&url))).await;
        assert!(out
            .into_iter()
            .all(|r| r.unwrap().status() == StatusCode::OK));
        let log = site.log(before + 8);
        let mine: Vec<_> = log[before..].to_vec();
        assert!(mine.iter().all(|l| l.request.ends_with(version)));
        assert_eq!(connections(&mine).len(), 8, "{mine:?}");
        assert_eq!(client.stats().connections, 8);
    }
}

#[tokio::test]
async fn shared_multipart_posts_arrive_whole_in_order() {
    let site = Site::start("");
    let dir = std::env::temp_dir().join(format!("rlws-nginx-post-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    for (url, h2) in [(site.http("/post"), false), (site.https("/post"), true)] {
        let before = site.log(0).len();
        let client = site.client().build().unwrap();
        let mut lens = Vec::new();
        let reqs: Vec<_> = (0..8)
            .map(|i| {
                let form = Multipart::new()
                    .text("n", &i.to_string())
                    .file("f", &file)
                    .unwrap();
                let body = form.into_body();
                lens.push(body.len().unwrap());
                Request::post(&format!("{url}?n={i}")).unwrap().body(body)
            })
            .collect();
        let out = join_all(reqs.into_iter().map(|r| client.request(r))).await;
        for r in out {
            assert_eq!(r.unwrap().text().await.unwrap(), "posted\n");
        }
        // Each request shows twice: as sent, and as nginx passed it on.
        let log = site.log(before + 16);
        let mine: Vec<LogLine> = log[before..]
            .iter()
            .filter(|l| l.request.starts_with("POST /post?"))
            .cloned()
            .collect();
        assert_eq!(mine.len(), 8, "{log:?}");
        assert_eq!(connections(&mine).len(), 1, "{mine:?}");
        for l in &mine {
            let i: usize = l
                .request
                .split("?n=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(l.request.starts_with("POST /post"));
            // nginx counts the request line, the headers and the body it read.
            assert!(l.request_length >= lens[i], "{l:?} < {}", lens[i]);
        }
        if !h2 {
            let order: Vec<String> = mine.iter().map(|l| l.request.clone()).collect();
            let want: Vec<String> = (0..8)
                .map(|i| format!("POST /post?n={i} HTTP/1.1"))
                .collect();
            assert_eq!(order, want, "h1 runs them in order");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn staggered_requests_reuse_the_warm_connection() {
    let site = Site::start("");
    for url in [site.http("/1k.bin"), site.https("/1k.bin")] {
        let client = site.client().build().unwrap();
        let tasks = (0..8).map(|i| {
            let c = client.clone();
            let url = url.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(30 * i)).await;
                c.get(&url).await.unwrap().bytes().await.unwrap().len()
            }
        });
        assert!(join_all(tasks).await.iter().all(|&n| n == 1024));
        let s = client.stats();
        assert_eq!((s.transactions, s.connections), (8, 1), "{url}: {s:?}");
    }
}

#[tokio::test]
async fn goaway_moves_the_rest_to_a_new_connection_and_streams_wait_for_the_limit() {
    // nginx ends an h2 connection with GOAWAY after 3 requests, and allows
    // 2 concurrent streams.
    let site = Site::start("keepalive_requests 3; http2_max_concurrent_streams 2;");
    let client = site.client().build().unwrap();
    let out =
        join_all((0..8).map(|i| {
            client.request(Request::get(&site.https(&format!("/1k.bin?n={i}"))).unwrap())
        }))
        .await;
    for r in out {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().len(), 1024);
    }
    let log = site.log(8);
    assert_eq!(log.len(), 8, "every request served once: {log:?}");
    assert!(connections(&log).len() >= 3, "{log:?}");
    assert!(log.iter().all(|l| l.position <= 3), "{log:?}");
}

#[tokio::test]
async fn redirect_chains() {
    let site = Site::start("");
    let client = site.client().build().unwrap();
    // Relative, then absolute, then 303: a POST arrives as GET at the end.
    let r = client
        .request(Request::post(&site.http("/r/start")).unwrap().body("data"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.redirects(), 3);
    assert_eq!(r.url().path(), "/1k.bin");
    assert_eq!(r.bytes().await.unwrap().len(), 1024);
    let log = site.log(4);
    let reqs: Vec<&str> = log.iter().map(|l| l.request.as_str()).collect();
    assert_eq!(
        reqs,
        [
            "POST /r/start HTTP/1.1",
            "GET /r/next HTTP/1.1",
            "GET /r/see HTTP/1.1",
            "GET /1k.bin HTTP/1.1"
        ]
    );
    // 307 repeats the POST with its body.
    let r = client
        .request(
            Request::post(&site.http("/r/keep"))
                .unwrap()
                .body(vec![1u8; 5000]),
        )
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "posted\n");
    let log = site.log(6);
    assert_eq!(log[5].request, "POST /post HTTP/1.1");
    assert!(log[5].request_length >= 5000);
    // A loop: the fifth redirect is an error.
    let e = client.get(&site.http("/r/loop")).await.unwrap_err();
    assert!(matches!(e, HttpError::TooManyRedirects(5)), "{e}");
    assert_eq!(e.kind(), ErrorKind::Redirect);
    // https -> http is refused, unless allowed.
    let e = client.get(&site.https("/r/down")).await.unwrap_err();
    assert!(matches!(e, HttpError::Downgrade(_)), "{e}");
    let allowing = site.client().allow_downgrade(true).build().unwrap();
    assert_eq!(
        allowing.get(&site.https("/r/down")).await.unwrap().status(),
        StatusCode::OK
    );
    // Not followed: the redirect itself; a hook can stop one.
    let r = client
        .request(
            Request::get(&site.http("/r/see"))
                .unwrap()
                .follow_redirects(false),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let hooked = site
        .client()
        .redirect_hook(|s| s.to.path() != "/r/see")
        .build()
        .unwrap();
    let r = hooked.get(&site.http("/r/next")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let _ = Method::GET;
}

fn rss_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_read_slowly_keeps_memory_bounded_over_h1_and_h2() {
    let site = Site::start("");
    site.big_file("1g.bin", 1 << 30);
    for (url, version) in [
        (site.http("/1g.bin"), HttpVersion::Http1),
        (site.https("/1g.bin"), HttpVersion::Http2),
    ] {
        let client = site.client().version(version).build().unwrap();
        let before = rss_kib("VmRSS:");
        let r = client.get(&url).await.unwrap();
        let mut body = r.into_body();
        let mut n: u64 = 0;
        let mut next_pause = 128 << 20;
        let mut paused = (0, 0);
        while let Some(c) = body.chunk().await.unwrap() {
            assert!(c.iter().all(|&b| b == 0) || c.is_empty());
            n += c.len() as u64;
            if n >= next_pause {
                // A consumer that stops for a while: the server is held back,
                // nothing piles up here.
                let a = rss_kib("VmRSS:");
                tokio::time::sleep(Duration::from_millis(300)).await;
                let b = rss_kib("VmRSS:");
                paused = (paused.0.max(a), paused.1.max(b));
                next_pause += 128 << 20;
            }
        }
        assert_eq!(n, 1 << 30);
        let peak = rss_kib("VmHWM:");
        eprintln!(
            "{version:?}: RSS before {before} KiB, peak {peak} KiB, max at pauses {} -> {} KiB",
            paused.0, paused.1
        );
        assert!(
            peak.saturating_sub(before) < 48 * 1024,
            "{version:?}: grew {} KiB",
            peak - before
        );
        assert!(
            paused.1 <= paused.0 + 4096,
            "{version:?}: grew while paused: {paused:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_h2_streams_of_100_mib_complete_together() {
    let site = Site::start("");
    site.big_file("100m.bin", 100 << 20);
    let client = site.client().version(HttpVersion::Http2).build().unwrap();
    let out = join_all((0..8).map(|i| {
        let c = client.clone();
        let url = site.https(&format!("/100m.bin?n={i}"));
        tokio::spawn(async move {
            let r = c.get(&url).await.unwrap();
            let id = r.connection().id;
            let mut body = r.into_body();
            let mut n = 0u64;
            while let Some(c) = body.chunk().await.unwrap() {
                n += c.len() as u64;
            }
            (id, n)
        })
    }))
    .await;
    let out: Vec<(u64, u64)> = out.into_iter().map(Result::unwrap).collect();
    assert!(
        out.iter().all(|&(id, n)| id == out[0].0 && n == 100 << 20),
        "{out:?}"
    );
    assert_eq!(client.stats().connections, 1);
}

/// lws' multi-request example is its acceptance test for sharing; rlws'
/// `http_client_multi` example runs the same way against nginx.
#[test]
fn the_multi_request_example_shares_connections_only_when_pipelined() {
    let site = Site::start("");
    let example = example("http_client_multi");
    let ca = std::env::temp_dir().join(format!("rlws-multi-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, site.ca.pem()).unwrap();
    let run = |url: &str, flags: &[&str]| {
        let out = std::process::Command::new(&example)
            .arg(url)
            .args(flags)
            .arg("--ca")
            .arg(&ca)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{url} {flags:?}: {text}");
        text
    };
    for url in [site.http("/1k.bin"), site.https("/1k.bin")] {
        assert!(run(&url, &["--pipeline"]).contains("8 transactions on 1 connection\n"));
        assert!(run(&url, &[]).contains("8 transactions on 8 connections\n"));
        assert!(
            run(&url, &["--pipeline", "--stagger"]).contains("8 transactions on 1 connection\n")
        );
    }
    let https_post = site.https("/post");
    assert!(
        run(&https_post, &["--pipeline", "--post"]).contains("8 transactions on 1 connection\n")
    );
    assert!(run(&https_post, &["--pipeline", "--post", "--h1"])
        .contains("8 transactions on 1 connection\n"));
    let posts = site
        .log(0)
        .iter()
        .filter(|l| l.request.starts_with("POST /post "))
        .count();
    assert_eq!(posts, 16);
    std::fs::remove_file(&ca).unwrap();
}
