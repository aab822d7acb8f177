//! `rlws serve` as a daemon: `--daemon --lock`, `--uid` / `--gid`,
//! `sd_notify` readiness and SIGHUP reloads, with real processes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{http_get, run_starter, Daemon, Server};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlws-daemon-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const SERVE: &[&str] = &["-i", "127.0.0.1", "-p", "0", "-d", "warn"];

fn lock_pid(lock: &Path) -> Option<i32> {
    std::fs::read_to_string(lock).ok()?.trim().parse().ok()
}

fn assert_serves(addr: std::net::SocketAddr) {
    let r = http_get(addr, "/").expect("GET /");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

fn must_be_root() {
    // SAFETY: geteuid() only returns the caller's id.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "this test must run as root (it drops privileges)");
}

/// A Unix datagram socket standing in for systemd's notify socket.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { sock, path }
    }

    fn env(&self) -> String {
        self.path.to_string_lossy().to_string()
    }

    /// The next datagram containing `want`, within 10 s.
    fn wait_for(&self, want: &str) -> String {
        wait_datagram(&self.sock, want)
    }
}

fn wait_datagram(sock: &UnixDatagram, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no datagram with {want:?}: {seen:#?}");
        sock.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 1024];
        if let Ok(n) = sock.recv(&mut buf) {
            let d = String::from_utf8_lossy(&buf[..n]).into_owned();
            if d.contains(want) {
                return d;
            }
            seen.push(d);
        }
    }
}

