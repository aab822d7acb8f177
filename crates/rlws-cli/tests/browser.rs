//! Headless Chromium on `rlws serve`'s test page (tests/browser/test_page.mjs),
//! over http and over https (where the page comes by h2 and its WebSockets
//! are streams of that connection, RFC 8441):
//! the WebSockets connect and negotiate permessage-deflate, and the counter,
//! canvas, echo and status parts work. Needs `bash scripts/install-test-deps.sh`
//! (Debian chromium, and playwright-core in tests/browser/node_modules).

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

/// Runs the browser checks of `tests/browser/SCRIPT` on `url` and asserts
/// they all passed.
fn run_page(script: &str, url: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("tests/browser");
    for need in [
        Path::new("/usr/bin/chromium").to_path_buf(),
        dir.join("node_modules/playwright-core"),
    ] {
        assert!(
            need.exists(),
            "{} missing: run `bash scripts/install-test-deps.sh`",
            need.display()
        );
    }
    let out = Command::new("node")
        .arg(dir.join(script))
        .arg(url)
        .current_dir(&dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{stdout}");
    assert!(stdout.lines().any(|l| l.ends_with(" 0 failed")), "{stdout}");
}

/// Serves the test page with `rlws serve` plus `extra` arguments and runs
/// the browser checks on `scheme://127.0.0.1:PORT/`.
fn browse(scheme: &str, extra: &[&str]) {
    let mut args = vec!["serve", "-i", "127.0.0.1", "-p", "0", "-d", "warn"];
    args.extend_from_slice(extra);
    let server = Server::spawn(&args, 1);
    run_page(
        "test_page.mjs",
        &format!("{scheme}://127.0.0.1:{}/", server.port),
    );
}

#[test]
fn chromium_uses_the_test_page() {
    browse("http", &[]);
}

#[test]
fn chromium_uses_websockets_over_http2_on_https() {
    // A self-signed certificate (the browser is told to accept it); the
    // page must arrive by h2 and its four WebSockets must be streams of
    // that connection (RFC 8441), which the script checks.
    let dir = std::env::temp_dir().join(format!("rlws-browser-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .current_dir(&dir)
        .output()
        .expect("openssl (Debian package openssl) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert = dir.join("cert.pem").to_string_lossy().to_string();
    let key = dir.join("key.pem").to_string_lossy().to_string();
    browse("https", &["--cert", &cert, "--key", &key]);
    let _ = std::fs::remove_dir_all(dir);
}

/// lws' own test page (Debian's libwebsockets-test-server files) served by
/// `rlws serve` with lws' example configuration, used in Chromium
/// (tests/browser/lws_page.mjs): counter, mirror, close testing, server
/// info and both POST forms, with no page errors.
#[test]
fn chromium_uses_lws_own_test_page_served_with_lws_example_config() {
    let dir = std::env::temp_dir().join(format!("rlws-lws-page-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    let data = common::lws_data_dir(&dir);
    let log = dir.join("access-log");
    common::lws_example(&dir, "0", log.to_str().unwrap());
    let d = dir.to_string_lossy().to_string();
    let data = data.to_string_lossy().to_string();
    let server = Server::spawn(
        &["serve", "-d", "warn", "--config", &d, "--data-dir", &data],
        1,
    );
    run_page(
        "lws_page.mjs",
        &format!("http://127.0.0.1:{}/", server.port),
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
