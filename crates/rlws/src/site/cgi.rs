//! CGI (RFC 3875; lwsws' `cgi://` origins): a program run per request,
//! the request body streamed to its stdin, its stdout parsed for the
//! response head and streamed back as the body, its stderr logged.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Response, StatusCode, Version};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::time::{Instant, Sleep};

use super::activity::Activity;
use super::cgi_head::{self, HeadError};
use super::dechunk::Dechunk;
use super::file::percent_decode_bytes;
use super::origin::{BoxFuture, Origin, OriginRequest};
use super::response::{text, Body};

/// A CGI program serving every request under its mount (lwsws'
/// `cgi://` origin, lws' `LWSMPRO_CGI`).
///
/// * The environment is RFC 3875's (`GATEWAY_INTERFACE`, `REQUEST_METHOD`,
///   `SCRIPT_NAME` as the mountpoint, `PATH_INFO` as the decoded path below
///   it, `QUERY_STRING`, `CONTENT_LENGTH` / `CONTENT_TYPE`, `REMOTE_ADDR`,
///   `SERVER_NAME` / `_PORT` / `_PROTOCOL` ...), each request header as
///   `HTTP_*` (not `Proxy`, nor credentials), lws' `SCRIPT_PATH` and
///   `HTTPS=on` over TLS, `PATH`, and the mount's own variables last. Nothing
///   else of rlws' own environment reaches the program.
/// * The request body goes to its stdin as it arrives, at the pace the
///   program reads it (chunked uploads too; there is no `CONTENT_LENGTH`
///   then, and stdin ends with the body).
/// * Its output's head (`Status`, `Location` alone meaning `302`,
///   `Content-Type`, `Content-Length`, other fields; bare line feeds
///   accepted) makes the response; the rest streams as the body, at the
///   pace the client reads. Without a `Content-Length` HTTP/1.1 sends it
///   chunked. A head rlws cannot use is answered `502`.
/// * stderr goes to the log, a line at a time (warnings, target
///   `rlws::cgi`).
/// * A program that neither reads nor writes for the timeout (default
///   60 s) is killed: `504` before its head, a cut-off body after. It is
///   killed as well when the client goes away, with what it started (its
///   process group), and always waited for. At most 64 run at once per
///   origin ([`Cgi::max_running`]).
#[derive(Debug, Clone)]
#[doc(alias = "LWSMPRO_CGI")]
pub struct Cgi {
    program: PathBuf,
    env: Vec<(String, String)>,
    timeout: Duration,
    dir: Option<PathBuf>,
    max_running: usize,
    running: Arc<AtomicUsize>,
}

