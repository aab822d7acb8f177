//! `rlws client http://...`: fetches URLs with [`rlws::client::HttpClient`],
//! curl-like: the same flags for the same things, the body on standard
//! output (or `-o FILE`), and curl's exit codes.
//!
//! Several URLs are fetched at once by one client; their output comes in
//! the order of the URLs: a transfer whose turn has not come keeps what it
//! receives in memory until the ones before it are written. With
//! `--pipeline` requests to one place share a connection (lws'
//! `LCCSCF_PIPELINE`): over HTTP/1.1 one after another, over HTTP/2 as
//! streams at once; without it each URL gets a connection of its own.
//!
//! Exit codes, as curl's: 1 an unsupported scheme, 2 a bad command line
//! or settings, 3 a malformed URL or request, 6 a host name that does not
//! resolve, 7 no connection (refused, unreachable), 22 an HTTP status of
//! 400 or more with `--fail`, 23 output cannot be written, 26 an upload
//! file cannot be read, 28 a timeout, 35 a TLS failure, 47 a redirect
//! problem (too many, no usable `Location`), 56 a broken response
//! (connection closed early, HTTP errors), 58 an unusable client
//! certificate, 60 a server certificate that does not verify, 61 a corrupt
//! gzip body, 77 an unusable `--ca` file, 97 a proxy failure.

use std::error::Error as StdError;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rlws::client::{
    ErrorKind, HttpClient, HttpError, HttpVersion, Multipart, Proxy, Request, RequestBody,
    Response, TlsError, UrlProblem,
};
use rlws::http::{header, Method, StatusCode, Version};
use tokio::sync::oneshot;

use crate::client::{secs, ClientArgs};

/// Why a transfer (or the whole command) failed: the exit code and what
/// to say.
#[derive(Debug)]
struct Failure {
    code: u8,
    msg: String,
}

impl Failure {
    fn new(code: u8, msg: impl Into<String>) -> Failure {
        Failure {
            code,
            msg: msg.into(),
        }
    }

    fn http(url: &str, e: &HttpError) -> Failure {
        Failure::new(exit_code(e), format!("{url}: {e}"))
    }
}

/// curl's exit code for a failed request.
fn exit_code(e: &HttpError) -> u8 {
    // A request that waited for a shared connection carries the error of
    // the request that opened it.
    let mut inner = e;
    while let HttpError::Leader(b) = inner {
        inner = b;
    }
    match e.kind() {
        ErrorKind::Request => match inner {
            HttpError::Url(u) if matches!(u.problem(), UrlProblem::Scheme(_)) => 1,
            _ => 3,
        },
        ErrorKind::Dns => 6,
        ErrorKind::Refused => 7,
        ErrorKind::Timeout => 28,
        ErrorKind::Tls => tls_code(e),
        ErrorKind::Proxy => 97,
        ErrorKind::Redirect => 47,
        ErrorKind::Protocol => match inner {
            HttpError::Decode(_) => 61,
            _ => 56,
        },
        ErrorKind::Io => match inner {
            HttpError::RequestBody(_) => 26,
            HttpError::Connect(_) => 7,
            _ => 56,
        },
        _ => 1,
    }
}

/// 60 when the server's certificate did not verify, else 35.
fn tls_code(e: &HttpError) -> u8 {
    // rustls' words for `Error::InvalidCertificate`.
    const BAD_CERT: &str = "invalid peer certificate";
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        let bad = match err.downcast_ref::<TlsError>() {
            Some(t) => t
                .rustls()
                .is_some_and(|r| r.to_string().starts_with(BAD_CERT)),
            None => err.to_string().contains(BAD_CERT),
        };
        if bad {
            return 60;
        }
        cur = err.source();
    }
    35
}

pub fn run(a: ClientArgs) -> ExitCode {
    crate::client::block_on(fetch_all(a))
}

/// What a request sends, made again for each URL.
enum BodySpec {
    None,
    /// `-d` / `--data-binary` data (with the urlencoded content type
    /// unless a header says otherwise).
    Bytes(Vec<u8>),
    /// `--data-binary @FILE`, streamed.
    File(PathBuf),
    Form(Vec<FormPart>),
}

