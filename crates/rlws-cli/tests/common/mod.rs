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
        Server::spawn(&local_args("warn", extra), 1)
    }

    /// `rlws serve -i 127.0.0.1 -p 0 -d LEVEL EXTRA...` with `env` added to
    /// its environment and standard error captured in `child.stderr`.
    pub fn start_logging(level: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn_with(&local_args(level, extra), 1, Stdio::piped(), env)
    }

    /// `rlws ARGS...`, waiting until it has printed `sockets` "listening on"
    /// lines (the sockets exist and accept from then on).
    pub fn spawn(args: &[&str], sockets: usize) -> Server {
        Server::spawn_with(args, sockets, Stdio::inherit(), &[])
    }

    /// [`Server::spawn`] with standard error captured in `child.stderr`.
    pub fn spawn_capturing_stderr(args: &[&str], sockets: usize) -> Server {
        Server::spawn_with(args, sockets, Stdio::piped(), &[])
    }

    /// [`Server::spawn_capturing_stderr`] with `env` added to its
    /// environment.
    pub fn spawn_with_env(args: &[&str], sockets: usize, env: &[(&str, &str)]) -> Server {
        Server::spawn_with(args, sockets, Stdio::piped(), env)
    }

    fn spawn_with(args: &[&str], sockets: usize, stderr: Stdio, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rlws"))
            .args(args)
            .envs(env.iter().copied())
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

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill() with a pid we own and a valid signal number has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM, then the exit status (within 10 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
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

/// `serve -i 127.0.0.1 -p 0 -d LEVEL EXTRA...`.
fn local_args<'a>(level: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["serve", "-i", "127.0.0.1", "-p", "0", "-d", level];
    args.extend_from_slice(extra);
    args
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

/// `GET path` over HTTP/1.1 (Host: localhost) and the whole response, or
/// the error connecting or reading.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    http_request(addr, "localhost", path)
}

/// [`http_get`] with this Host header.
pub fn http_request(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp)
}

/// A request with a body (`Content-Type: ctype`) and the whole response.
pub fn http_request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    s.write_all(body)?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    Ok(resp)
}

/// What the command that starts a daemon left: its status, its standard
/// output lines and its standard error.
pub struct Started {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: String,
}

impl Started {
    /// The addresses of its "listening on" lines.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.stdout
            .iter()
            .filter_map(|l| listening_addr(l))
            .collect()
    }
}

/// Runs `rlws ARGS...` (with `env` added) to its end, within 30 s, as the
/// command that starts a daemon: the daemon is reparented to this test
/// process (a child subreaper), so that [`Daemon`] can reap it.
pub fn run_starter(args: &[&str], env: &[(&str, &str)]) -> Started {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers and only
    // changes which process inherits our orphaned descendants.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rlws");
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + Duration::from_secs(30);
    // To the end of both streams: the starter has exited and the daemon
    // has sent its own to /dev/null.
    let stdout: Vec<String> = std::iter::from_fn(|| next_line(&out, deadline)).collect();
    let stderr: Vec<String> = std::iter::from_fn(|| next_line(&err, deadline)).collect();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rlws {args:?} did not end; stdout {stdout:#?} stderr {stderr:#?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Started {
        status,
        stdout,
        stderr: stderr.join("\n"),
    }
}

/// A daemon a test started (its pid from the lock file), killed and
/// reaped on drop if it still runs.
pub struct Daemon {
    pub pid: i32,
    pub addrs: Vec<SocketAddr>,
    exited: Option<i32>,
}

impl Daemon {
    /// `rlws serve --daemon --lock LOCK ARGS...`, which must succeed.
    pub fn start(lock: &Path, args: &[&str], env: &[(&str, &str)]) -> (Daemon, Started) {
        let l = lock.to_string_lossy().to_string();
        let mut all = vec!["serve", "--daemon", "--lock", &l];
        all.extend_from_slice(args);
        let started = run_starter(&all, env);
        assert!(
            started.status.success(),
            "the start failed: {:?}\nstdout {:#?}\nstderr {}",
            started.status,
            started.stdout,
            started.stderr
        );
        let text = std::fs::read_to_string(lock).expect("the lock file");
        let pid = text.trim().parse::<i32>().expect("a pid in the lock file");
        let d = Daemon {
            pid,
            addrs: started.addrs(),
            exited: None,
        };
        (d, started)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill() with a pid we started and a valid signal number.
        unsafe { libc::kill(self.pid, sig) };
    }