impl Cgi {
    /// Runs `program` for each request.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Cgi {
            program: program.into(),
            env: Vec::new(),
            timeout: Duration::from_secs(60),
            dir: None,
            max_running: 64,
            running: Arc::default(),
        }
    }

    /// Adds `name=value` to the program's environment (lwsws' `cgi-env`);
    /// it wins over the variables rlws sets.
    #[doc(alias = "cgienv")]
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// How long the program may go without reading or writing before it is
    /// killed (lwsws' `cgi-timeout`; default 60 s).
    #[doc(alias = "cgi_timeout")]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// How many of its programs may run at once (default 64); a request
    /// past that gets `503` with `Retry-After`.
    pub fn max_running(mut self, n: usize) -> Self {
        self.max_running = n;
        self
    }

    /// The directory the program runs in (default: its own directory).
    pub fn working_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    async fn run(&self, req: OriginRequest<'_>) -> Response<Body> {
        let env = environment(&req, &self.program, &self.env);
        let body = req.into_request().into_body();
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match (&self.dir, self.program.parent()) {
            (Some(d), _) => cmd.current_dir(d),
            (None, Some(d)) if !d.as_os_str().is_empty() => cmd.current_dir(d),
            _ => &mut cmd,
        };
        let name: Arc<str> = self.program.display().to_string().into();
        let Some(slot) = Slot::take(&self.running, self.max_running) else {
            tracing::warn!(target: "rlws::cgi", script = %name, max = self.max_running, "too many CGI programs running");
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many CGI programs running",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            return r;
        };
        // Its own process group, so that what it starts goes with it.
        cmd.process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => Proc {
                pid: c.id(),
                child: c,
                _slot: slot,
            },
            Err(e) => {
                tracing::error!(target: "rlws::cgi", script = %name, error = %e, "CGI program could not be started");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "CGI program could not be started",
                );
            }
        };
        let activity = Activity::new();
        if let Some(stdin) = child.child.stdin.take() {
            tokio::task::spawn_local(feed(body, stdin, activity.clone()));
        }
        if let Some(stderr) = child.child.stderr.take() {
            tokio::task::spawn_local(log_stderr(stderr, name.clone()));
        }
        let Some(mut stdout) = child.child.stdout.take() else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CGI program has no stdout",
            );
        };
        let mut buf = BytesMut::with_capacity(8192);
        let head = loop {
            let wait = activity.quiet_until(self.timeout);
            let read = tokio::time::timeout_at(wait, stdout.read_buf(&mut buf)).await;
            let failure = match read {
                Err(_) if activity.quiet_until(self.timeout) > Instant::now() => continue,
                Err(_) => {
                    tracing::warn!(target: "rlws::cgi", script = %name, "CGI program timed out before its response head; killed");
                    reap(child, name, Duration::ZERO);
                    return text(StatusCode::GATEWAY_TIMEOUT, "CGI program timed out");
                }
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(0)) => "it ended without a response head".to_string(),
                Ok(Ok(_)) => {
                    activity.touch();
                    match cgi_head::parse(&buf) {
                        Ok(None) => continue,
                        Ok(Some((h, _))) if h.status.is_informational() => {
                            HeadError::BadStatus(h.status.to_string()).to_string()
                        }
                        Ok(Some((h, used))) => break (h, used),
                        Err(e) => e.to_string(),
                    }
                }
            };
            tracing::warn!(target: "rlws::cgi", script = %name, error = %failure, "bad CGI response");
            reap(child, name, Duration::ZERO);
            return text(
                StatusCode::BAD_GATEWAY,
                &format!("bad CGI response: {failure}"),
            );
        };
        let (head, used) = head;
        let rest = buf.split_off(used).freeze();
        let body = CgiBody {
            stdout,
            child: Some(child),
            name,
            pending: rest,
            left: head.length,
            chunks: head
                .chunked
                .then(|| Box::new((Dechunk::default(), VecDeque::new(), None))),
            timeout: self.timeout,
            activity,
            timer: Box::pin(tokio::time::sleep(self.timeout)),
        };
        let mut r = Response::new(body.boxed_unsync());
        *r.status_mut() = head.status;
        *r.headers_mut() = head.headers;
        r
    }
}

impl Origin for Cgi {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        Box::pin(self.run(req))
    }
}

