//! Helpers shared by the `rlws` binary's tests: a running `rlws serve` on a
//! port the system picks, and an address where nothing listens.

#![allow(dead_code)] // each test file uses some of these

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A running `rlws serve`, stopped with SIGTERM (or killed) on drop.
pub struct Server {
    pub child: Child,
    /// The sockets it reported listening on, in order.
    pub addrs: Vec<SocketAddr>,
    pub port: u16,
    /// Its standard output, line by line, after the "listening on" lines.
    pub stdout: mpsc::Receiver<String>,
}

impl Server {
    /// `rlws serve -i 127.0.0.1 -p 0 -d warn EXTRA...`.
    pub fn start(extra: &[&str]) -> Server {
        let mut args = vec!["serve", "-i", "127.0.0.1", "-p", "0", "-d", "warn"];
        args.extend_from_slice(extra);
        Server::spawn(&args, 1)
    }

    /// `rlws ARGS...`, waiting until it has printed `sockets` "listening on"
    /// lines (the sockets exist and accept from then on).
    pub fn spawn(args: &[&str], sockets: usize) -> Server {
        Server::spawn_with(args, sockets, Stdio::inherit())
    }

    /// [`Server::spawn`] with standard error captured in `child.stderr`.
    pub fn spawn_capturing_stderr(args: &[&str], sockets: usize) -> Server {
        Server::spawn_with(args, sockets, Stdio::piped())
    }

    fn spawn_with(args: &[&str], sockets: usize, stderr: Stdio) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlws"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn rlws serve");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut addrs = Vec::new();
        while addrs.len() < sockets {
            let Some(line) = next_line(&stdout, deadline) else {
                let _ = child.kill();
                panic!("rlws {args:?} did not report listening");
            };
            addrs.extend(listening_addr(&line));
        }
        let port = addrs[0].port();
        Server {
            child,
            addrs,
            port,
            stdout,
        }
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill() with a pid we own and a valid signal number has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("rlws serve did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The lines `r` gives, read on a thread of their own.
pub fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line, or `None` at the end or once `deadline` has passed.
pub fn next_line(rx: &mpsc::Receiver<String>, deadline: Instant) -> Option<String> {
    rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// The first line containing `want` (within `within`), or a panic naming
/// the lines seen.
pub fn wait_for_line(rx: &mpsc::Receiver<String>, want: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(line) = next_line(rx, deadline) {
        if line.contains(want) {
            return line;
        }
        seen.push(line);
    }
    panic!("no line containing {want:?} within {within:?}; got {seen:#?}");
}

/// The address of a `listening on ADDR` line.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("listening on ")?.trim().parse().ok()
}

#[allow(unused_imports)] // each test file uses some of them
pub use rlws_testkit::Refusing;
