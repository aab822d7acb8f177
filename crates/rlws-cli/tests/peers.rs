//! `rlws serve` against peers nobody here wrote: lws' own test client,
//! Python `websockets`, raw-socket bad input, and the Autobahn suite (kosoku).
//!
//! These need `scripts/install-test-deps.sh` (Debian libwebsockets-test-server,
//! and a venv in `.venv` with kosoku and websockets). A missing peer fails the
//! test with that instruction; nothing is skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{repo, Refusing, Server};
use futures_util::StreamExt;

fn need(path: &Path) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/install-test-deps.sh` (installs Debian libwebsockets-test-server and a .venv with kosoku + websockets)",
        path.display()
    );
    path.to_path_buf()
}

fn python() -> PathBuf {
    need(&repo().join(".venv/bin/python"))
}

fn run_checked(mut cmd: Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what} stdout ---\n{stdout}\n--- {what} stderr ---\n{stderr}");
    assert!(out.status.success(), "{what} failed with {}", out.status);
    out
}

#[test]
fn python_websockets_interop() {
    let srv = Server::start(&[]);
    let mut cmd = Command::new(python());
    cmd.arg(need(&repo().join("tests/peers/ws_interop.py")))
        .arg(format!("ws://127.0.0.1:{}/echo", srv.port));
    let out = run_checked(cmd, "ws_interop.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.ends_with(" 0 failed")),
        "no summary line: {text}"
    );
}

#[test]
fn python_websockets_interop_with_permessage_deflate() {
    let srv = Server::start(&[]);
    let mut cmd = Command::new(python());
    cmd.arg(need(&repo().join("tests/peers/ws_interop.py")))
        .arg("--deflate")
        .arg(format!("ws://127.0.0.1:{}/echo", srv.port));
    let out = run_checked(cmd, "ws_interop.py --deflate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("permessage-deflate offered"), "{text}");
    assert!(
        text.lines().any(|l| l.ends_with(" 0 failed")),
        "no summary line: {text}"
    );
}

#[test]
fn raw_bad_input_gets_precise_close_codes() {
    let srv = Server::start(&[]);
    let mut cmd = Command::new(python());
    cmd.arg(need(&repo().join("tests/peers/ws_bad_input.py")))
        .arg(format!("ws://127.0.0.1:{}/echo", srv.port));
    let out = run_checked(cmd, "ws_bad_input.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.ends_with(" 0 failed")),
        "no summary line: {text}"
    );
}

#[test]
fn autobahn_server_all_sections_with_compression() {
    let srv = Server::start(&[]);
    let mut cmd = Command::new("bash");
    cmd.arg(need(&repo().join("scripts/autobahn-server.sh")))
        .arg(srv.port.to_string())
        .arg("/echo")
        .args(["1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"])
        .env("AUTOBAHN_OUT", repo().join("target/autobahn/server"));
    let out = run_checked(cmd, "autobahn (kosoku fuzzingclient)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("autobahn: 517 passed, 0 failed"), "{text}");
}

#[test]
fn lws_test_client_gets_increment_and_mirror() {
    let client = need(Path::new("/usr/bin/libwebsockets-test-client"));
    let srv = Server::start(&[]);
    let port = srv.port;
    // An observer on the mirror protocol sees what lws' client draws.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (connected_tx, connected) = std::sync::mpsc::channel();
    let observer = std::thread::spawn(move || {
        rt.block_on(async move {
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    format!("ws://127.0.0.1:{port}/"),
                )
                .unwrap();
            req.headers_mut().insert(
                "sec-websocket-protocol",
                "lws-mirror-protocol".parse().unwrap(),
            );
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .expect("observer connects");
            let _ = connected_tx.send(());
            let mut drawn = 0usize;
            let end = tokio::time::Instant::now() + Duration::from_secs(4);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end, ws.next()).await {
                if let Ok(t) = m.to_text() {
                    if t.starts_with("c #") {
                        drawn += 1;
                    }
                }
            }
            drawn
        })
    });
    connected
        .recv_timeout(Duration::from_secs(10))
        .expect("the observer connected");
    let out = Command::new("timeout")
        .args(["-s", "INT", "--preserve-status", "3"])
        .arg(&client)
        .args(["127.0.0.1", "--port", &port.to_string(), "-d", "15"])
        .output()
        .expect("run libwebsockets-test-client");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("lws_http_client_http_response 101"),
        "no 101 in the lws client log"
    );
    assert!(
        log.contains("mirror: LWS_CALLBACK_CLIENT_ESTABLISHED"),
        "mirror connection not established"
    );
    // " I: rx 2 '17'": the dumb-increment numbers, in order.
    let numbers: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split(" I: rx ").nth(1))
        .filter_map(|r| r.split('\'').nth(1))
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.len() >= 30,
        "only {} numbers in 3 s: {numbers:?}",
        numbers.len()
    );
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "numbers not consecutive: {numbers:?}"
    );
    let drawn = observer.join().unwrap();
    assert!(
        drawn >= 100,
        "the observer saw only {drawn} mirror drawing messages from the lws client"
    );
}

#[test]
fn sigterm_closes_websockets_with_1001_and_exits_cleanly() {
    let mut srv = Server::start(&[]);
    let port = srv.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut ws, _) = rt
        .block_on(tokio_tungstenite::connect_async(format!(
            "ws://127.0.0.1:{port}/echo"
        )))
        .unwrap();
    let status = srv.stop();
    assert!(status.success(), "exit status {status}");
    let code = rt.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f))))) => {
                    return Some(u16::from(f.code))
                }
                Ok(Some(Ok(_))) => {}
                _ => return None,
            }
        }
    });
    assert_eq!(code, Some(1001));
}

#[test]
fn serve_root_dir_and_bad_root() {
    let dir = std::env::temp_dir().join(format!("rlws-cli-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "hello from a directory").unwrap();
    let srv = Server::start(&["--root", dir.to_str().unwrap()]);
    let out = Command::new("curl")
        .args(["-s", &format!("http://127.0.0.1:{}/", srv.port)])
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from a directory"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args(["serve", "--root", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a directory"));
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `rlws client URL EXTRA...` with `stdin` as its input.
fn rlws_client(url: &str, stdin: &str, extra: &[&str]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .arg("client")
        .arg(url)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn rlws_client_pipes_lines_and_closes() {
    let srv = Server::start(&[]);
    let url = format!("ws://127.0.0.1:{}/echo", srv.port);
    let run = |stdin: &str, extra: &[&str]| rlws_client(&url, stdin, extra);
    let out = run("hi\n", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    let out = run("one\ntwo words\nκόσμε\n", &["--no-deflate"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "one\ntwo words\nκόσμε\n"
    );
    // The same over HTTP/2 (prior knowledge, RFC 8441).
    let out = run("over h2\n", &["--h2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over h2\n");
    // Errors name the reason.
    let nobody = Refusing::new();
    let refused = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args(["client", &format!("ws://{}/", nobody.addr)])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("connection refused"));
    let status = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args([
            "client",
            &format!("ws://127.0.0.1:{}/", srv.port),
            "-p",
            "no-such-protocol",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&status.stderr).contains("HTTP 400"));
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate
/// with the openssl command line in `dir`.
fn openssl_pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    let ossl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl) runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rlws test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    ossl(&ca);
    for name in ["server", "client"] {
        let (key, csr, pem, subj) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("/CN={name}"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        ossl(&req);
        ossl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
    }
}

/// A Python websockets server of tests/peers (the TLS echo server,
/// wss_echo_server.py, or the proxy's backend, ws_backend.py).
struct WssPeer {
    child: Child,
    port: u16,
}

impl WssPeer {
    fn start(dir: &Path, client_ca: bool) -> WssPeer {
        let mut args = vec![dir.join("server.pem"), dir.join("server.key")];
        if client_ca {
            args.push("--client-ca".into());
            args.push(dir.join("ca.pem"));
        }
        WssPeer::python("wss_echo_server.py", &args)
    }

    /// Runs `tests/peers/SCRIPT ARGS` in the venv and reads the `PORT n`
    /// line it prints when it listens; it runs until dropped.
    fn python(script: &str, args: &[PathBuf]) -> WssPeer {
        use std::io::BufRead;
        let mut child = Command::new(python())
            .arg(need(&repo().join("tests/peers").join(script)))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} said {line:?}"));
        WssPeer { child, port }
    }
}

impl Drop for WssPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rlws_client_wss_against_python_websockets_on_openssl() {
    let dir = std::env::temp_dir().join(format!("rlws-wss-{}", std::process::id()));
    openssl_pki(&dir);
    // Python websockets answers a close at once and drops what its handler
    // sends after that, so stdin is held open until the reply (if any) is
    // printed; only then does the client start the close handshake.
    let client = |url: &str, line: &str, extra: &[&str]| {
        use std::io::{BufRead, Write};
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlws"))
            .arg("client")
            .arg(url)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // A client that failed has closed its stdin: ignore the write error.
        let _ = stdin.write_all(line.as_bytes());
        let mut reply = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut reply)
            .unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            reply,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let peer = WssPeer::start(&dir, false);
    let url = format!("wss://127.0.0.1:{}/", peer.port);
    let (ok, out, err) = client(&url, "secure κόσμε\n", &["--ca", ca]);
    assert!(ok, "{err}");
    assert_eq!(out, "secure κόσμε\n");
    // The system's roots do not trust the test CA.
    let (ok, _, err) = client(&url, "hi\n", &[]);
    assert!(!ok && err.contains("TLS"), "{err}");
    // --insecure accepts it.
    let (ok, out, err) = client(&url, "anyway\n", &["-k"]);
    assert!(ok, "{err}");
    assert_eq!(out, "anyway\n");
    // A missing CA file is a usage error.
    let (ok, _, err) = client(&url, "", &["--ca", "/nonexistent/ca.pem"]);
    assert!(!ok && err.contains("/nonexistent/ca.pem"), "{err}");
    drop(peer);

    // A server that requires a client certificate.
    let peer = WssPeer::start(&dir, true);
    let url = format!("wss://127.0.0.1:{}/", peer.port);
    let cert = dir.join("client.pem");
    let key = dir.join("client.key");
    let (ok, out, err) = client(
        &url,
        "with a certificate\n",
        &[
            "--ca",
            ca,
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "with a certificate\n");
    let (ok, out, _) = client(&url, "without\n", &["--ca", ca]);
    assert!(
        !ok && out.is_empty(),
        "no client certificate must not get through"
    );
    drop(peer);
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs a command, returning its stdout, failing with how to install it.
fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("{cmd}: cannot run ({e}): run `bash scripts/install-test-deps.sh` (Debian curl, nghttp2-client)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The numbers of h2load's `requests:` line: (done, succeeded, failed, errored).
fn h2load_counts(out: &str) -> (u64, u64, u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in h2load output:\n{out}"));
    let n = |word: &str| -> u64 {
        line.split(',')
            .find(|p| p.trim().ends_with(word))
            .and_then(|p| p.split_whitespace().rev().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no \"{word}\" count in: {line}"))
    };
    (n("done"), n("succeeded"), n("failed"), n("errored"))
}

#[test]
fn http2_with_curl_nghttp_and_h2load() {
    let dir = std::env::temp_dir().join(format!("rlws-h2-{}", std::process::id()));
    openssl_pki(&dir);
    let d = |f: &str| dir.join(f).to_string_lossy().to_string();
    let tls = Server::start(&["--cert", &d("server.pem"), "--key", &d("server.key")]);
    let plain = Server::start(&[]);
    let https = format!("https://127.0.0.1:{}", tls.port);
    let http = format!("http://127.0.0.1:{}", plain.port);
    let ca = d("ca.pem");
    // `http_version status content_type` of one curl request.
    let curl = |opts: &[&str], url: String| {
        let mut args = vec!["-sS"];
        args.extend_from_slice(opts);
        args.extend([url.as_str(), "-o", "/dev/null", "-w"]);
        args.push("%{http_version} %{http_code} %{content_type}");
        tool("curl", &args)
    };
    // curl over TLS: ALPN picks h2; the certificate checks out against the CA.
    let out = curl(&["--http2", "--cacert", &ca], format!("{https}/"));
    assert_eq!(out, "2 200 text/html; charset=utf-8");
    let out = curl(&["--http2", "--cacert", &ca], format!("{https}/nope"));
    assert!(out.starts_with("2 404"), "{out}");
    let body = tool(
        "curl",
        &["-sS", "--http2", "--cacert", &ca, &format!("{https}/")],
    );
    assert!(body.contains("<html"), "{body}");
    // HTTP/1.1 by ALPN still works.
    let out = curl(&["--http1.1", "--cacert", &ca], format!("{https}/"));
    assert!(out.starts_with("1.1 200"), "{out}");
    // Cleartext: prior knowledge gives h2; plain requests stay HTTP/1.1.
    let out = curl(&["--http2-prior-knowledge"], format!("{http}/"));
    assert!(out.starts_with("2 200"), "{out}");
    let out = curl(&[], format!("{http}/"));
    assert!(out.starts_with("1.1 200"), "{out}");
    // nghttp: the frame trace shows our SETTINGS (extended CONNECT on) and a 200.
    let out = tool("nghttp", &["-nv", &format!("{https}/")]);
    assert!(
        out.contains("SETTINGS_ENABLE_CONNECT_PROTOCOL(0x08):1"),
        "{out}"
    );
    assert!(out.contains(":status: 200"), "{out}");
    assert!(
        !out.contains("GOAWAY") || out.contains("error_code=NO_ERROR"),
        "{out}"
    );
    let out = tool("nghttp", &["-nv", &format!("{http}/")]);
    assert!(out.contains(":status: 200"), "h2c: {out}");
    // h2load: many multiplexed requests, all answered.
    for url in [format!("{https}/"), format!("{http}/")] {
        let out = tool("h2load", &["-n", "2000", "-c", "4", "-m", "10", &url]);
        assert_eq!(h2load_counts(&out), (2000, 2000, 0, 0), "{url}: {out}");
    }
}

#[test]
fn http2_error_handling_conformance() {
    // tests/h2/conformance.py: RFC 9113 / RFC 7541 error cases with
    // hand-made frames (bad preface, frame sizes, SETTINGS, stream states,
    // flow control, HPACK, malformed requests, CONTINUATION flood, rapid
    // reset), over h2c and over TLS.
    let dir = std::env::temp_dir().join(format!("rlws-h2c-{}", std::process::id()));
    openssl_pki(&dir);
    let d = |f: &str| dir.join(f).to_string_lossy().to_string();
    let script = repo().join("tests/h2/conformance.py");
    let plain = Server::start(&["-j", "1"]);
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["127.0.0.1", &plain.port.to_string()]);
    let out = run_checked(cmd, "h2 conformance (h2c)");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cases passed"));
    let tls = Server::start(&[
        "-j",
        "1",
        "--cert",
        &d("server.pem"),
        "--key",
        &d("server.key"),
    ]);
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["127.0.0.1", &tls.port.to_string(), "--tls", &d("ca.pem")]);
    run_checked(cmd, "h2 conformance (TLS)");
}

#[test]
fn websockets_through_a_configured_reverse_proxy_to_python_websockets() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::Message;
    let backend = WssPeer::python("ws_backend.py", &[]);
    let dir = std::env::temp_dir().join(format!("rlws-proxy-conf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(dir.join("conf"), "{\"global\": {}}\n").unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            r#"{{"vhosts": [{{"name": "localhost", "port": "0", "interface": "127.0.0.1",
  "mounts": [{{"mountpoint": "/py", "origin": "http://127.0.0.1:{}/inner"}}]}}]}}"#,
            backend.port
        ),
    )
    .unwrap();
    let d = dir.to_string_lossy().to_string();
    let mut srv = Server::spawn(&["serve", "-d", "warn", "--config", &d], 1);
    let addr = srv.addrs[0];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/py/chat"))
            .await
            .expect("the upgrade goes through the proxy");
        assert_eq!(resp.status(), 101);
        let (mut tx, mut rx) = ws.split();
        // The backend speaks first, and saw the path and the client.
        assert_eq!(
            next_msg(&mut rx).await,
            Message::text("hello /inner/chat xff=127.0.0.1")
        );
        for m in [
            Message::text("text both ways"),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::binary(vec![7u8; 300_000]),
        ] {
            tx.send(m.clone()).await.unwrap();
            assert_eq!(next_msg(&mut rx).await, m);
        }
        // The backend closes with its own code; it reaches the client.
        tx.send(Message::text("close-me 4002")).await.unwrap();
        match next_msg(&mut rx).await {
            Message::Close(Some(CloseFrame { code, reason })) => {
                assert_eq!(u16::from(code), 4002);
                assert_eq!(reason.as_str(), "asked");
            }
            other => panic!("{other:?}"),
        }
    });
    // A second connection, closed by the client with its code.
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/py/again"))
            .await
            .unwrap();
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello, Message::text("hello /inner/again xff=127.0.0.1"));
        ws.close(Some(CloseFrame {
            code: 4003.into(),
            reason: "client done".into(),
        }))
        .await
        .unwrap();
        let mut echoed = None;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(Some(c)) = m {
                echoed = Some(u16::from(c.code));
            }
        }
        assert_eq!(
            echoed,
            Some(4003),
            "the backend answered the client's close"
        );
    });
    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(dir);
}

/// The next message of a tungstenite stream, within 5 s.
async fn next_msg<S>(rx: &mut S) -> tokio_tungstenite::tungstenite::Message
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), rx.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("no error")
}