/// The program's environment for `req` (RFC 3875 §4.1, and lws' names).
fn environment(
    req: &OriginRequest<'_>,
    program: &Path,
    extra: &[(String, String)],
) -> Vec<(OsString, OsString)> {
    let r = req.request();
    let mut env: Vec<(OsString, OsString)> = Vec::with_capacity(32);
    let mut set = |k: &str, v: Vec<u8>| env.push((k.into(), OsString::from_vec(v)));
    set("GATEWAY_INTERFACE", b"CGI/1.1".to_vec());
    set(
        "SERVER_SOFTWARE",
        concat!("rlws/", env!("CARGO_PKG_VERSION")).into(),
    );
    let protocol = match r.version() {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    };
    set("SERVER_PROTOCOL", protocol.into());
    // The name the client used: `:authority` (h2) or `Host`.
    let host = r
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            r.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let (name, port) = match host.as_deref().map(split_host_port) {
        Some((n, p)) => (n.to_string(), p),
        None => (
            req.local_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            None,
        ),
    };
    set("SERVER_NAME", name.into_bytes());
    let port = req
        .local_addr()
        .map(|a| a.port().to_string())
        .or(port.map(str::to_string))
        .unwrap_or_default();
    set("SERVER_PORT", port.into_bytes());
    set("REQUEST_METHOD", r.method().as_str().into());
    set(
        "REQUEST_URI",
        r.uri().path_and_query().map_or("/", |p| p.as_str()).into(),
    );
    set("QUERY_STRING", r.uri().query().unwrap_or("").into());
    let mp = req.mountpoint();
    set("SCRIPT_NAME", if mp == "/" { "" } else { mp }.into());
    let rest = req.path_in_mount();
    set(
        "PATH_INFO",
        percent_decode_bytes(rest.as_bytes(), false).unwrap_or_else(|| rest.into()),
    );
    let prog = program.as_os_str().as_encoded_bytes().to_vec();
    set("SCRIPT_FILENAME", prog.clone());
    set("SCRIPT_PATH", prog);
    let peer = req.peer();
    set("REMOTE_ADDR", peer.ip().to_string().into_bytes());
    set("REMOTE_PORT", peer.port().to_string().into_bytes());
    set(
        "REQUEST_SCHEME",
        if req.is_tls() { "https" } else { "http" }.into(),
    );
    if req.is_tls() {
        set("HTTPS", b"on".to_vec());
    }
    let h = r.headers();
    if let Some(v) = h.get(header::CONTENT_LENGTH) {
        set("CONTENT_LENGTH", v.as_bytes().to_vec());
    }
    if let Some(v) = h.get(header::CONTENT_TYPE) {
        set("CONTENT_TYPE", v.as_bytes().to_vec());
    }
    for (name, var) in http_variables(h) {
        set(&name, var);
    }
    if !h.contains_key(header::HOST) {
        if let Some(a) = r.uri().authority() {
            set("HTTP_HOST", a.as_str().into());
        }
    }
    let path = std::env::var_os("PATH")
        .map(OsString::into_vec)
        .unwrap_or_else(|| b"/usr/local/bin:/usr/bin:/bin".to_vec());
    set("PATH", path);
    for (k, v) in extra {
        set(k, v.clone().into_bytes());
    }
    env
}

/// `host[:port]` (or `[v6]:port`) split.
fn split_host_port(h: &str) -> (&str, Option<&str>) {
    if let Some(rest) = h.strip_prefix('[') {
        if let Some((ip, after)) = rest.split_once(']') {
            return (ip, after.strip_prefix(':'));
        }
    }
    match h.rsplit_once(':') {
        Some((n, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (n, Some(p)),
        _ => (h, None),
    }
}

/// Request headers as `HTTP_*` variables: several fields of one name
/// joined (`; ` for cookies, `, ` otherwise). Not `Content-Length` or
/// `Content-Type` (they have their own), not `Proxy` (a program would take
/// it for its `HTTP_PROXY` setting), not credentials.
fn http_variables(h: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for name in h.keys() {
        let n = name.as_str();
        if matches!(
            n,
            "content-length" | "content-type" | "proxy" | "authorization" | "proxy-authorization"
        ) || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            continue;
        }
        let sep: &[u8] = if n == "cookie" { b"; " } else { b", " };
        let mut v = Vec::new();
        for (i, val) in h.get_all(name).iter().enumerate() {
            if i > 0 {
                v.extend_from_slice(sep);
            }
            v.extend_from_slice(val.as_bytes());
        }
        let var = format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_"));
        out.push((var, v));
    }
    out
}

/// Streams the request body into the program's stdin, as fast as it reads;
/// closing stdin ends the body.
async fn feed(mut body: Body, mut stdin: ChildStdin, activity: Activity) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // The client's upload broke off: the program sees its input end.
            return;
        };
        if let Ok(data) = frame.into_data() {
            if stdin.write_all(&data).await.is_err() {
                // The program closed its stdin (or ended).
                return;
            }
            activity.touch();
        }
    }
}

/// Longest stderr line logged as one; longer ones are cut there.
const LOG_LINE: usize = 4096;

/// Logs what the program writes to stderr, a line at a time.
async fn log_stderr(mut err: ChildStderr, name: Arc<str>) {
    let mut line = Vec::with_capacity(256);
    let mut buf = [0u8; 4096];
    loop {
        let n = match err.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' || line.len() == LOG_LINE {
                emit(&name, &line);
                line.clear();
                if b == b'\n' {
                    continue;
                }
            }
            line.push(b);
        }
    }
    if !line.is_empty() {
        emit(&name, &line);
    }
}