#[derive(Debug)]
enum FormPart {
    Text(String, String),
    File {
        name: String,
        path: PathBuf,
        mime: Option<String>,
        filename: Option<String>,
    },
}

/// The settings every transfer shares.
struct Ctx {
    client: HttpClient,
    include: bool,
    head: bool,
    fail: bool,
    verbose: bool,
    /// `-L --max-redirs 0`: a redirect is an error.
    no_redirects_allowed: bool,
    output: Option<PathBuf>,
    progress: Option<MultiProgress>,
    quiet_errors: bool,
}

impl Ctx {
    /// A line on standard error, around the progress bars.
    fn say(&self, msg: &str) {
        match &self.progress {
            Some(mp) => mp.suspend(|| eprintln!("{msg}")),
            None => eprintln!("{msg}"),
        }
    }

    fn report(&self, f: &Failure) {
        if !self.quiet_errors {
            self.say(&format!("rlws client: {}", f.msg));
        }
    }

    fn bar(&self, len: Option<u64>, url: &str) -> ProgressBar {
        let Some(mp) = &self.progress else {
            return ProgressBar::hidden();
        };
        let (bar, template) = match len {
            Some(n) => (
                ProgressBar::new(n),
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{msg} {spinner} {bytes} {bytes_per_sec}",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = mp.add(bar.with_style(style));
        bar.set_message(url.to_string());
        bar
    }
}

async fn fetch_all(a: ClientArgs) -> ExitCode {
    let quiet_errors = a.silent && !a.show_error;
    let fatal = |f: Failure| {
        if !quiet_errors {
            eprintln!("rlws client: {}", f.msg);
        }
        ExitCode::from(f.code)
    };
    if a.output.is_some() && a.urls.len() > 1 {
        return fatal(Failure::new(2, "-o/--output takes one URL"));
    }
    let client = match build_client(&a) {
        Ok(c) => c,
        Err(f) => return fatal(f),
    };
    let headers = match parse_headers(&a.headers) {
        Ok(h) => h,
        Err(f) => return fatal(f),
    };
    let body = match body_spec(&a) {
        Ok(b) => b,
        Err(f) => return fatal(f),
    };
    let method = match (&a.method, a.head, &body) {
        (Some(m), _, _) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return fatal(Failure::new(2, format!("{m:?} is not an HTTP method"))),
        },
        (None, true, _) => Method::HEAD,
        (None, false, BodySpec::None) => Method::GET,
        (None, false, _) => Method::POST,
    };
    let stderr_tty = std::io::stderr().is_terminal();
    let stdout_tty = std::io::stdout().is_terminal();
    let progress = (!a.silent && !a.head && stderr_tty && (a.output.is_some() || !stdout_tty))
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
    let ctx = Arc::new(Ctx {
        client,
        include: a.include || a.head,
        head: a.head,
        fail: a.fail,
        verbose: a.verbose,
        no_redirects_allowed: a.location && a.max_redirs == 0,
        output: a.output.clone(),
        progress,
        quiet_errors,
    });

    // Each transfer may write once the one before it is done (its sender
    // dropped); the first at once.
    let mut tasks = Vec::new();
    let mut prev: Option<oneshot::Receiver<()>> = None;
    for url in &a.urls {
        let req = make_request(&method, url, &headers, &body);
        let (done, next) = oneshot::channel::<()>();
        let turn = Turn(prev.replace(next));
        let ctx = ctx.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let code = transfer(&ctx, &url, req, turn).await;
            // The next transfer's turn, once everything of this one is
            // written.
            drop(done);
            code
        }));
    }
    // As curl: the exit code of the last transfer that failed.
    let mut failed: Option<u8> = None;
    for t in tasks {
        match t.await {
            Ok(None) => {}
            Ok(Some(code)) => failed = Some(code),
            Err(e) => {
                eprintln!("rlws client: {e}");
                failed = Some(1);
            }
        }
    }
    if !a.silent && (a.urls.len() > 1 || a.verbose) {
        ctx.say(&ctx.client.stats().to_string());
    }
    match failed {
        Some(c) => ExitCode::from(c),
        None => ExitCode::SUCCESS,
    }
}

