//! CGI mounts with real programs: shell scripts that show their
//! environment and stream bodies both ways, broken and silent programs,
//! a client that goes away, HTTP/2 over TLS, and git's own
//! `git-http-backend` and Debian's `cgit`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ask, ask_body, chunked, serve_mounts, tempdir, trusting, Answer, TestCa};
use rlws::{Cgi, Context, Mount, TlsServerOptions, Vhost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes an executable `/bin/sh` script `name` into `dir`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// `NAME=value` lines of an `env` dump.
fn vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .take_while(|l| *l != "--body--")
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn var<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const ENV_SCRIPT: &str = "printf 'Content-Type: text/plain\\r\\nX-Script: yes\\r\\n\\r\\n'\n\
                          env\necho --body--\ncat";

/// Waits until process `pid` is gone from /proc (ended and waited for: a
/// zombie keeps its entry).
fn wait_gone(pid: u32) {
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "process {pid} still there: {}",
            state.lines().nth(2).unwrap_or("")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_script_sees_the_rfc_3875_environment_and_its_post_body() {
    let dir = tempdir("cgi-env");
    let s = script(
        &dir,
        "env.sh",
        &format!("echo $$ > {}/pid\n{ENV_SCRIPT}", dir.display()),
    );
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/cgi",
        Cgi::new(&s)
            .env("FROM_MOUNT", "yes")
            .env("PATH", "/usr/bin:/bin"),
    )]);
    let a = ask_body(
        addr,
        "POST",
        "/cgi/sub/p%20ath?x=1&y=2",
        &[
            ("Content-Type", "text/plain"),
            ("Content-Length", "11"),
            ("X-Test", "hi"),
            ("Proxy", "http://evil.example/"),
            ("Authorization", "Basic eDp5"),
            ("Cookie", "a=1"),
        ],
        b"hello world",
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-script"), Some("yes"));
    assert_eq!(a.header("content-type"), Some("text/plain"));
    let text = String::from_utf8(a.body.clone()).unwrap();
    let v = vars(&text);
    let port = addr.port().to_string();
    for (k, want) in [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", "/cgi"),
        ("PATH_INFO", "/sub/p ath"),
        ("QUERY_STRING", "x=1&y=2"),
        ("REQUEST_URI", "/cgi/sub/p%20ath?x=1&y=2"),
        ("CONTENT_LENGTH", "11"),
        ("CONTENT_TYPE", "text/plain"),
        ("HTTP_X_TEST", "hi"),
        ("HTTP_COOKIE", "a=1"),
        ("HTTP_HOST", "localhost"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", port.as_str()),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("SCRIPT_FILENAME", s.to_str().unwrap()),
        ("SCRIPT_PATH", s.to_str().unwrap()),
        ("FROM_MOUNT", "yes"),
        ("PATH", "/usr/bin:/bin"),
    ] {
        assert_eq!(var(&v, k), Some(want), "{k} in\n{text}");
    }
    assert!(var(&v, "SERVER_SOFTWARE").is_some_and(|s| s.starts_with("rlws/")));
    for absent in [
        "HTTP_PROXY",
        "HTTP_AUTHORIZATION",
        "HTTPS",
        "HOME",
        "CARGO",
        "HTTP_CONTENT_LENGTH",
    ] {
        assert_eq!(var(&v, absent), None, "{absent} in\n{text}");
    }
    assert!(text.ends_with("--body--\nhello world"), "{text}");
    // The program was waited for.
    let pid: u32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_gone(pid);
}

fn sha256(b: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[tokio::test]
async fn large_bodies_stream_through_the_program_both_ways() {
    let dir = tempdir("cgi-large");
    let sum = script(
        &dir,
        "sum.sh",
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"len=${CONTENT_LENGTH:-none}\"\nsha256sum | cut -d' ' -f1",
    );
    let zeros = script(
        &dir,
        "zeros.sh",
        "printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\nhead -c 40000000 /dev/zero",
    );
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new("/sum", Cgi::new(&sum)),
        Mount::new("/zeros", Cgi::new(&zeros)),
    ]);
    let data: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let len = data.len().to_string();
    let a = ask_body(addr, "POST", "/sum", &[("Content-Length", &len)], &data).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        format!("len={len}\n{}\n", sha256(&data))
    );
    // Chunked: no CONTENT_LENGTH, stdin ends with the body.
    let chunked = chunked(&data[..5_000_000], 70_000);
    let a = ask_body(
        addr,
        "POST",
        "/sum",
        &[("Transfer-Encoding", "chunked")],
        &chunked,
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        format!("len=none\n{}\n", sha256(&data[..5_000_000]))
    );
    // Output without a length goes out chunked.
    let a = ask(addr, "GET", "/zeros", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    assert_eq!(a.body.len(), 40_000_000);
    assert!(a.body.iter().all(|&b| b == 0));
}

