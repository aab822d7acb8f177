//! Metrics: what the service threads count, served by `OpenMetrics` in
//! Prometheus' text format; the counts checked against the requests and
//! messages a test made, the text linted by `promtool check metrics`, and
//! scraped by a real Prometheus server. Needs Debian's `prometheus`
//! package (`bash scripts/install-test-deps.sh`).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{dechunk, frame, free_port, http_raw, raw_connect_host, tempdir, Echo};
use rlws::{Context, Mount, OpenMetrics, Vhost};

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Two vhosts on one port, on two service threads: `alpha.test` with
/// `/metrics`, a body echo, files and a WebSocket echo; `beta.test` with
/// files.
fn start(dir: &Path) -> (Context, SocketAddr) {
    std::fs::write(dir.join("a.txt"), vec![b'a'; 1000]).unwrap();
    let ctx = Context::builder()
        .threads(2)
        .protocol(rlws::builtin::Echo::default())
        .vhost(
            Vhost::new("alpha.test", any())
                .mount(Mount::new("/metrics", OpenMetrics))
                .mount(Mount::new("/echo", Echo))
                .mount(Mount::dir("/files", dir))
                .ws_path("/ws", "rlws-echo"),
        )
        .vhost(Vhost::new("beta.test", any()).mount(Mount::dir("/files", dir)))
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("alpha.test").unwrap();
    (ctx, addr)
}

/// One request on its own connection: (status, head, body).
async fn request(addr: SocketAddr, host: &str, line: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut req = format!("{line} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    // The bodies here are ASCII.
    req.push_str(std::str::from_utf8(body).unwrap());
    let answer = http_raw(addr, &req).await;
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body.as_bytes())
    } else {
        body.as_bytes().to_vec()
    };
    (status, head.to_string(), body)
}

/// The samples of a text exposition, by name with labels.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("name and value");
            (k.to_string(), v.parse().expect("a number"))
        })
        .collect()
}

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in {s:#?}"))
}