fn emit(name: &str, line: &[u8]) {
    let line = String::from_utf8_lossy(line);
    tracing::warn!(target: "rlws::cgi", script = %name, "{}", line.trim_end_matches('\r'));
}

/// Waits for the program in the background (so it leaves no zombie),
/// killing it if it has not ended within `grace`; logs how it ended.
fn reap(mut p: Proc, name: Arc<str>, grace: Duration) {
    tokio::task::spawn_local(async move {
        let status = match tokio::time::timeout(grace, p.child.wait()).await {
            Ok(s) => s,
            Err(_) => {
                p.kill_group();
                p.child.wait().await
            }
        };
        p.waited();
        match status {
            Ok(s) if s.success() => {
                tracing::debug!(target: "rlws::cgi", script = %name, "CGI program ended")
            }
            Ok(s) => {
                tracing::info!(target: "rlws::cgi", script = %name, status = %s, "CGI program ended")
            }
            Err(e) => {
                tracing::warn!(target: "rlws::cgi", script = %name, error = %e, "waiting for a CGI program")
            }
        }
    });
}

/// A running program: killed with its process group unless it was waited
/// for, and holding one of its origin's running slots.
struct Proc {
    child: Child,
    /// Until it has been waited for (then its id may belong to another).
    pid: Option<u32>,
    _slot: Slot,
}

impl Proc {
    /// Notes that it has been waited for: its process id (and so its
    /// group's) may now be reused, and is no longer signalled.
    fn waited(&mut self) {
        self.pid = None;
    }

    /// SIGKILL to the program's whole process group.
    fn kill_group(&self) {
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) takes plain integers and touches no memory of
            // ours; the group is the program's own (process_group(0) made
            // its id the group's), and, not yet waited for, that id cannot
            // have been reused.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Dropped before being waited for (the client went away): the group
        // goes; tokio waits for the leader (kill_on_drop).
        self.kill_group();
    }
}

/// One of a [`Cgi`]'s running programs, counted while it lives.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(running: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        let n = running.fetch_add(1, Ordering::AcqRel);
        if n >= max {
            running.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(running.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a program that closed its stdout may take to end.
const END_GRACE: Duration = Duration::from_secs(10);

/// A chunked body's decoder, the data it took out and not yet sent, and
/// what was wrong with the framing.
type Chunks = (Dechunk, VecDeque<Bytes>, Option<String>);

/// The program's stdout after its head, as the response body.
struct CgiBody {
    stdout: ChildStdout,
    /// Taken when stdout ends, to be waited for.
    child: Option<Proc>,
    name: Arc<str>,
    /// Body bytes read with the head.
    pending: Bytes,
    /// What is left of the `Content-Length` the program gave.
    left: Option<u64>,
    /// The program frames its output in chunks: their decoder, data taken
    /// out and not yet sent, and what was wrong with the framing (told
    /// after the data before it).
    chunks: Option<Box<Chunks>>,
    timeout: Duration,
    activity: Activity,
    timer: Pin<Box<Sleep>>,
}

impl CgiBody {
    fn end(&mut self) {
        if let Some(c) = self.child.take() {
            reap(c, self.name.clone(), END_GRACE);
        }
    }

    /// `b` cut to what the `Content-Length` still allows.
    fn within_length(&mut self, mut b: Bytes) -> Bytes {
        if let Some(left) = &mut self.left {
            if b.len() as u64 > *left {
                b.truncate(*left as usize);
            }
            *left -= b.len() as u64;
        }
        b
    }
}

impl CgiBody {
    /// [`http_body::Body::poll_frame`] for output the program chunked.
    fn poll_chunks(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        loop {
            let Some(c) = self.chunks.as_mut() else {
                return Poll::Ready(None);
            };
            let (dechunk, ready, broken) = &mut **c;
            if let Some(b) = ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if let Some(e) = broken.take() {
                tracing::warn!(target: "rlws::cgi", script = %self.name, error = %e, "bad CGI response body");
                // Nothing after the error is read.
                self.chunks = None;
                self.left = Some(0);
                self.end();
                return Poll::Ready(Some(Err(std::io::Error::other(e))));
            }
            if dechunk.is_done() {
                self.end();
                return Poll::Ready(None);
            }
            let input = if self.pending.is_empty() {
                match self.poll_stdout(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(None)) => {
                        self.end();
                        return Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "CGI output ended before its last chunk",
                        ))));
                    }
                    Poll::Ready(Ok(Some(b))) => b,
                }
            } else {
                std::mem::take(&mut self.pending)
            };
            let Some(c) = self.chunks.as_mut() else {
                return Poll::Ready(None);
            };
            let (dechunk, ready, broken) = &mut **c;
            let mut pieces = Vec::new();
            if let Err(e) = dechunk.feed(input, &mut pieces) {
                *broken = Some(e.to_string());
            }
            ready.extend(pieces.into_iter().filter(|p| !p.is_empty()));
        }
    }

    /// The next bytes of stdout (`None` at its end), with the inactivity
    /// timeout.
    fn poll_stdout(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, std::io::Error>> {
        let mut buf = BytesMut::zeroed(16 * 1024);
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut self.stdout).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(None));
                }
                self.activity.touch();
                buf.truncate(n);
                Poll::Ready(Ok(Some(buf.freeze())))
            }
            Poll::Ready(Err(e)) => {
                self.end();
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                let until = self.activity.quiet_until(self.timeout);
                if self.timer.deadline() != until {
                    self.timer.as_mut().reset(until);
                }
                ready!(std::future::Future::poll(self.timer.as_mut(), cx));
                tracing::warn!(target: "rlws::cgi", script = %self.name, "CGI program timed out during its body; killed");
                if let Some(c) = self.child.take() {
                    reap(c, self.name.clone(), Duration::ZERO);
                }
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "CGI program timed out",
                )))
            }
        }
    }
}

