//! Real servers nobody here wrote, started for one test on 127.0.0.1 and
//! stopped when dropped: nginx (HTTP/1.1, and h2 over TLS) logging which
//! connection carried each request, tinyproxy (HTTP `CONNECT` and
//! forwarding, optionally with Basic auth) and microsocks (SOCKS5,
//! optionally with a password).

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port of 127.0.0.1 free a moment ago (for servers that cannot be told
/// to pick one and report it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn need(bin: &str, package: &str) {
    if !Path::new(bin).exists() {
        panic!("{bin} is missing: install it with `apt-get install {package}` (scripts/install-test-deps.sh does)");
    }
}

/// A scratch directory for one peer, removed on drop.
fn scratch(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("rlws-peer-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Waits until `addr` accepts connections (the peer is up), or panics with
/// the peer's log.
fn wait_listening(addr: SocketAddr, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "peer exited ({status}) before listening on {addr}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "peer not listening on {addr} after 15 s:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Proc {
    child: Child,
    dir: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx on two ports of 127.0.0.1: `port` plain HTTP/1.1, `tls_port`
/// TLS with h2 and http/1.1 by ALPN, both serving `root` and the extra
/// `server` directives given, logging each request with its connection
/// number and its position on that connection.
pub struct Nginx {
    proc: Proc,
    pub port: u16,
    pub tls_port: u16,
    /// The document root (empty at start).
    pub root: PathBuf,
}

/// One line of nginx's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// nginx's `$connection`: the connection's serial number.
    pub connection: u64,
    /// `$connection_requests`: which request on that connection.
    pub position: u64,
    /// `$request`, e.g. `GET /x HTTP/1.1`.
    pub request: String,
    pub status: u16,
    /// `$request_length`: request line, headers and body.
    pub request_length: u64,
    /// `$server_port`.
    pub port: u16,
}

impl Nginx {
    /// Starts nginx with `extra` inside both `server` blocks (`{port}` and
    /// `{tls_port}` in it replaced by the ports); `cert`/`key` are PEM for
    /// the TLS port.
    pub fn start(cert: &str, key: &str, extra: &str) -> Nginx {
        need("/usr/sbin/nginx", "nginx-light");
        let dir = scratch("nginx");
        let root = dir.join("www");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::write(dir.join("cert.pem"), cert).expect("cert");
        std::fs::write(dir.join("key.pem"), key).expect("key");
        let (port, tls_port) = (free_port(), free_port());
        let d = dir.display();
        let extra = extra
            .replace("{port}", &port.to_string())
            .replace("{tls_port}", &tls_port.to_string());
        let conf = format!(
            r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format conns '$connection $connection_requests $status $request_length $server_port "$request"';
    access_log {d}/access.log conns;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    scgi_temp_path {d}/scgi;
    uwsgi_temp_path {d}/uwsgi;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 10000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        {extra}
    }}
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        server_name localhost;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        root {root};
        {extra}
    }}
}}
"#,
            root = root.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
        let log = dir.join("error.log");
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut proc = Proc { child, dir };
        for p in [port, tls_port] {
            wait_listening(SocketAddr::from(([127, 0, 0, 1], p)), &mut proc.child, &log);
        }
        Nginx {
            proc,
            port,
            tls_port,
            root,
        }
    }

    /// The access log so far.
    pub fn log(&self) -> Vec<LogLine> {
        let text = std::fs::read_to_string(self.proc.dir.join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (nums, req) = l.split_once(" \"")?;
                let mut it = nums.split(' ');
                Some(LogLine {
                    connection: it.next()?.parse().ok()?,
                    position: it.next()?.parse().ok()?,
                    status: it.next()?.parse().ok()?,
                    request_length: it.next()?.parse().ok()?,
                    port: it.next()?.parse().ok()?,
                    request: req.trim_end_matches('"').to_string(),
                })
            })
            .collect()
    }

    /// Waits until the log has at least `n` lines (nginx writes a line
    /// when a request ends, which can be just after the client saw it).
    pub fn log_lines(&self, n: usize) -> Vec<LogLine> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let l = self.log();
            if l.len() >= n || Instant::now() > deadline {
                return l;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// nginx's error log (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.proc.dir.join("error.log")).unwrap_or_default()
    }
}

/// tinyproxy on a port of 127.0.0.1: `CONNECT` to any port, and plain
/// HTTP forwarding; with Basic auth when asked.
pub struct Tinyproxy {
    proc: Proc,
    pub port: u16,
}

impl Tinyproxy {
    pub fn start(auth: Option<(&str, &str)>) -> Tinyproxy {
        need("/usr/bin/tinyproxy", "tinyproxy");
        let dir = scratch("tinyproxy");
        let port = free_port();
        let d = dir.display();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nLogFile \"{d}/tinyproxy.log\"\nLogLevel Info\nPidFile \"{d}/tinyproxy.pid\"\nAllow 127.0.0.1\nDisableViaHeader Yes\n"
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        std::fs::write(dir.join("tinyproxy.conf"), conf).expect("conf");
        let log = dir.join("tinyproxy.log");
        let child = Command::new("/usr/bin/tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(dir.join("tinyproxy.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy");
        let mut proc = Proc { child, dir };
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], port)),
            &mut proc.child,
            &log,
        );
        Tinyproxy { proc, port }
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.proc.dir.join("tinyproxy.log")).unwrap_or_default()
    }
}

/// microsocks (SOCKS5) on a port of 127.0.0.1, with a password when asked.
pub struct Microsocks {
    _proc: Proc,
    pub port: u16,
}

impl Microsocks {
    pub fn start(auth: Option<(&str, &str)>) -> Microsocks {
        need("/usr/bin/microsocks", "microsocks");
        let dir = scratch("microsocks");
        let port = free_port();
        let mut cmd = Command::new("/usr/bin/microsocks");
        cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
        if let Some((u, p)) = auth {
            cmd.args(["-u", u, "-P", p]);
        }
        let log = dir.join("microsocks.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("start microsocks");
        let mut proc = Proc { child, dir };
        wait_listening(
            SocketAddr::from(([127, 0, 0, 1], port)),
            &mut proc.child,
            &log,
        );
        Microsocks { _proc: proc, port }
    }
}
