//! The Autobahn suite in the client role: kosoku's fuzzing server drives
//! `examples/autobahn_client` through all 517 cases (compression included).
//! Needs `bash scripts/install-test-deps.sh` (kosoku in .venv).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn example_binary() -> PathBuf {
    // Integration tests run from target/<profile>/deps; examples are built
    // beside, in target/<profile>/examples, by `cargo test`/`nextest`.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let p = dir.join("examples/autobahn_client");
    assert!(
        p.exists(),
        "{} missing: build it with `cargo build --examples`",
        p.display()
    );
    p
}

#[test]
fn autobahn_client_role_all_sections() {
    let kosoku = repo().join(".venv/bin/kosoku");
    assert!(
        kosoku.exists(),
        "{} missing: run `bash scripts/install-test-deps.sh`",
        kosoku.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = repo().join("target/autobahn/client");
    let _ = std::fs::remove_dir_all(&out);
    let mut server = Command::new(&kosoku)
        .args(["-m", "fuzzingserver", "-o"])
        .arg(&out)
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kosoku fuzzingserver");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "kosoku fuzzingserver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new(example_binary())
        .arg(format!("ws://127.0.0.1:{port}"))
        .status()
        .expect("run autobahn_client");
    assert!(status.success(), "autobahn_client exited with {status}");
    // The server writes its reports after /updateReports; wait for the index.
    let index = out.join("index.json");
    let deadline = Instant::now() + Duration::from_secs(120);
    // Written once the reports are complete: wait until it parses.
    let complete = || {
        std::fs::read(&index)
            .ok()
            .is_some_and(|b| serde_json::from_slice::<serde_json::Value>(&b).is_ok())
    };
    while !complete() {
        assert!(
            Instant::now() < deadline,
            "no complete {} after updateReports",
            index.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = server.kill();
    let _ = server.wait();
    let check = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("scripts/check_autobahn.py"))
        .arg(&out)
        .args(["rlws", "517"])
        .output()
        .expect("run check_autobahn.py");
    let text = String::from_utf8_lossy(&check.stdout);
    println!("{text}");
    assert!(check.status.success(), "{text}");
    assert!(text.contains("autobahn: 517 passed, 0 failed"), "{text}");
}