#[tokio::test]
async fn status_location_length_and_broken_programs() {
    let dir = tempdir("cgi-heads");
    let mounts = [
        (
            "/teapot",
            "printf 'Status: 418 Teapot\\r\\nContent-Type: text/plain\\r\\n\\r\\nshort'",
        ),
        ("/redirect", "printf 'Location: /elsewhere\\n\\n'"),
        (
            "/length",
            "printf 'Content-Length: 5\\nContent-Type: text/plain\\n\\nhello world'",
        ),
        ("/garbage", "echo garbage"),
        ("/silent", "exit 3"),
        ("/nohead", "printf 'X-Only: 1\\n\\nbody'"),
        ("/informational", "printf 'Status: 100\\n\\n'"),
        (
            "/stderr",
            "echo 'to the log' >&2\nprintf 'Content-Type: text/plain\\n\\nok'",
        ),
    ];
    let mut ms: Vec<Mount> = mounts
        .iter()
        .map(|(mp, body)| Mount::new(mp, Cgi::new(script(&dir, &mp[1..], body))))
        .collect();
    ms.push(Mount::new(
        "/missing",
        Cgi::new(dir.join("no-such-program")),
    ));
    let (_ctx, addr) = serve_mounts(ms);
    let a = ask(addr, "GET", "/teapot", &[]).await;
    assert_eq!((a.status, a.body.as_slice()), (418, &b"short"[..]));
    let a = ask(addr, "GET", "/redirect", &[]).await;
    assert_eq!(a.status, 302);
    assert_eq!(a.header("location"), Some("/elsewhere"));
    let a = ask(addr, "GET", "/length", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length"), Some("5"));
    assert_eq!(a.body, b"hello");
    for bad in ["/garbage", "/silent", "/nohead", "/informational"] {
        let a = ask(addr, "GET", bad, &[]).await;
        assert_eq!(a.status, 502, "{bad}");
        assert!(
            String::from_utf8_lossy(&a.body).starts_with("bad CGI response: "),
            "{bad}: {:?}",
            String::from_utf8_lossy(&a.body)
        );
    }
    let a = ask(addr, "GET", "/missing", &[]).await;
    assert_eq!(a.status, 500);
    let a = ask(addr, "HEAD", "/stderr", &[]).await;
    assert_eq!(a.status, 200);
    assert!(a.body.is_empty());
}

#[tokio::test]
async fn a_silent_program_times_out_and_one_whose_client_left_is_killed() {
    let dir = tempdir("cgi-kill");
    let sleeper = script(
        &dir,
        "sleeper.sh",
        &format!("echo $$ > {}/sleeper\nexec sleep 300", dir.display()),
    );
    let ticker = script(
        &dir,
        "ticker.sh",
        &format!(
            "echo $$ > {d}/ticker\nsleep 300 &\necho $! > {d}/ticker-child\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nwhile :; do echo tick; sleep 0.05; done",
            d = dir.display()
        ),
    );
    let stall = script(
        &dir,
        "stall.sh",
        &format!(
            "echo $$ > {}/stall\nprintf 'Content-Type: text/plain\\r\\n\\r\\nstarted'\nexec sleep 300",
            dir.display()
        ),
    );
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new(
            "/sleeper",
            Cgi::new(&sleeper)
                .timeout(Duration::from_secs(1))
                .max_running(1),
        ),
        Mount::new("/ticker", Cgi::new(&ticker)),
        Mount::new("/stall", Cgi::new(&stall).timeout(Duration::from_secs(1))),
    ]);
    let pid = |name: &str| -> u32 {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // Silent before its head: 504, and the program is gone. While it runs,
    // a second request finds no room.
    let t = Instant::now();
    let first = tokio::spawn(async move { ask(addr, "GET", "/sleeper", &[]).await });
    while !dir.join("sleeper").exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = ask(addr, "GET", "/sleeper", &[]).await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("retry-after"), Some("1"));
    let a = first.await.unwrap();
    assert_eq!(a.status, 504);
    assert!(t.elapsed() < Duration::from_secs(10));
    wait_gone(pid("sleeper"));
    // Silent after its head: the body is cut off, the program killed.
    let a = raw_until_closed(addr, "/stall").await;
    assert!(a.contains("started"), "{a}");
    assert!(
        !a.ends_with("0\r\n\r\n"),
        "the body must not look complete: {a:?}"
    );
    wait_gone(pid("stall"));
    // The client goes away while the program writes: it is killed.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /ticker HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("tick") {
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
    let (ticker_pid, child_pid) = (pid("ticker"), pid("ticker-child"));
    drop(s);
    wait_gone(ticker_pid);
    // What it started went with it (its process group).
    wait_gone(child_pid);
}