#[test]
fn a_daemon_detaches_holds_its_pid_in_the_lock_and_serves() {
    let dir = tmpdir("start");
    let lock = dir.join("rlws.lock");
    let (mut d, started) = Daemon::start(&lock, SERVE, &[]);
    // The starter printed where the daemon listens, and exited 0.
    assert_eq!(d.addrs.len(), 1, "{:#?}", started.stdout);
    assert_serves(d.addrs[0]);
    // The lock holds the daemon's pid: a live process that is not the
    // starter, in a session of its own, working from /, with its standard
    // streams on /dev/null.
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        format!("{}\n", d.pid)
    );
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.pid)).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let (ppid, sid) = (f[1].parse::<u32>().unwrap(), f[3].parse::<i32>().unwrap());
    assert_eq!(
        ppid,
        std::process::id(),
        "reparented to the test (subreaper)"
    );
    assert_eq!(sid, d.pid, "a session leader");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", d.pid)).unwrap(),
        Path::new("/")
    );
    for fd in 0..3 {
        let to = std::fs::read_link(format!("/proc/{}/fd/{fd}", d.pid)).unwrap();
        assert_eq!(to, Path::new("/dev/null"), "fd {fd}");
    }
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_second_start_while_the_daemon_lives_is_refused_naming_its_pid() {
    let dir = tmpdir("twice");
    let lock = dir.join("rlws.lock");
    let (d, _) = Daemon::start(&lock, SERVE, &[]);
    let l = lock.to_string_lossy().to_string();
    let mut args = vec!["serve", "--daemon", "--lock", &l];
    args.extend_from_slice(SERVE);
    let second = run_starter(&args, &[]);
    assert_eq!(second.status.code(), Some(1), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains(&format!("already running as pid {}", d.pid)),
        "{}",
        second.stderr
    );
    assert!(second.addrs().is_empty());
    // The first one is untouched.
    assert_eq!(lock_pid(&lock), Some(d.pid));
    assert_serves(d.addrs[0]);
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stale_lock_is_removed_and_the_start_succeeds() {
    let dir = tmpdir("stale");
    let lock = dir.join("rlws.lock");
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id() as i32;
    gone.wait().unwrap();
    std::fs::write(&lock, format!("{dead}\n")).unwrap();
    let (d, started) = Daemon::start(&lock, &["-i", "127.0.0.1", "-p", "0"], &[]);
    assert_ne!(d.pid, dead);
    assert_eq!(lock_pid(&lock), Some(d.pid));
    assert!(
        started.stderr.contains(&format!(
            "removed the stale lock file {} (pid {dead} is gone)",
            lock.display()
        )),
        "{}",
        started.stderr
    );
    assert_serves(d.addrs[0]);
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigterm_stops_the_daemon_and_removes_its_lock() {
    let dir = tmpdir("term");
    let lock = dir.join("rlws.lock");
    let (mut d, _) = Daemon::start(&lock, SERVE, &[]);
    assert!(lock.exists());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0), "exit status");
    assert!(!lock.exists(), "the lock file is removed");
    assert!(std::net::TcpStream::connect(d.addrs[0]).is_err());
    // SIGINT does the same.
    let (mut d, _) = Daemon::start(&lock, SERVE, &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!lock.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_daemon_that_cannot_listen_fails_its_start_with_the_reason() {
    let dir = tmpdir("bind");
    let lock = dir.join("rlws.lock");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let l = lock.to_string_lossy().to_string();
    let started = run_starter(
        &[
            "serve",
            "--daemon",
            "--lock",
            &l,
            "-i",
            "127.0.0.1",
            "-p",
            &port,
        ],
        &[],
    );
    assert_eq!(started.status.code(), Some(1), "{}", started.stderr);
    assert!(
        started
            .stderr
            .contains(&format!("rlws: cannot listen on 127.0.0.1:{port}")),
        "{}",
        started.stderr
    );
    assert!(!lock.exists(), "the failed daemon removed its lock");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn privileges_are_dropped_once_listening_on_every_thread() {
    must_be_root();
    let mut srv = Server::start(&["-j", "2", "--uid", "65534", "--gid", "65534"]);
    assert_serves(srv.addrs[0]);
    let pid = srv.child.id() as i32;
    let uids = common::proc_status(pid, "Uid:");
    let gids = common::proc_status(pid, "Gid:");
    let groups = common::proc_status(pid, "Groups:");
    assert!(
        uids.len() >= 3,
        "the main thread and two service threads: {uids:?}"
    );
    for l in &uids {
        assert_eq!(
            l.split_whitespace().skip(1).collect::<Vec<_>>(),
            ["65534"; 4],
            "{l}"
        );
    }
    for l in &gids {
        assert_eq!(
            l.split_whitespace().skip(1).collect::<Vec<_>>(),
            ["65534"; 4],
            "{l}"
        );
    }
    for l in &groups {
        assert_eq!(l.trim(), "Groups:", "no supplementary groups");
    }
    assert!(srv.stop().success());
}

#[test]
fn a_daemon_running_as_nobody_removes_its_lock_in_a_sticky_directory() {
    must_be_root();
    let dir = tmpdir("nobody");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let lock = dir.join("rlws.lock");
    let mut args = SERVE.to_vec();
    args.extend_from_slice(&["--uid", "65534", "--gid", "65534"]);
    let (mut d, _) = Daemon::start(&lock, &args, &[]);
    assert_serves(d.addrs[0]);
    assert!(common::proc_status(d.pid, "Uid:")
        .iter()
        .all(|l| l.split_whitespace().nth(1) == Some("65534")));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!lock.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unknown_user_or_group_is_refused_before_listening() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args([
            "serve",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "--uid",
            "no-such-user-rlws",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no user named \"no-such-user-rlws\""), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
}

#[test]
fn readiness_and_stopping_reach_the_notify_socket() {
    let dir = tmpdir("notify");
    let n = NotifySocket::bind(&dir);
    let mut srv = Server::start_logging("warn", &[], &[("NOTIFY_SOCKET", &n.env())]);
    assert_eq!(n.wait_for("READY=1"), "READY=1");
    assert!(srv.stop().success());
    assert_eq!(n.wait_for("STOPPING=1"), "STOPPING=1");

    // A daemon says which process is the service's main one, here to an
    // abstract socket.
    use std::os::linux::net::SocketAddrExt;
    let name = format!("rlws-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let abs = UnixDatagram::bind_addr(&addr).unwrap();
    let lock = dir.join("rlws.lock");
    let at = format!("@{name}");
    let (d, _) = Daemon::start(&lock, SERVE, &[("NOTIFY_SOCKET", &at)]);
    assert_eq!(
        wait_datagram(&abs, "READY=1"),
        format!("READY=1\nMAINPID={}", d.pid)
    );
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

/// `dir/NAME/index.html` holding `body`; the directory.
fn www(dir: &Path, name: &str, body: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("index.html"), body).unwrap();
    d
}

/// A vhost on 127.0.0.1 port 0 with `extra` keys and these mounts.
fn vhost(name: &str, extra: &str, mounts: &[(&str, &Path)]) -> String {
    let mounts: Vec<String> = mounts
        .iter()
        .map(|(mp, d)| {
            format!(
                "{{\"mountpoint\": \"{mp}\", \"origin\": \"file://{}\"}}",
                d.display()
            )
        })
        .collect();
    format!(
        "{{\"name\": \"{name}\", \"port\": 0, \"interface\": \"127.0.0.1\",{extra}\n \"mounts\": [{}]}}",
        mounts.join(", ")
    )
}

/// `dir/conf` (one service thread) and `dir/conf.d/site` with `vhosts`.
fn write_config(dir: &Path, vhosts: &[String]) {
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(dir.join("conf"), "{\"global\": {\"count-threads\": 1}}\n").unwrap();
    let site = format!("{{\"vhosts\": [{}]}}\n", vhosts.join(",\n"));
    std::fs::write(dir.join("conf.d/site"), site).unwrap();
}

/// `rlws serve --config DIR` with a notify socket, once ready: the server,
/// the socket and the server's standard error lines.
fn serve_config(dir: &Path) -> (Server, NotifySocket, std::sync::mpsc::Receiver<String>) {
    let n = NotifySocket::bind(dir);
    let d = dir.to_string_lossy().to_string();
    let mut srv = Server::spawn_with_env(
        &["serve", "-d", "7", "--config", &d],
        1,
        &[("NOTIFY_SOCKET", &n.env())],
    );
    let err = common::lines(srv.child.stderr.take().expect("stderr"));
    n.wait_for("READY=1");
    (srv, n, err)
}

/// `GET path` with this Host header.
fn get_host(addr: std::net::SocketAddr, host: &str, path: &str) -> String {
    common::http_request(addr, host, path).unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn sighup_with_a_good_config_serves_the_new_mount_and_vhost() {
    let dir = tmpdir("hup-good");
    let first = www(&dir, "first", "<p>first</p>");
    write_config(&dir, &[vhost("localhost", "", &[("/", &first)])]);
    let (mut srv, n, err) = serve_config(&dir);
    let d = dir.to_string_lossy().to_string();
    let addr = srv.addrs[0];
    assert!(get_host(addr, "localhost", "/new/").starts_with("HTTP/1.1 404"));

    let second = www(&dir, "second", "<p>second</p>");
    let other = www(&dir, "other", "<p>other vhost</p>");
    write_config(
        &dir,
        &[
            vhost("localhost", "", &[("/", &first), ("/new", &second)]),
            vhost("other.test", "", &[("/", &other)]),
        ],
    );
    srv.signal(libc::SIGHUP);
    n.wait_for("RELOADING=1");
    n.wait_for("READY=1");
    common::wait_for_line(&err, &format!("reloaded {d}"), Duration::from_secs(10));
    // The same socket (the address did not change) serves the new mount and
    // the new vhost.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_host(addr, "localhost", "/new/");
        if r.contains("second") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new mount does not answer: {r}"
        );
    }
    assert!(get_host(addr, "other.test", "/").contains("other vhost"));
    assert!(get_host(addr, "localhost", "/").contains("first"));
    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_with_a_broken_config_logs_its_errors_and_keeps_serving() {
    let dir = tmpdir("hup-broken");
    let first = www(&dir, "www", "<p>first</p>");
    write_config(&dir, &[vhost("localhost", "", &[("/", &first)])]);
    let (mut srv, n, err) = serve_config(&dir);
    let d = dir.to_string_lossy().to_string();
    write_config(
        &dir,
        &[vhost(
            "localhost",
            " \"colour\": \"red\",",
            &[("/", &first)],
        )],
    );
    srv.signal(libc::SIGHUP);
    assert!(n
        .wait_for("RELOADING=1")
        .starts_with("RELOADING=1\nMONOTONIC_USEC="));
    n.wait_for("READY=1");
    let line = common::wait_for_line(
        &err,
        "error: vhosts[0].colour: unknown key",
        Duration::from_secs(10),
    );
    assert!(
        line.starts_with(&format!("E: {d}/conf.d/site:1:")),
        "{line}"
    );
    common::wait_for_line(&err, "reload refused", Duration::from_secs(10));
    let r = http_get(srv.addrs[0], "/").unwrap();
    assert!(r.contains("first"), "the old configuration serves on: {r}");
    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(dir);
}