impl Drop for CgiBody {
    /// hyper drops a body it knows has ended without polling it again: a
    /// program whose output was complete still gets its time to end (one
    /// whose client went away mid-body is killed, by [`Proc`]'s drop).
    fn drop(&mut self) {
        if http_body::Body::is_end_stream(self) {
            self.end();
        }
    }
}

impl http_body::Body for CgiBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if this.chunks.is_some() {
            return this.poll_chunks(cx);
        }
        if !this.pending.is_empty() {
            let b = std::mem::take(&mut this.pending);
            let b = this.within_length(b);
            if !b.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
        }
        if this.left == Some(0) {
            this.end();
            return Poll::Ready(None);
        }
        match this.poll_stdout(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(None)) => {
                this.end();
                if this.left.is_some_and(|l| l > 0) {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "CGI output ended before its Content-Length",
                    ))));
                }
                Poll::Ready(None)
            }
            Poll::Ready(Ok(Some(b))) => {
                let b = this.within_length(b);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0)
            || self
                .chunks
                .as_ref()
                .is_some_and(|c| c.0.is_done() && c.1.is_empty() && c.2.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_split() {
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some("8080"))
        );
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(split_host_port("[::1]:7681"), ("::1", Some("7681")));
        assert_eq!(split_host_port("[::1]"), ("::1", None));
    }

    #[test]
    fn headers_become_http_variables_but_not_proxy_or_credentials() {
        let mut h = HeaderMap::new();
        h.append("user-agent", "t/1".parse().unwrap());
        h.append("cookie", "a=1".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        h.append("x-many", "1".parse().unwrap());
        h.append("x-many", "2".parse().unwrap());
        h.append("proxy", "http://evil/".parse().unwrap());
        h.append("authorization", "Basic eA==".parse().unwrap());
        h.append("content-type", "text/plain".parse().unwrap());
        let mut v = http_variables(&h);
        v.sort();
        assert_eq!(
            v,
            vec![
                ("HTTP_COOKIE".to_string(), b"a=1; b=2".to_vec()),
                ("HTTP_USER_AGENT".to_string(), b"t/1".to_vec()),
                ("HTTP_X_MANY".to_string(), b"1, 2".to_vec()),
            ]
        );
    }
}