    /// Waits (within `within`) for the daemon to exit and reaps it: its
    /// exit status, or `None` if it runs on.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while self.exited.is_none() {
            let mut status = 0;
            // SAFETY: waitpid on our (adopted) child, writing a live local.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r == self.pid {
                self.exited = Some(if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                });
            } else if r < 0 || Instant::now() > deadline {
                return None;
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.exited
    }
}

/// The `/proc/PID/task/*/status` lines starting with `key`: one per thread.
pub fn proc_status(pid: i32, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
    for t in tasks.flatten() {
        let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        out.extend(st.lines().filter(|l| l.starts_with(key)).map(String::from));
    }
    out
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited.is_none() {
            self.signal(libc::SIGKILL);
            self.wait_exit(Duration::from_secs(10));
        }
    }
}

#[allow(unused_imports)] // each test file uses some of them
pub use rlws_testkit::Refusing;

/// lws' example lwsws configuration (its `etc-lwsws-conf-EXAMPLE` and
/// `etc-lwsws-conf.d-localhost-EXAMPLE`), key for key and value for value:
/// globals with uid/gid 48 and `interface`, the test site under
/// `_lws_ddir_`, server-status, a CGI script, the POST demo and the
/// test protocols with their per-vhost options.
pub fn lws_example(dir: &std::path::Path, port: &str, access_log: &str) {
    std::fs::write(
        dir.join("conf"),
        "# global settings\n{\n  \"global\": {\n   \"uid\": \"48\",\n   \"gid\": \"48\",\n   \"interface\": \"eth0\",\n   \"count-threads\": \"1\",\n   \"server-string\": \"lwsws\",\n   \"init-ssl\": \"yes\"\n }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("conf.d/localhost"),
        format!(
            r#"{{
 "vhosts": [ {{
     "name": "localhost",
     "port": "{port}",
     "interface": "lo",
#     "host-ssl-key":  "/etc/pki/tls/private/libwebsockets.org.key",
     "access-log": "{access_log}",
     "mounts": [{{
       "mountpoint": "/",
       "origin": "file://_lws_ddir_/libwebsockets-test-server",
       "default": "test.html",
       "cache-max-age": "60",
       "cache-reuse": "1",
       "cache-revalidate": "1",
       "cache-intermediaries": "0"
       }}, {{
        "mountpoint": "/server-status",
        "origin": "file://_lws_ddir_/libwebsockets-test-server/server-status",
        "default": "server-status.html"
	}}, {{
	"mountpoint": "/testcgi",
	"origin": "cgi://_lws_ddir_/libwebsockets-test-server/lws-cgi-test.sh"
       }}, {{
        "mountpoint": "/formtest",
        "origin": "callback://protocol-post-demo"
       }}],
     # which protocols are enabled for this vhost
     "ws-protocols": [{{
       "dumb-increment-protocol": {{ "status": "ok" }},
       "lws-mirror-protocol": {{ "status": "ok" }},
       "lws-status": {{ "status": "ok" }},
       "protocol-post-demo": {{ "status": "ok" }},
       "lws-server-status": {{ "status": "ok", "update-ms": "5000" }}
     }}]
    }}
  ]
}}
"#
        ),
    )
    .unwrap();
}

/// A data directory (for `--data-dir`) in `dir`: Debian's lws test server
/// files as `libwebsockets-test-server/`, plus the `lws-cgi-test.sh` lws'
/// example config mounts (a shell script saying what it was asked).
pub fn lws_data_dir(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let debian = std::path::Path::new("/usr/share/libwebsockets-test-server");
    assert!(
        debian.join("test.html").exists(),
        "{}: apt-get install libwebsockets-test-server (scripts/install-test-deps.sh does)",
        debian.display()
    );
    let root = dir.join("data");
    let data = root.join("libwebsockets-test-server");
    std::fs::create_dir_all(&data).unwrap();
    for e in std::fs::read_dir(debian).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), data.join(e.file_name())).unwrap();
    }
    let cgi = data.join("lws-cgi-test.sh");
    std::fs::write(
        &cgi,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"cgi says $REQUEST_METHOD $QUERY_STRING\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Readable once privileges are dropped (the example runs as uid 48).
    for p in [dir, &root, &data] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    root
}
