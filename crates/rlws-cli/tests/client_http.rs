//! `rlws client http(s)://...` beside curl: the same requests to rlws' own
//! server (and to small servers of the test's own where the request itself
//! is to be seen), compared by exit status, status line, headers (not the
//! Date) and body bytes.
//!
//! These need /usr/bin/curl (`apt-get install curl`, which
//! scripts/install-test-deps.sh does). A missing curl fails the test.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use common::{Refusing, Server};
use rlws_testkit::TestCa;

const CURL: &str = "/usr/bin/curl";

/// What one run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    out: Vec<u8>,
    err: String,
}

fn run(prog: &str, args: &[String]) -> Run {
    run_env(prog, args, &[])
}

/// Runs `prog` with only the proxy variables in `env` (the others removed).
fn run_env(prog: &str, args: &[String], env: &[(&str, String)]) -> Run {
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    // Only the proxies a test names.
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    Run {
        code: o.status.code(),
        out: o.stdout,
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `rlws client ARGS` (at most 60 s).
fn rlws(args: &[&str]) -> Run {
    let mut a = strings(&["client", "--max-time", "60"]);
    a.extend(strings(args));
    run(env!("CARGO_BIN_EXE_rlws"), &a)
}

/// `curl -sS ARGS` (at most 60 s).
fn curl(args: &[&str]) -> Run {
    assert!(
        Path::new(CURL).exists(),
        "{CURL} is missing: apt-get install curl (scripts/install-test-deps.sh installs it)"
    );
    let mut a = strings(&["-sS", "--max-time", "60"]);
    a.extend(strings(args));
    run(CURL, &a)
}

/// Both with the same arguments.
fn both(args: &[&str]) -> (Run, Run) {
    (rlws(args), curl(args))
}

/// A response as `-i` writes it: status line, headers (lower-case names,
/// without Date), body.
#[derive(Debug, PartialEq)]
struct Head {
    status: String,
    headers: BTreeSet<(String, String)>,
    body: Vec<u8>,
}

fn parse(out: &[u8]) -> Head {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(out)));
    let head = std::str::from_utf8(&out[..end]).expect("head is text");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("name: value");
            (k.to_ascii_lowercase(), v.trim().to_string())
        })
        .filter(|(k, _)| k != "date")
        .collect();
    Head {
        status,
        headers,
        body: out[end + 4..].to_vec(),
    }
}

/// Same exit status, same output (as text in the message when it differs).
fn same(what: &str, r: &Run, c: &Run) {
    assert_eq!(
        r.code, c.code,
        "{what}: exit status: rlws {:?} ({}), curl {:?} ({})",
        r.code, r.err, c.code, c.err
    );
    assert!(
        r.out == c.out,
        "{what}: output differs:\nrlws: {:?}\ncurl: {:?}",
        String::from_utf8_lossy(&r.out),
        String::from_utf8_lossy(&c.out)
    );
}

/// Same exit status and the same `-i` head and body.
fn same_head(what: &str, r: &Run, c: &Run) -> Head {
    assert_eq!(
        r.code, c.code,
        "{what}: exit status: rlws {:?} ({}), curl {:?} ({})",
        r.code, r.err, c.code, c.err
    );
    let (hr, hc) = (parse(&r.out), parse(&c.out));
    assert_eq!(hr, hc, "{what}: rlws (left) and curl (right) differ");
    hr
}