/// The client for these flags.
fn build_client(a: &ClientArgs) -> Result<HttpClient, Failure> {
    let mut tls = rlws::TlsClientOptions {
        insecure: a.insecure,
        ..Default::default()
    };
    if let Some(ca) = &a.ca {
        tls.ca_pem = Some(read(ca, 77)?);
    }
    if let (Some(c), Some(k)) = (&a.cert, &a.key) {
        tls.client_cert_pem = Some((read(c, 58)?, read(k, 58)?));
    }
    let connect_timeout = a.connect_timeout().map_err(|e| Failure::new(2, e))?;
    let timeout = match a.max_time {
        Some(t) => Some(secs(t, "--max-time").map_err(|e| Failure::new(2, e))?),
        None => None,
    };
    let redirects = match (a.location, a.max_redirs) {
        (false, _) | (true, 0) => 0,
        (true, n) if n < 0 => u32::MAX,
        (true, n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    let proxy = match (&a.proxy, &a.socks5) {
        (Some(p), _) => {
            Some(Proxy::parse(p).map_err(|e| Failure::new(2, format!("--proxy: {e}")))?)
        }
        (None, Some(s)) => Some(
            Proxy::parse(&format!("socks5://{s}"))
                .map_err(|e| Failure::new(2, format!("--socks5: {e}")))?,
        ),
        (None, None) => None,
    };
    let version = if a.http1_1 {
        HttpVersion::Http1
    } else if a.http2 {
        HttpVersion::Http2
    } else {
        HttpVersion::Auto
    };
    let header_ua = a.headers.iter().rev().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("user-agent")
            .then(|| v.trim().to_string())
    });
    // -A or an empty -H "User-Agent:" set the default; a non-empty header
    // goes out as a header (it then replaces the default).
    let ua_removed =
        matches!(header_ua.as_deref(), Some("")) || a.user_agent.as_deref() == Some("");
    let mut b = HttpClient::builder()
        .tls(tls)
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        // curl waits as long as the server takes (see --max-time).
        .idle_timeout(None)
        .redirects(redirects)
        // curl -L follows https to http.
        .allow_downgrade(true)
        .share(a.pipeline)
        .proxy_from_env(proxy.is_none())
        .proxy(proxy)
        .version(version)
        .gzip(a.compressed);
    let setting = |e: HttpError| Failure::new(2, e.to_string());
    if ua_removed {
        b = b.user_agent(None).map_err(setting)?;
    } else if let Some(ua) = &a.user_agent {
        b = b.user_agent(Some(ua)).map_err(setting)?;
    }
    let client = b.build().map_err(|e| {
        let msg = e.to_string();
        let code = if msg.contains("CA") {
            77
        } else if msg.contains("client") {
            58
        } else {
            35
        };
        Failure::new(code, msg)
    })?;
    Ok(client)
}

/// A file named on the command line; `code` if it cannot be read.
fn read(path: &Path, code: u8) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::new(code, format!("{}: {e}", path.display())))
}

