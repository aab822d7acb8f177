//! Headless Chromium on `rlws serve`'s test page (tests/browser/test_page.mjs):
//! the WebSockets connect and negotiate permessage-deflate, and the counter,
//! canvas, echo and status parts work. Needs `bash scripts/install-test-deps.sh`
//! (Debian chromium, and playwright-core in tests/browser/node_modules).

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn chromium_uses_the_test_page() {
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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args([
            "serve",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-d",
            "warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start rlws serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "rlws serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("node")
        .arg(dir.join("test_page.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .current_dir(&dir)
        .output()
        .expect("run node");
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "browser checks failed:\n{stdout}");
    assert!(stdout.lines().any(|l| l.ends_with(" 0 failed")), "{stdout}");
}