/// A directory for one test, made anew.
fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlws-cli-http-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Bytes that do not repeat soon (xorshift), `n` of them.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A site root: hello.txt, big.bin (300 kB), dir/index.html, and
/// upload.bin beside the root (not served).
fn site(tag: &str) -> PathBuf {
    let d = tmpdir(tag);
    let root = d.join("root");
    std::fs::create_dir_all(root.join("dir")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(root.join("big.bin"), noise(300_000)).unwrap();
    std::fs::write(root.join("dir/index.html"), "<p>the directory</p>\n").unwrap();
    std::fs::write(d.join("upload.bin"), noise(5000)).unwrap();
    d
}

fn serve(dir: &Path, extra: &[&str]) -> Server {
    let root = dir.join("root");
    let mut args = vec!["--root", root.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `rlws serve` over TLS with a certificate from a test CA; returns the
/// CA's file and the server.
fn serve_tls(dir: &Path) -> (PathBuf, Server) {
    let ca = TestCa::new("rlws client test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let (ca_file, cert_file, key_file) = (dir.join("ca.pem"), dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let s = serve(
        dir,
        &["--cert", path_str(&cert_file), "--key", path_str(&key_file)],
    );
    (ca_file, s)
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn get_matches_curl() {
    let dir = site("get");
    let s = serve(&dir, &[]);
    for file in ["hello.txt", "big.bin", "dir/"] {
        let url = format!("http://127.0.0.1:{}/{file}", s.port);
        let (r, c) = both(&[&url]);
        same(&format!("GET {file}"), &r, &c);
        assert_eq!(r.code, Some(0));
        let (r, c) = both(&["-i", &url]);
        let h = same_head(&format!("GET -i {file}"), &r, &c);
        assert_eq!(h.status, "HTTP/1.1 200 OK");
    }
    let big = std::fs::read(dir.join("root/big.bin")).unwrap();
    let r = rlws(&[&format!("http://127.0.0.1:{}/big.bin", s.port)]);
    assert!(r.out == big, "big.bin arrives whole");
}

#[test]
fn head_matches_curl() {
    let dir = site("head");
    let s = serve(&dir, &[]);
    for path in ["hello.txt", "big.bin", "dir", "nothing-here"] {
        let url = format!("http://127.0.0.1:{}/{path}", s.port);
        let (r, c) = both(&["-I", &url]);
        let h = same_head(&format!("HEAD {path}"), &r, &c);
        assert!(h.body.is_empty());
        assert_eq!(r.code, Some(0));
    }
}

#[test]
fn not_found_and_fail() {
    let dir = site("404");
    let s = serve(&dir, &[]);
    let url = format!("http://127.0.0.1:{}/nothing-here", s.port);
    let (r, c) = both(&["-i", &url]);
    let h = same_head("404 -i", &r, &c);
    assert_eq!(h.status, "HTTP/1.1 404 Not Found");
    let (r, c) = both(&[&url]);
    same("404", &r, &c);
    assert_eq!(r.code, Some(0), "a 404 is no failure without -f");
    // -f: exit 22, no body.
    let (r, c) = both(&["-f", &url]);
    same("404 -f", &r, &c);
    assert_eq!(r.code, Some(22), "{}", r.err);
    assert!(r.err.contains("404"), "{}", r.err);
    // -f on a success changes nothing.
    let ok = format!("http://127.0.0.1:{}/hello.txt", s.port);
    let r = rlws(&["-f", &ok]);
    assert_eq!((r.code, r.out.as_slice()), (Some(0), &b"hello\n"[..]));
}

#[test]
fn output_file() {
    let dir = site("output");
    let s = serve(&dir, &[]);
    let url = format!("http://127.0.0.1:{}/big.bin", s.port);
    let (ours, theirs) = (dir.join("ours.bin"), dir.join("theirs.bin"));
    let r = rlws(&["-o", path_str(&ours), &url]);
    let c = curl(&["-o", path_str(&theirs), &url]);
    same("-o", &r, &c);
    assert!(r.out.is_empty());
    let want = std::fs::read(dir.join("root/big.bin")).unwrap();
    assert!(
        std::fs::read(&ours).unwrap() == want,
        "-o FILE holds the body"
    );
    assert!(std::fs::read(&theirs).unwrap() == want);
    // With -i the head goes into the file too.
    let url = format!("http://127.0.0.1:{}/hello.txt", s.port);
    let r = rlws(&["-i", "-o", path_str(&ours), &url]);
    let c = curl(&["-i", "-o", path_str(&theirs), &url]);
    assert_eq!((r.code, c.code), (Some(0), Some(0)));
    assert_eq!(
        parse(&std::fs::read(&ours).unwrap()),
        parse(&std::fs::read(&theirs).unwrap())
    );
    // One -o for several URLs: refused before anything is fetched.
    let r = rlws(&["-o", path_str(&ours), &url, &url]);
    assert_eq!(r.code, Some(2), "{}", r.err);
    // A file that cannot be made: curl's write error, 23.
    let nowhere = dir.join("no/such/dir/file");
    let (r, c) = both(&["-o", path_str(&nowhere), &url]);
    assert_eq!(
        (r.code, c.code),
        (Some(23), Some(23)),
        "{} / {}",
        r.err,
        c.err
    );
}

#[test]
fn post_to_rlws_serve_matches_curl() {
    // rlws' file server answers POST with 405; both clients see the same.
    let dir = site("post");
    let s = serve(&dir, &[]);
    let url = format!("http://127.0.0.1:{}/hello.txt", s.port);
    let upload = dir.join("upload.bin");
    let at = format!("@{}", upload.display());
    let (r, c) = both(&["-i", "--data-binary", &at, &url]);
    let h = same_head("--data-binary @file", &r, &c);
    assert_eq!(h.status, "HTTP/1.1 405 Method Not Allowed");
    let (r, c) = both(&["-i", "-d", "a=b", &url]);
    same_head("-d", &r, &c);
    let (r, c) = both(&["-i", "-X", "DELETE", &url]);
    same_head("-X DELETE", &r, &c);
    // An upload file that does not exist: curl's read error, 26.
    let r = rlws(&["--data-binary", "@/nonexistent/upload", &url]);
    assert_eq!(r.code, Some(26), "{}", r.err);
}

/// A request as a server of the test's own saw it.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Accepts `n` connections on 127.0.0.1, one request each (with a
/// Content-Length body), answering 200 with the request body; each request
/// is sent on the channel.
fn echo_server(n: usize) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((s, _)) = l.accept() else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut request_line = String::new();
            r.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                headers.push((k.to_string(), v.trim().to_string()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut w = s;
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            w.write_all(&body).unwrap();
            let _ = tx.send(Seen {
                request_line: request_line.trim_end().to_string(),
                headers,
                body,
            });
        }
    });
    (addr, rx)
}

/// Runs both clients against an echo server; what each sent.
fn sent(args: &[&str]) -> (Seen, Seen) {
    let (addr, rx) = echo_server(2);
    let url = format!("http://{addr}/submit");
    let mut a = args.to_vec();
    a.push(&url);
    let r = rlws(&a);
    assert_eq!(r.code, Some(0), "rlws {args:?}: {}", r.err);
    let ours = rx.recv().unwrap();
    assert!(r.out == ours.body, "the echoed body is written");
    let c = curl(&a);
    assert_eq!(c.code, Some(0), "curl {args:?}: {}", c.err);
    (ours, rx.recv().unwrap())
}

#[test]
fn request_bodies_as_curl_sends_them() {
    let dir = tmpdir("bodies");
    let file = dir.join("data.txt");
    std::fs::write(&file, "line one\r\nline two\n").unwrap();
    let at = format!("@{}", file.display());
    for args in [
        vec!["-d", "a=1&b=two words"],
        vec!["-d", "a=1", "-d", "b=2"],
        vec!["-d", &at],
        vec!["--data-binary", &at],
        vec!["--data-binary", &at, "-H", "Content-Type: text/plain"],
        vec!["-X", "PUT", "--data-binary", "raw"],
        vec!["-H", "X-Test: 1", "-H", "Accept: text/plain"],
    ] {
        let (ours, theirs) = sent(&args);
        assert_eq!(
            ours.request_line, theirs.request_line,
            "{args:?}: request line"
        );
        assert!(
            ours.body == theirs.body,
            "{args:?}: body {ours:?} / {theirs:?}"
        );
        for h in ["content-type", "content-length", "x-test", "accept"] {
            assert_eq!(ours.header(h), theirs.header(h), "{args:?}: {h}");
        }
    }
    // A multipart form: the boundary differs, the parts are the same.
    let (ours, theirs) = sent(&["-F", "name=value", "-F", &format!("file={at}")]);
    assert_eq!(ours.request_line, theirs.request_line);
    for seen in [&ours, &theirs] {
        let ct = seen.header("content-type").unwrap();
        let boundary = ct
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap_or_else(|| panic!("{ct}"));
        let body = String::from_utf8_lossy(&seen.body);
        let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
        assert_eq!(parts.len(), 4, "two parts and the end: {body}");
        assert!(parts[1].contains("name=\"name\"") && parts[1].ends_with("\r\n\r\nvalue\r\n"));
        assert!(parts[2].contains("name=\"file\"; filename=\"data.txt\""));
        assert!(parts[2].ends_with("\r\n\r\nline one\r\nline two\n\r\n"));
        assert_eq!(parts[3], "--\r\n");
    }
}

#[test]
fn https_with_ca_h2_and_http1() {
    let dir = site("https");
    let (ca_file, s) = serve_tls(&dir);
    let url = format!("https://127.0.0.1:{}/hello.txt", s.port);
    let ca = path_str(&ca_file);
    let r = rlws(&["-i", "--ca", ca, &url]);
    let c = curl(&["-i", "--cacert", ca, &url]);
    let h = same_head("h2 by ALPN", &r, &c);
    assert_eq!(h.status, "HTTP/2 200 ", "curl's HTTP/2 status line");
    assert_eq!(h.body, b"hello\n");
    let r = rlws(&["-i", "--http1.1", "--ca", ca, &url]);
    let c = curl(&["-i", "--http1.1", "--cacert", ca, &url]);
    let h = same_head("--http1.1", &r, &c);
    assert_eq!(h.status, "HTTP/1.1 200 OK");
    // --http2 asks for h2 only: the same as by ALPN here.
    let r = rlws(&["-i", "--http2", "--ca", ca, &url]);
    assert_eq!(parse(&r.out).status, "HTTP/2 200 ", "{}", r.err);
    // Several URLs over h2 with --pipeline: streams of one connection.
    let big = format!("https://127.0.0.1:{}/big.bin", s.port);
    let r = rlws(&["--pipeline", "--ca", ca, &url, &big, &url]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let mut want = b"hello\n".to_vec();
    want.extend(std::fs::read(dir.join("root/big.bin")).unwrap());
    want.extend(b"hello\n");
    assert!(r.out == want, "bodies in URL order");
    assert!(
        r.err.contains("3 transactions on 1 connection"),
        "{}",
        r.err
    );
}

#[test]
fn insecure_against_an_untrusted_certificate() {
    let dir = site("insecure");
    // A certificate from a CA nobody here trusts.
    let (cert, key) = TestCa::new("unknown CA").leaf(&["127.0.0.1"]);
    let other = TestCa::new("some other CA");
    let (other_file, cert_file, key_file) =
        (dir.join("other.pem"), dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&other_file, other.pem()).unwrap();
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let s = serve(
        &dir,
        &["--cert", path_str(&cert_file), "--key", path_str(&key_file)],
    );
    let url = format!("https://127.0.0.1:{}/hello.txt", s.port);
    // Not verified: curl's 60, with nothing written.
    let r = rlws(&["--ca", path_str(&other_file), &url]);
    let c = curl(&["--cacert", path_str(&other_file), &url]);
    same("untrusted", &r, &c);
    assert_eq!(r.code, Some(60), "{}", r.err);
    assert!(r.err.starts_with("rlws client: "), "{}", r.err);
    // -k: fetched.
    let (r, c) = both(&["-k", "-i", &url]);
    same_head("-k", &r, &c);
    assert_eq!(r.code, Some(0));
    // A --ca file that does not exist: curl's 77.
    let r = rlws(&["--ca", "/nonexistent/ca.pem", &url]);
    assert_eq!(r.code, Some(77), "{}", r.err);
}

#[test]
fn several_urls_with_and_without_pipeline() {
    let dir = site("multi");
    let s = serve(&dir, &[]);
    let u = |p: &str| format!("http://127.0.0.1:{}/{p}", s.port);
    let (a, b, c) = (u("hello.txt"), u("big.bin"), u("dir/"));
    let mut want = b"hello\n".to_vec();
    want.extend(std::fs::read(dir.join("root/big.bin")).unwrap());
    want.extend(b"<p>the directory</p>\n");
    let r = rlws(&["--pipeline", &a, &b, &c]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(r.out == want, "bodies in URL order");
    assert_eq!(r.err.trim_end(), "3 transactions on 1 connection");
    let r = rlws(&[&a, &b, &c]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert!(r.out == want, "bodies in URL order");
    assert_eq!(r.err.trim_end(), "3 transactions on 3 connections");
    // curl gives the same bytes for the same URLs.
    let cu = curl(&[&a, &b, &c]);
    assert!(cu.out == want);
    // -i: each head before its body. -s: no summary.
    let r = rlws(&["-s", "-i", "--pipeline", &a, &a]);
    let c = curl(&["-i", &a, &a]);
    assert_eq!(r.err, "");
    let text = |o: &[u8]| {
        String::from_utf8_lossy(o)
            .lines()
            .filter(|l| !l.starts_with("date:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(text(&r.out), text(&c.out));
    // One failing URL among others: the others are written, the exit
    // status is the failure's.
    let refusing = Refusing::new();
    let bad = format!("http://{}/", refusing.addr);
    let r = rlws(&[&a, &bad, &a]);
    assert_eq!(r.code, Some(7), "{}", r.err);
    assert_eq!(r.out, b"hello\nhello\n");
    assert!(r.err.contains("connection refused"), "{}", r.err);
    // -v: where each response came from, and the summary for one URL.
    let r = rlws(&["-v", &a]);
    assert!(
        r.err.contains("connection #1, transaction #1")
            && r.err.contains("< HTTP/1.1 200 OK")
            && r.err.ends_with("1 transaction on 1 connection\n"),
        "{}",
        r.err
    );
}

#[test]
fn exit_codes_as_curl() {
    // Refused: 7.
    let refusing = Refusing::new();
    let url = format!("http://{}/", refusing.addr);
    let (r, c) = both(&[&url]);
    same("refused", &r, &c);
    assert_eq!(r.code, Some(7), "{}", r.err);
    assert!(
        r.err.starts_with("rlws client: ") && r.err.contains("refused"),
        "{}",
        r.err
    );
    // DNS: 6.
    let (r, c) = both(&["http://nonexistent.invalid/"]);
    same("dns", &r, &c);
    assert_eq!(r.code, Some(6), "{}", r.err);
    // A malformed URL: 3; a scheme that is not HTTP: 1.
    assert_eq!(rlws(&["http://[::1/"]).code, Some(3));
    assert_eq!(rlws(&["ftp://127.0.0.1/"]).code, Some(1));
    // No answer within --max-time: 28. The server accepts and says nothing.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let (r, c) = both(&["-m", "0.5", &url]);
    assert_eq!(
        (r.code, c.code),
        (Some(28), Some(28)),
        "{} / {}",
        r.err,
        c.err
    );
    drop(l);
    // -s: no message; -sS: the message.
    let url = format!("http://{}/", refusing.addr);
    let r = rlws(&["-s", &url]);
    assert_eq!((r.code, r.err.as_str()), (Some(7), ""));
    let r = rlws(&["-sS", &url]);
    assert!(r.err.contains("refused"), "{}", r.err);
}

#[test]
fn redirects_followed_with_location_only() {
    let dir = site("redirect");
    let s = serve(&dir, &[]);
    let url = format!("http://127.0.0.1:{}/dir", s.port);
    // Not followed: the 301 is the answer, as curl has it.
    let (r, c) = both(&["-i", &url]);
    let h = same_head("no -L", &r, &c);
    assert_eq!(h.status, "HTTP/1.1 301 Moved Permanently");
    assert!(h.headers.contains(&("location".into(), "/dir/".into())));
    // -L: the directory's index.
    let (r, c) = both(&["-L", &url]);
    same("-L", &r, &c);
    assert_eq!(r.out, b"<p>the directory</p>\n");
    // -i -L: every hop's head, then the last one's and its body.
    let (r, c) = both(&["-i", "-L", &url]);
    assert_eq!(r.code, c.code, "{} / {}", r.err, c.err);
    let (first_r, first_c) = (parse(&r.out), parse(&c.out));
    assert_eq!(
        (&first_r.status, &first_r.headers),
        (&first_c.status, &first_c.headers)
    );
    assert_eq!(first_r.status, "HTTP/1.1 301 Moved Permanently");
    let (last_r, last_c) = (parse(&first_r.body), parse(&first_c.body));
    assert_eq!(last_r, last_c);
    assert_eq!(last_r.body, b"<p>the directory</p>\n");
    // -L --max-redirs 0: too many redirects, 47.
    let (r, c) = both(&["-L", "--max-redirs", "0", &url]);
    assert_eq!(
        (r.code, c.code),
        (Some(47), Some(47)),
        "{} / {}",
        r.err,
        c.err
    );
    assert!(r.out.is_empty());
}

#[test]
fn flags_of_the_other_kind_of_url_are_refused() {
    let r = rlws(&["--no-deflate", "http://127.0.0.1:1/"]);
    assert_eq!(r.code, Some(2), "{}", r.err);
    assert!(r.err.contains("--no-deflate"), "{}", r.err);
    let r = rlws(&["-L", "ws://127.0.0.1:1/"]);
    assert_eq!(r.code, Some(2), "{}", r.err);
    assert!(r.err.contains("--location"), "{}", r.err);
    let r = rlws(&["ws://127.0.0.1:1/", "ws://127.0.0.1:1/"]);
    assert_eq!(r.code, Some(2), "{}", r.err);
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["client", "--help"],
        &["bench", "--help"],
        &["bench", "echo", "--help"],
        &["bench", "broadcast", "--help"],
        &["bench", "idle", "--help"],
    ] {
        let r = run(env!("CARGO_BIN_EXE_rlws"), &strings(args));
        assert_eq!(r.code, Some(0), "rlws {args:?}: {}", r.err);
        assert!(
            String::from_utf8_lossy(&r.out).contains("Usage"),
            "rlws {args:?}"
        );
    }
    // bench's -d is --duration, serve's -d the log level.
    let r = run(
        env!("CARGO_BIN_EXE_rlws"),
        &strings(&["bench", "echo", "--help"]),
    );
    assert!(String::from_utf8_lossy(&r.out).contains("-d, --duration"));
}

/// `rlws client ARGS` with these proxy variables.
fn rlws_env(env: &[(&str, String)], args: &[&str]) -> Run {
    let mut a = strings(&["client", "--max-time", "60"]);
    a.extend(strings(args));
    run_env(env!("CARGO_BIN_EXE_rlws"), &a, env)
}

/// Through tinyproxy (`-x`, and `http_proxy` / `https_proxy` /
/// `no_proxy` as curl reads them) and microsocks (`--socks5`, and a
/// `socks5h://` URL with a password): the same answers as curl, and the
/// proxy saw the requests.
#[test]
fn proxies_by_flag_and_by_environment() {
    let dir = site("proxy");
    let (ca_file, tls) = serve_tls(&dir);
    let plain = serve(&dir, &[]);
    let http = format!("http://127.0.0.1:{}/hello.txt", plain.port);
    let https = format!("https://127.0.0.1:{}/hello.txt", tls.port);
    let ca = path_str(&ca_file);

    let tp = rlws_testkit::Tinyproxy::start(None);
    let proxy = format!("http://127.0.0.1:{}", tp.port);
    let (r, c) = both(&["-x", &proxy, &http]);
    same("http via tinyproxy", &r, &c);
    assert_eq!(r.out, b"hello\n");
    let r = rlws(&["-x", &proxy, "--ca", ca, &https]);
    let c = curl(&["-x", &proxy, "--cacert", ca, &https]);
    same("https via tinyproxy", &r, &c);
    let log = tp.log();
    assert_eq!(log.matches(&format!("GET {http}")).count(), 2, "{log}");
    assert_eq!(
        log.matches(&format!("CONNECT 127.0.0.1:{}", tls.port))
            .count(),
        2,
        "{log}"
    );

    // The environment, as curl reads it.
    let before = tp.log().matches("GET http://").count();
    let r = rlws_env(&[("http_proxy", proxy.clone())], &[&http]);
    assert_eq!(
        (r.code, r.out.as_slice()),
        (Some(0), b"hello\n".as_slice()),
        "{}",
        r.err
    );
    assert_eq!(
        tp.log().matches("GET http://").count(),
        before + 1,
        "went through the proxy"
    );
    let r = rlws_env(
        &[
            ("http_proxy", proxy.clone()),
            ("no_proxy", "127.0.0.1".into()),
        ],
        &[&http],
    );
    assert_eq!(r.code, Some(0), "{}", r.err);
    assert_eq!(
        tp.log().matches("GET http://").count(),
        before + 1,
        "no_proxy: direct"
    );
    let r = rlws_env(&[("https_proxy", proxy.clone())], &["--ca", ca, &https]);
    assert_eq!(r.code, Some(0), "{}", r.err);
    let connects = format!("CONNECT 127.0.0.1:{}", tls.port);
    assert_eq!(
        tp.log().matches(&connects).count(),
        3,
        "https_proxy went through it"
    );

    let ms = rlws_testkit::Microsocks::start(Some(("u", "p")));
    let socks = format!("socks5h://u:p@127.0.0.1:{}", ms.port);
    let (r, c) = both(&["-x", &socks, &http]);
    same("http via microsocks", &r, &c);
    let r = rlws(&["-x", &socks, "--ca", ca, &https]);
    let c = curl(&["-x", &socks, "--cacert", ca, &https]);
    same("https via microsocks", &r, &c);
    // Without the password: the proxy refuses, exit 97.
    let r = rlws(&["--socks5", &format!("127.0.0.1:{}", ms.port), &http]);
    assert_eq!(r.code, Some(97), "{}", r.err);
    let open = rlws_testkit::Microsocks::start(None);
    let r = rlws(&["--socks5", &format!("127.0.0.1:{}", open.port), &http]);
    assert_eq!(
        (r.code, r.out.as_slice()),
        (Some(0), b"hello\n".as_slice()),
        "{}",
        r.err
    );
}
