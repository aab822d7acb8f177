//! `rlws serve`'s log output: syslog datagrams, timestamps, lws levels.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Server;

#[test]
fn syslog_socket_gets_the_vhost_line_as_a_daemon_facility_datagram() {
    let path = std::env::temp_dir().join(format!("rlws-syslog-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).expect("bind the syslog socket");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let p = path.to_string_lossy().to_string();
    let mut srv = Server::start_logging("7", &["--syslog-socket", &p], &[]);
    let want = format!("vhost localhost on http://127.0.0.1:{}/", srv.port);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let line = loop {
        assert!(
            Instant::now() < deadline,
            "no syslog line with {want:?}: {seen:#?}"
        );
        let mut buf = [0u8; 4096];
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let d = String::from_utf8_lossy(&buf[..n]).into_owned();
        if d.contains(&want) {
            break d;
        }
        seen.push(d);
    };
    // Facility daemon (3 << 3) with notice (5): info events are lws notices.
    let prefix = format!("<29>rlws[{}]: {want}", srv.child.id());
    assert!(line.starts_with(&prefix), "{line}");
    assert!(srv.stop().success());
    // Nothing went to standard error.
    let mut err = String::new();
    std::io::Read::read_to_string(&mut srv.child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("vhost localhost"), "{err}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn log_timestamps_start_lines_on_stderr_with_lws_time_and_level() {
    let mut srv = Server::start_logging("7", &["--log-timestamps"], &[]);
    let err = common::lines(srv.child.stderr.take().unwrap());
    let line = common::wait_for_line(&err, "vhost localhost", Duration::from_secs(10));
    // [2026/12/01 12:00:00:1234] N: vhost localhost on ...
    let b = line.as_bytes();
    assert!(
        line.len() > 29 && b[0] == b'[' && b[5] == b'/' && b[25] == b']',
        "{line}"
    );
    assert!(
        line[26..].starts_with(" N: vhost localhost on http://127.0.0.1:"),
        "{line}"
    );
    assert!(srv.stop().success());
}

#[test]
fn a_missing_syslog_socket_is_reported_once_and_the_server_serves_on() {
    let path = std::env::temp_dir().join(format!("rlws-no-syslog-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.to_string_lossy().to_string();
    let mut srv = Server::start_logging("7", &["--syslog-socket", &p], &[]);
    let err = common::lines(srv.child.stderr.take().unwrap());
    common::wait_for_line(&err, &format!("syslog at {p}: "), Duration::from_secs(10));
    let _ = std::net::TcpStream::connect(srv.addrs[0]).expect("still serving");
    assert!(srv.stop().success());
    // The "shutting down" line was lost too, without a second report.
    let rest: Vec<String> = err.iter().collect();
    assert!(!rest.iter().any(|l| l.contains("syslog at")), "{rest:#?}");
}