/// A GET's raw response, read until the server closes.
#[tokio::test]
async fn a_program_that_chunks_its_own_output() {
    let dir = tempdir("cgi-chunked");
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new(
            "/chunked",
            Cgi::new(script(
                &dir,
                "chunked",
                // A length too, which the chunks override; bare LFs in the
                // framing; an extension and a trailer.
                "printf 'Content-Type: text/plain\\r\\nTransfer-Encoding: chunked\\r\\nContent-Length: 3\\r\\n\\r\\n5\\r\\nhello\\r\\n7;x=y\\n, world\\n'\nsleep 0.1\nprintf '1\\r\\n!\\r\\n0\\r\\nX-Trailer: t\\r\\n\\r\\n'",
            )),
        ),
        Mount::new(
            "/badchunks",
            Cgi::new(script(
                &dir,
                "badchunks",
                "printf 'Content-Type: text/plain\\nTransfer-Encoding: chunked\\n\\n5\\nhelloXYZ'",
            )),
        ),
        Mount::new(
            "/gzip",
            Cgi::new(script(
                &dir,
                "gzip",
                "printf 'Content-Type: text/plain\\nTransfer-Encoding: gzip\\n\\nx'",
            )),
        ),
    ]);
    let a = ask(addr, "GET", "/chunked", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b"hello, world!");
    // rlws frames it for the client again (no length was left).
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    assert_eq!(a.header("content-length"), None);
    // Broken framing cuts the answer off (hyper drops the connection on a
    // body error, what it had buffered with it): never a complete body.
    let raw = raw_until_closed(addr, "/badchunks").await;
    assert!(!raw.contains("0\r\n\r\n"), "{raw:?}");
    let a = ask(addr, "GET", "/gzip", &[]).await;
    assert_eq!(a.status, 502);
    assert!(
        String::from_utf8_lossy(&a.body)
            .contains("\"Transfer-Encoding: gzip\": only chunked is taken"),
        "{:?}",
        String::from_utf8_lossy(&a.body)
    );
}