#[tokio::test]
async fn counts_follow_the_requests_and_messages_made() {
    let dir = tempdir("metrics-counts");
    let (_ctx, addr) = start(&dir);
    let mut alpha_body_bytes = 0;
    for _ in 0..3 {
        let (status, _, body) = request(addr, "alpha.test", "GET /files/a.txt", b"").await;
        assert_eq!((status, body.len()), (200, 1000));
        alpha_body_bytes += body.len();
    }
    for _ in 0..2 {
        let (status, _, body) = request(addr, "alpha.test", "GET /files/nothing", b"").await;
        assert_eq!(status, 404);
        alpha_body_bytes += body.len();
    }
    let upload = vec![b'u'; 5000];
    let (status, _, body) = request(addr, "alpha.test", "POST /echo", &upload).await;
    assert_eq!((status, body.len()), (200, 5000));
    alpha_body_bytes += body.len();
    let (status, _, _) = request(addr, "beta.test", "GET /files/a.txt", b"").await;
    assert_eq!(status, 200);

    // Four whole messages and one in two fragments, echoed, then a close.
    let mut ws = raw_connect_host(addr, "alpha.test", "/ws", None).await;
    for _ in 0..4 {
        ws.send(&frame(1, true, b"hello")).await;
        assert_eq!(ws.frame().await, Some((1, b"hello".to_vec())));
    }
    ws.send(&frame(2, false, b"abc")).await;
    ws.send(&frame(0, true, b"def")).await;
    let mut echoed = Vec::new();
    while echoed.len() < 6 {
        let (_, p) = ws.frame().await.expect("the echo");
        echoed.extend(p);
    }
    assert_eq!(echoed, b"abcdef");
    ws.send(&frame(8, true, &1000u16.to_be_bytes())).await;
    assert_eq!(ws.close_code().await, Some(1000));
    ws.expect_eof().await;
    drop(ws);

    // A connection's count ends a moment after the client sees it close:
    // scrape until only the scrape's own connection is open.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut scrapes = 0;
    let mut earlier_scrapes_bytes = 0;
    let (s, text) = loop {
        let (status, head, body) = request(addr, "alpha.test", "GET /metrics", b"").await;
        scrapes += 1;
        assert_eq!(status, 200);
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        let text = String::from_utf8(body).unwrap();
        let s = samples(&text);
        let open = value(&s, "rlws_connections_open{thread=\"0\"}")
            + value(&s, "rlws_connections_open{thread=\"1\"}");
        if open == 1.0 {
            break (s, text);
        }
        earlier_scrapes_bytes += text.len();
        assert!(Instant::now() < deadline, "connections still open: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let v = |k: &str| value(&s, k);

    // 3 + 2 + 1 + 1 requests, the WebSocket and the scrapes.
    assert_eq!(
        v("rlws_connections_accepted_total"),
        8.0 + f64::from(scrapes),
        "{text}"
    );
    assert_eq!(v("rlws_connections_refused_total"), 0.0);

    let resp = |vhost: &str, class: &str| {
        v(&format!(
            "rlws_http_responses_total{{vhost=\"{vhost}\",code=\"{class}\"}}"
        ))
    };
    // A scrape's own answer is counted after its text was made.
    assert_eq!(
        resp("alpha.test", "2xx"),
        4.0 + f64::from(scrapes - 1),
        "{text}"
    );
    assert_eq!(resp("alpha.test", "4xx"), 2.0);
    assert_eq!(resp("alpha.test", "1xx"), 1.0, "the upgrade");
    assert_eq!(resp("alpha.test", "5xx"), 0.0);
    assert_eq!(resp("beta.test", "2xx"), 1.0);
    assert_eq!(resp("beta.test", "4xx"), 0.0);
    assert_eq!(
        v("rlws_http_request_body_bytes_total{vhost=\"alpha.test\"}"),
        5000.0
    );
    assert_eq!(
        v("rlws_http_request_body_bytes_total{vhost=\"beta.test\"}"),
        0.0
    );
    // Earlier scrapes' text counts too.
    assert_eq!(
        v("rlws_http_response_body_bytes_total{vhost=\"alpha.test\"}"),
        (alpha_body_bytes + earlier_scrapes_bytes) as f64,
        "{text}"
    );
    assert_eq!(
        v("rlws_http_response_body_bytes_total{vhost=\"beta.test\"}"),
        1000.0
    );
    assert_eq!(v("rlws_ws_upgrades_total{vhost=\"alpha.test\"}"), 1.0);
    assert_eq!(v("rlws_ws_upgrades_total{vhost=\"beta.test\"}"), 0.0);

    let ws = |name: &str| v(&format!("{name}{{protocol=\"rlws-echo\"}}"));
    assert_eq!(ws("rlws_ws_connections_total"), 1.0);
    assert_eq!(ws("rlws_ws_connections_open"), 0.0);
    assert_eq!(ws("rlws_ws_messages_received_total"), 5.0, "{text}");
    assert_eq!(ws("rlws_ws_received_bytes_total"), 26.0);
    assert_eq!(ws("rlws_ws_messages_sent_total"), 5.0, "{text}");
    assert_eq!(ws("rlws_ws_sent_bytes_total"), 26.0);
    assert_eq!(
        v(&format!(
            "rlws_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    // HEAD gives the length, no body; other methods are refused.
    let (status, head, body) = request(addr, "alpha.test", "HEAD /metrics", b"").await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(
        head.to_ascii_lowercase().contains("content-length: "),
        "{head}"
    );
    let (status, head, _) = request(addr, "alpha.test", "POST /metrics", b"x").await;
    assert_eq!(status, 405);
    assert!(
        head.to_ascii_lowercase().contains("allow: get, head"),
        "{head}"
    );
}

/// Fails with how to install the program if it is missing.
fn need(path: &str) -> &str {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run `bash scripts/install-test-deps.sh` (installs Debian's prometheus package)"
    );
    path
}

#[tokio::test]
async fn promtool_finds_nothing_wrong_with_the_text() {
    let promtool = need("/usr/bin/promtool");
    let dir = tempdir("metrics-promtool");
    let (_ctx, addr) = start(&dir);
    // Some of every family first, so that every kind of sample is there.
    request(addr, "beta.test", "GET /files/a.txt", b"").await;
    let mut ws = raw_connect_host(addr, "alpha.test", "/ws", None).await;
    ws.send(&frame(1, true, b"hi")).await;
    assert_eq!(ws.frame().await, Some((1, b"hi".to_vec())));
    let (status, _, body) = request(addr, "alpha.test", "GET /metrics", b"").await;
    assert_eq!(status, 200);
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool: {said}");
    // promtool prints a line per lint problem.
    assert_eq!(said.trim(), "", "promtool lint: {said}");
}

/// A Prometheus server on 127.0.0.1, scraping `target` every second.
struct Prometheus {
    child: std::process::Child,
    api: SocketAddr,
}

impl Prometheus {
    fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let bin = need("/usr/bin/prometheus");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: rlws\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={api}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus { child, api }
    }

    /// The value of instant query `q`, once it has one.
    async fn query(&self, q: &str) -> Option<f64> {
        let req = format!(
            "GET /api/v1/query?query={q} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.api
        );
        // Not listening yet while it starts.
        let mut s = tokio::net::TcpStream::connect(self.api).await.ok()?;
        s.write_all(req.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
            .await
            .ok()?
            .ok()?;
        let answer = String::from_utf8_lossy(&answer);
        let body = answer.split_once("\r\n\r\n")?.1;
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[t,"N"]}]}}
        let at = body.find("\"value\":[")?;
        let rest = &body[at..];
        let start = rest.find(",\"")? + 2;
        let end = start + rest[start..].find('"')?;
        rest[start..end].parse().ok()
    }

    /// Waits until query `q` gives `want` (the server scrapes once a second).
    async fn wait_for(&self, q: &str, want: f64, log: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.query(q).await == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never saw {q} = {want} (last: {:?}); its log: {}",
                self.query(q).await,
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_prometheus_server_scrapes_the_counts() {
    let dir = tempdir("metrics-prometheus");
    let (_ctx, addr) = start(&dir);
    let prom = Prometheus::start(&dir, addr);
    let log = dir.join("prometheus.log");
    prom.wait_for("up", 1.0, &log).await;
    let mut ws = raw_connect_host(addr, "alpha.test", "/ws", None).await;
    for i in 0..3 {
        let m = format!("message {i}");
        ws.send(&frame(1, true, m.as_bytes())).await;
        assert_eq!(ws.frame().await, Some((1, m.into_bytes())));
    }
    prom.wait_for("rlws_ws_messages_received_total", 3.0, &log)
        .await;
    prom.wait_for("rlws_ws_connections_open", 1.0, &log).await;
    // The scrapes themselves: answered with 200 on the default vhost.
    let scrapes = prom
        .query("rlws_http_responses_total%7Bvhost%3D%22alpha.test%22%2Ccode%3D%222xx%22%7D")
        .await;
    assert!(scrapes.is_some_and(|n| n >= 1.0), "{scrapes:?}");
}