/// `-H` values as (name, value); "Name:" (nothing to send) left out.
fn parse_headers(hs: &[String]) -> Result<Vec<(String, String)>, Failure> {
    let mut out = Vec::new();
    for h in hs {
        let (k, v) = match h.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            // curl's "Name;" sends the header with an empty value.
            None => match h.strip_suffix(';') {
                Some(k) => {
                    out.push((k.trim().to_string(), String::new()));
                    continue;
                }
                None => {
                    return Err(Failure::new(
                        2,
                        format!("header {h:?} is not \"Name: value\""),
                    ))
                }
            },
        };
        if k.is_empty() {
            return Err(Failure::new(2, format!("header {h:?} has no name")));
        }
        if !v.is_empty() {
            out.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

/// Standard input, all of it (`@-`).
fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut v = Vec::new();
    std::io::stdin()
        .read_to_end(&mut v)
        .map_err(|e| Failure::new(26, format!("standard input: {e}")))?;
    Ok(v)
}

/// The body the flags ask for (files for -d read now, as curl does).
fn body_spec(a: &ClientArgs) -> Result<BodySpec, Failure> {
    if !a.form.is_empty() {
        return a
            .form
            .iter()
            .map(|f| form_part(f))
            .collect::<Result<Vec<_>, _>>()
            .map(BodySpec::Form);
    }
    if a.data.is_empty() && a.data_binary.is_empty() {
        return Ok(BodySpec::None);
    }
    // One --data-binary @FILE alone is sent from the file as it goes.
    if let ([], [only]) = (a.data.as_slice(), a.data_binary.as_slice()) {
        if let Some(path) = only.strip_prefix('@').filter(|p| *p != "-") {
            let p = PathBuf::from(path);
            if let Err(e) = std::fs::metadata(&p) {
                return Err(Failure::new(26, format!("{path}: {e}")));
            }
            return Ok(BodySpec::File(p));
        }
    }
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for d in &a.data {
        let mut v = match d.strip_prefix('@') {
            Some("-") => read_stdin()?,
            Some(path) => read(Path::new(path), 26)?,
            None => d.clone().into_bytes(),
        };
        if d.starts_with('@') {
            // curl -d @FILE drops carriage returns and line feeds.
            v.retain(|b| *b != b'\r' && *b != b'\n');
        }
        parts.push(v);
    }
    for d in &a.data_binary {
        parts.push(match d.strip_prefix('@') {
            Some("-") => read_stdin()?,
            Some(path) => read(Path::new(path), 26)?,
            None => d.clone().into_bytes(),
        });
    }
    Ok(BodySpec::Bytes(parts.join(&b'&')))
}

/// One `-F` value.
fn form_part(f: &str) -> Result<FormPart, Failure> {
    let Some((name, content)) = f.split_once('=') else {
        return Err(Failure::new(2, format!("-F {f:?}: not NAME=CONTENT")));
    };
    let name = name.to_string();
    if let Some(rest) = content.strip_prefix('@') {
        let mut it = rest.split(';');
        let path = PathBuf::from(it.next().unwrap_or_default());
        let (mut mime, mut filename) = (None, None);
        for opt in it {
            match opt.split_once('=') {
                Some(("type", t)) => mime = Some(t.to_string()),
                Some(("filename", n)) => filename = Some(n.to_string()),
                _ => return Err(Failure::new(2, format!("-F {f:?}: unknown ;{opt}"))),
            }
        }
        if let Err(e) = std::fs::metadata(&path) {
            return Err(Failure::new(26, format!("{}: {e}", path.display())));
        }
        return Ok(FormPart::File {
            name,
            path,
            mime,
            filename,
        });
    }
    if let Some(path) = content.strip_prefix('<') {
        let v = read(Path::new(path), 26)?;
        return Ok(FormPart::Text(
            name,
            String::from_utf8_lossy(&v).into_owned(),
        ));
    }
    Ok(FormPart::Text(name, content.to_string()))
}

/// The request for one URL.
fn make_request(
    method: &Method,
    url: &str,
    headers: &[(String, String)],
    body: &BodySpec,
) -> Result<Request, Failure> {
    let mut req = Request::new(method.clone(), url).map_err(|e| {
        let code = if matches!(e.problem(), UrlProblem::Scheme(_)) {
            1
        } else {
            3
        };
        Failure::new(code, e.to_string())
    })?;
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let data_type = |req: Request| {
        if has_type {
            req
        } else {
            req.header(
                header::CONTENT_TYPE.as_str(),
                "application/x-www-form-urlencoded",
            )
        }
    };
    Ok(match body {
        BodySpec::None => req,
        BodySpec::Bytes(b) => data_type(req).body(RequestBody::bytes(b.clone())),
        BodySpec::File(p) => {
            let b = RequestBody::file(p)
                .map_err(|e| Failure::new(26, format!("{}: {e}", p.display())))?;
            data_type(req).body(b)
        }
        BodySpec::Form(parts) => {
            let mut m = Multipart::new();
            for p in parts {
                m = match p {
                    FormPart::Text(k, v) => m.text(k, v),
                    FormPart::File {
                        name,
                        path,
                        mime: None,
                        filename: None,
                    } => m
                        .file(name, path)
                        .map_err(|e| Failure::new(26, format!("{}: {e}", path.display())))?,
                    FormPart::File {
                        name,
                        path,
                        mime,
                        filename,
                    } => {
                        let data = read(path, 26)?;
                        let fname = filename.clone().unwrap_or_else(|| {
                            path.file_name()
                                .map(|f| f.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        });
                        let mime = mime.as_deref().unwrap_or("application/octet-stream");
                        m.bytes(name, &fname, mime, data)
                    }
                };
            }
            req.multipart(m)
        }
    })
}

/// A transfer's right to write: granted when the one before it is done.
struct Turn(Option<oneshot::Receiver<()>>);

impl Turn {
    async fn wait(&mut self) {
        if let Some(rx) = &mut self.0 {
            // Ok or closed: either way the one before has finished.
            let _ = rx.await;
            self.0 = None;
        }
    }

    fn has(&self) -> bool {
        self.0.is_none()
    }
}

/// Where a transfer's output goes.
enum Output {
    Stdout,
    File(std::fs::File, PathBuf),
}

impl Output {
    fn open(path: Option<&Path>) -> Result<Output, Failure> {
        match path {
            None => Ok(Output::Stdout),
            Some(p) => std::fs::File::create(p)
                .map(|f| Output::File(f, p.to_path_buf()))
                .map_err(|e| Failure::new(23, format!("{}: {e}", p.display()))),
        }
    }

    fn write(&mut self, b: &[u8]) -> Result<(), Failure> {
        if b.is_empty() {
            return Ok(());
        }
        let r = match self {
            Output::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(b).and_then(|_| o.flush())
            }
            Output::File(f, _) => f.write_all(b),
        };
        r.map_err(|e| match self {
            Output::Stdout => Failure::new(23, format!("writing standard output: {e}")),
            Output::File(_, p) => Failure::new(23, format!("writing {}: {e}", p.display())),
        })
    }
}

/// Fetches one URL and writes what it got when its turn comes; the exit
/// code if it failed.
async fn transfer(
    ctx: &Ctx,
    url: &str,
    req: Result<Request, Failure>,
    mut turn: Turn,
) -> Option<u8> {
    let r = match req {
        Ok(req) => fetch(ctx, url, req, &mut turn).await,
        Err(f) => Err(f),
    };
    turn.wait().await;
    match r {
        Ok(()) => None,
        Err(f) => {
            ctx.report(&f);
            Some(f.code)
        }
    }
}

async fn fetch(ctx: &Ctx, url: &str, req: Request, turn: &mut Turn) -> Result<(), Failure> {
    let is_head = *req.method() == Method::HEAD;
    // With -i, each redirect followed prints its head too, as curl's does.
    let hops = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let req = if ctx.include {
        let hops = hops.clone();
        req.redirect_hook(move |step| {
            let h = head_bytes(step.version, step.status, step.reason, step.headers);
            if let Ok(mut v) = hops.lock() {
                v.extend_from_slice(&h);
            }
            true
        })
    } else {
        req
    };
    let resp = ctx
        .client
        .request(req)
        .await
        .map_err(|e| Failure::http(url, &e))?;
    let status = resp.status();
    if ctx.no_redirects_allowed
        && is_redirect(status)
        && resp.headers().contains_key(header::LOCATION)
    {
        return Err(Failure::new(
            47,
            format!("{url}: maximum (0) redirects followed"),
        ));
    }
    let verbose = ctx.verbose.then(|| verbose_text(&resp));
    if ctx.fail && status.as_u16() >= 400 {
        if let Some(v) = &verbose {
            turn.wait().await;
            ctx.say(v);
        }
        return Err(Failure::new(
            22,
            format!(
                "{url}: the requested URL returned error: {}",
                status.as_u16()
            ),
        ));
    }
    let head = ctx.include.then(|| {
        let mut h = hops.lock().map(|v| v.clone()).unwrap_or_default();
        h.extend_from_slice(&head_text(&resp));
        h
    });
    let len = if is_head || ctx.head {
        None
    } else {
        content_length(&resp)
    };
    let bar = if ctx.head {
        ProgressBar::hidden()
    } else {
        ctx.bar(len, url)
    };
    let mut body = resp.into_body();
    // What arrived before this transfer's turn.
    let mut pending: Vec<u8> = Vec::new();
    let mut out: Option<Output> = None;
    let start = |out: &mut Option<Output>, pending: &mut Vec<u8>| -> Result<(), Failure> {
        if let Some(v) = &verbose {
            ctx.say(v);
        }
        let mut o = Output::open(ctx.output.as_deref())?;
        if let Some(h) = &head {
            o.write(h)?;
        }
        o.write(pending)?;
        *pending = Vec::new();
        *out = Some(o);
        Ok(())
    };
    if turn.has() {
        start(&mut out, &mut pending)?;
    }
    let end = loop {
        let piece = match &mut out {
            Some(_) => body.chunk().await,
            None => tokio::select! {
                biased;
                _ = turn.wait() => {
                    start(&mut out, &mut pending)?;
                    continue;
                }
                c = body.chunk() => c,
            },
        };
        match piece {
            Ok(Some(c)) => {
                bar.inc(c.len() as u64);
                match &mut out {
                    Some(o) => {
                        if let Err(f) = o.write(&c) {
                            bar.abandon();
                            return Err(f);
                        }
                    }
                    None => pending.extend_from_slice(&c),
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(Failure::http(url, &e)),
        }
    };
    if out.is_none() {
        turn.wait().await;
        start(&mut out, &mut pending)?;
    }
    match &end {
        Ok(()) => bar.finish(),
        Err(_) => bar.abandon(),
    }
    end
}

fn is_redirect(s: StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn content_length(resp: &Response) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The status line as curl prints it.
fn status_line(version: Version, s: StatusCode, reason: &str) -> String {
    match version {
        // curl: "HTTP/2 200 " (no reason phrase in HTTP/2).
        Version::HTTP_2 => format!("HTTP/2 {} ", s.as_u16()),
        Version::HTTP_10 => format!("HTTP/1.0 {} {reason}", s.as_u16()),
        _ => format!("HTTP/1.1 {} {reason}", s.as_u16()),
    }
}

/// `-i` / `-I`: the status line and headers, CRLF-ended, and a blank line.
fn head_bytes(
    version: Version,
    s: StatusCode,
    reason: &str,
    headers: &header::HeaderMap,
) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(status_line(version, s, reason).as_bytes());
    v.extend_from_slice(b"\r\n");
    for (k, val) in headers {
        v.extend_from_slice(k.as_str().as_bytes());
        v.extend_from_slice(b": ");
        v.extend_from_slice(val.as_bytes());
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

fn head_text(resp: &Response) -> Vec<u8> {
    head_bytes(resp.version(), resp.status(), resp.reason(), resp.headers())
}

/// `-v`: which connection carried the response, and its head.
fn verbose_text(resp: &Response) -> String {
    let c = resp.connection();
    let mut s = format!(
        "* {}: connection #{}, transaction #{}{}",
        resp.url(),
        c.id,
        c.transaction,
        if c.h2 { " (h2)" } else { "" }
    );
    if resp.redirects() > 0 {
        s.push_str(&format!(", after {} redirects", resp.redirects()));
    }
    s.push_str(&format!(
        "\n< {}",
        status_line(resp.version(), resp.status(), resp.reason()).trim_end()
    ));
    for (k, v) in resp.headers() {
        s.push_str(&format!(
            "\n< {}: {}",
            k,
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_like_curl() {
        let h = parse_headers(&[
            "X-A: 1".into(),
            "X-Empty;".into(),
            "Accept:".into(),
            "X-B:two words ".into(),
        ])
        .unwrap();
        assert_eq!(
            h,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("X-Empty".to_string(), String::new()),
                ("X-B".to_string(), "two words".to_string()),
            ]
        );
        assert_eq!(parse_headers(&["nocolon".into()]).unwrap_err().code, 2);
        assert_eq!(parse_headers(&[": v".into()]).unwrap_err().code, 2);
    }

    #[test]
    fn form_parts() {
        match form_part("a=b=c").unwrap() {
            FormPart::Text(k, v) => assert_eq!((k.as_str(), v.as_str()), ("a", "b=c")),
            _ => panic!("text"),
        }
        assert_eq!(form_part("novalue").unwrap_err().code, 2);
        assert_eq!(form_part("f=@/nonexistent/x").unwrap_err().code, 26);
        let me = std::env::current_exe().unwrap();
        let spec = format!("f=@{};type=text/plain;filename=x.txt", me.display());
        match form_part(&spec).unwrap() {
            FormPart::File { mime, filename, .. } => {
                assert_eq!(mime.as_deref(), Some("text/plain"));
                assert_eq!(filename.as_deref(), Some("x.txt"));
            }
            _ => panic!("file"),
        }
    }
}