async fn raw_until_closed(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("closed within 20 s");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn cgi_over_h2_and_tls_says_so_in_its_environment() {
    let dir = tempdir("cgi-h2");
    let s = script(&dir, "env.sh", ENV_SCRIPT);
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let v = Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
        .tls(TlsServerOptions::new(cert.into_bytes(), key.into_bytes()))
        .mount(Mount::new("/cgi", Cgi::new(&s)));
    let ctx = Context::builder().threads(1).vhost(v).start().unwrap();
    let addr = ctx.vhost_addr("localhost").unwrap();
    let client = rlws::client::HttpClient::builder()
        .tls(trusting(&ca))
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/cgi/x?q=1", addr.port());
    let r = client
        .request(
            rlws::client::Request::post(&url)
                .unwrap()
                .header("content-type", "text/plain")
                .body("over h2"),
        )
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    let v = vars(&text);
    let port = addr.port().to_string();
    for (k, want) in [
        ("SERVER_PROTOCOL", "HTTP/2"),
        ("HTTPS", "on"),
        ("REQUEST_SCHEME", "https"),
        ("HTTP_HOST", &*format!("localhost:{port}")),
        ("SERVER_NAME", "localhost"),
        ("SERVER_PORT", &*port),
        ("PATH_INFO", "/x"),
        ("QUERY_STRING", "q=1"),
    ] {
        assert_eq!(var(&v, k), Some(want), "{k} in\n{text}");
    }
    assert!(text.ends_with("--body--\nover h2"), "{text}");
}

/// Runs git with a clean configuration in `home`.
fn git(home: &Path, cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "rlws test")
        .env("GIT_AUTHOR_EMAIL", "test@rlws.invalid")
        .env("GIT_COMMITTER_NAME", "rlws test")
        .env("GIT_COMMITTER_EMAIL", "test@rlws.invalid")
        .output()
        .expect("git: install it with apt-get install git");
    assert!(
        out.status.success(),
        "git {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const BACKEND: &str = "/usr/lib/git-core/git-http-backend";

#[test]
fn git_pushes_and_clones_through_git_http_backend() {
    assert!(
        Path::new(BACKEND).exists(),
        "{BACKEND} missing: apt-get install git (scripts/install-test-deps.sh does)"
    );
    let dir = tempdir("cgi-git");
    let (home, srv, work) = (dir.join("home"), dir.join("srv"), dir.join("work"));
    for d in [&home, &srv, &work] {
        std::fs::create_dir_all(d).unwrap();
    }
    git(
        &home,
        &srv,
        &["init", "-q", "--bare", "-b", "main", "repo.git"],
    );
    // git's own program, behind a line of shell that notes each request.
    let requests = dir.join("requests");
    let backend = script(
        &dir,
        "backend.sh",
        &format!(
            "echo \"$REQUEST_METHOD ${{CONTENT_LENGTH:-chunked}} $PATH_INFO\" >> {}\nexec {BACKEND}",
            requests.display()
        ),
    );
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/git",
        Cgi::new(&backend)
            .env("GIT_PROJECT_ROOT", srv.to_str().unwrap())
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REMOTE_USER", "tester"),
    )]);
    let url = format!("http://127.0.0.1:{}/git/repo.git", addr.port());
    git(&home, &work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("hello.txt"), "hello through CGI\n").unwrap();
    // Past git's 1 MiB post buffer, and not compressible: the pack goes up
    // chunked.
    let mut big = vec![0u8; 3_000_000];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut big).unwrap();
    std::fs::write(work.join("big.bin"), &big).unwrap();
    git(&home, &work, &["add", "."]);
    git(&home, &work, &["commit", "-q", "-m", "first"]);
    git(&home, &work, &["push", "-q", &url, "main"]);
    // The server's repository has the commit.
    let log = git(
        &home,
        &srv.join("repo.git"),
        &["log", "--format=%s", "main"],
    );
    assert_eq!(log, "first\n");
    // A second commit, pushed; then a clone sees both.
    std::fs::write(work.join("hello.txt"), "hello again\n").unwrap();
    git(&home, &work, &["commit", "-q", "-am", "second"]);
    git(&home, &work, &["push", "-q", &url, "main"]);
    git(&home, &dir, &["clone", "-q", &url, "clone"]);
    let clone = dir.join("clone");
    assert_eq!(
        std::fs::read_to_string(clone.join("hello.txt")).unwrap(),
        "hello again\n"
    );
    assert!(std::fs::read(clone.join("big.bin")).unwrap() == big);
    let log = git(&home, &clone, &["log", "--format=%s"]);
    assert_eq!(log, "second\nfirst\n");
    // And a fetch of nothing new.
    git(&home, &clone, &["fetch", "-q", "origin"]);
    let seen = std::fs::read_to_string(&requests).unwrap();
    assert!(
        seen.lines()
            .any(|l| l == "POST chunked /repo.git/git-receive-pack"),
        "the big push goes up chunked:\n{seen}"
    );
    assert!(
        seen.lines()
            .any(|l| l.starts_with("POST ") && l.ends_with("/repo.git/git-upload-pack")),
        "{seen}"
    );
}

const CGIT: &str = "/usr/lib/cgit/cgit.cgi";

#[tokio::test]
async fn cgit_browses_a_repository() {
    assert!(
        Path::new(CGIT).exists(),
        "{CGIT} missing: apt-get install cgit (scripts/install-test-deps.sh does)"
    );
    let dir = tempdir("cgi-cgit");
    let (home, work) = (dir.join("home"), dir.join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    git(&home, &work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README"), "a repository browsed through rlws\n").unwrap();
    git(&home, &work, &["add", "."]);
    git(
        &home,
        &work,
        &["commit", "-q", "-m", "the commit cgit shows"],
    );
    let rc = dir.join("cgitrc");
    std::fs::write(
        &rc,
        format!(
            "cache-size=0\nvirtual-root=/cgit/\nrepo.url=demo\nrepo.path={}/.git\nrepo.desc=demo repository\n",
            work.display()
        ),
    )
    .unwrap();
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/cgit",
        Cgi::new(CGIT).env("CGIT_CONFIG", rc.to_str().unwrap()),
    )]);
    let index: Answer = ask(addr, "GET", "/cgit/", &[]).await;
    assert_eq!(
        index.status,
        200,
        "{}",
        String::from_utf8_lossy(&index.body)
    );
    let page = String::from_utf8_lossy(&index.body);
    assert!(page.contains("demo repository"), "{page}");
    let log = ask(addr, "GET", "/cgit/demo/log/", &[]).await;
    assert_eq!(log.status, 200);
    assert!(String::from_utf8_lossy(&log.body).contains("the commit cgit shows"));
    let blob = ask(addr, "GET", "/cgit/demo/plain/README", &[]).await;
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body, b"a repository browsed through rlws\n");
    let missing = ask(addr, "GET", "/cgit/nosuch/", &[]).await;
    assert_eq!(
        missing.status,
        404,
        "{}",
        String::from_utf8_lossy(&missing.body)
    );
}
