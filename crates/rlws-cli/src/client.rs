//! `rlws client URL...`: `http://` and `https://` URLs are fetched curl-like
//! ([`crate::client_http`]); a `ws://` or `wss://` URL opens a WebSocket
//! that standard input is sent on ([`crate::client_ws`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The command line of `rlws client`. Flags shared by both kinds of URL
/// come first, then the HTTP ones (curl's names and meanings), then the
/// WebSocket ones. As with curl, an option given twice takes the last value
/// (the repeatable ones add up).
#[derive(clap::Args)]
#[command(args_override_self = true)]
pub struct ClientArgs {
    /// http(s)://host:port/path (several are fetched at once), or one
    /// ws(s)://host:port/path.
    #[arg(required = true, value_name = "URL")]
    pub urls: Vec<String>,
    /// Extra request header, "Name: value" (repeatable). For HTTP, "Name:"
    /// sends no such header (only User-Agent can be taken away).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Connect timeout in seconds (DNS, TCP, proxy and TLS).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub connect_timeout: f64,
    /// TLS: trust the CA certificates in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE", visible_alias = "cacert")]
    pub ca: Option<PathBuf>,
    /// TLS: client certificate chain (PEM), with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// TLS: private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// TLS: accept any server certificate (self-signed, other name). For testing only.
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// the request method (default GET; POST with -d, --data-binary or -F).
    #[arg(
        short = 'X',
        long = "request",
        value_name = "METHOD",
        help_heading = "HTTP"
    )]
    pub method: Option<String>,
    /// POST DATA as application/x-www-form-urlencoded (repeatable, joined
    /// with &); @FILE reads FILE without its line breaks, @- standard input.
    #[arg(short = 'd', long = "data", value_name = "DATA", help_heading = "HTTP")]
    pub data: Vec<String>,
    /// POST DATA exactly as given; @FILE sends FILE, @- standard input.
    #[arg(long, value_name = "DATA", help_heading = "HTTP")]
    pub data_binary: Vec<String>,
    /// a multipart/form-data field (repeatable): name=value, name=@FILE
    /// (a file upload; ;type=MIME and ;filename=NAME may follow), name=<FILE
    /// (a text field with FILE's contents).
    #[arg(short = 'F', long = "form", value_name = "NAME=CONTENT", conflicts_with_all = ["data", "data_binary"], help_heading = "HTTP")]
    pub form: Vec<String>,
    /// write the body to FILE instead of standard output (one URL only).
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "HTTP")]
    pub output: Option<PathBuf>,
    /// write the status line and headers before the body.
    #[arg(short = 'i', long, help_heading = "HTTP")]
    pub include: bool,
    /// send HEAD and write the status line and headers.
    #[arg(short = 'I', long, conflicts_with_all = ["data", "data_binary", "form"], help_heading = "HTTP")]
    pub head: bool,
    /// follow redirects (without it a redirect is the answer).
    #[arg(short = 'L', long, help_heading = "HTTP")]
    pub location: bool,
    /// with -L, the most redirects to follow (-1: no limit).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 50,
        allow_negative_numbers = true,
        help_heading = "HTTP"
    )]
    pub max_redirs: i64,
    /// speak HTTP/1.1 only.
    #[arg(long = "http1.1", conflicts_with = "http2", help_heading = "HTTP")]
    pub http1_1: bool,
    /// speak HTTP/2 only: ALPN h2 over TLS (no fallback), prior
    /// knowledge over plain TCP.
    #[arg(long, visible_alias = "http2-prior-knowledge", help_heading = "HTTP")]
    pub http2: bool,
    /// connect through this proxy: http://user:pass@host:port (user and port optional),
    /// socks5://…, socks5h://…, or host:port (HTTP). Instead of the
    /// http_proxy, https_proxy, all_proxy and no_proxy variables.
    #[arg(
        short = 'x',
        long,
        value_name = "URL",
        conflicts_with = "socks5",
        help_heading = "HTTP"
    )]
    pub proxy: Option<String>,
    /// connect through the SOCKS5 proxy at HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", help_heading = "HTTP")]
    pub socks5: Option<String>,
    /// the most seconds the whole transfer may take.
    #[arg(short = 'm', long, value_name = "SECS", help_heading = "HTTP")]
    pub max_time: Option<f64>,
    /// ask for a gzip-encoded body and decode it.
    #[arg(long, help_heading = "HTTP")]
    pub compressed: bool,
    /// an HTTP status of 400 or more is a failure (exit 22, no body written).
    #[arg(short = 'f', long, help_heading = "HTTP")]
    pub fail: bool,
    /// no progress bar, no summary, no error messages.
    #[arg(short = 's', long, help_heading = "HTTP")]
    pub silent: bool,
    /// with -s, still print error messages.
    #[arg(short = 'S', long, help_heading = "HTTP")]
    pub show_error: bool,
    /// the User-Agent header ("" sends none).
    #[arg(short = 'A', long, value_name = "NAME", help_heading = "HTTP")]
    pub user_agent: Option<String>,
    /// several URLs to one place share one connection (requests one
    /// after another over HTTP/1.1, streams at once over HTTP/2); without
    /// it each URL gets a connection of its own.
    #[arg(long, help_heading = "HTTP")]
    pub pipeline: bool,
    /// say on standard error which connection carried each response,
    /// its headers, and how many connections were used.
    #[arg(short = 'v', long, help_heading = "HTTP")]
    pub verbose: bool,

    /// subprotocol to offer (repeatable).
    #[arg(short, long = "protocol", help_heading = "WebSocket")]
    pub protocols: Vec<String>,
    /// do not offer permessage-deflate.
    #[arg(long, help_heading = "WebSocket")]
    pub no_deflate: bool,
    /// open it as a stream of an HTTP/2 connection (RFC 8441):
    /// ALPN h2 for wss://, prior knowledge for ws://.
    #[arg(long, help_heading = "WebSocket")]
    pub h2: bool,
}

impl ClientArgs {
    /// The connect timeout, if the number is one a `Duration` can hold.
    pub fn connect_timeout(&self) -> Result<Duration, String> {
        secs(self.connect_timeout, "--connect-timeout")
    }

    /// The HTTP-only flags given (for a ws:// URL: an error).
    fn http_flags(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut flag = |on: bool, name: &'static str| {
            if on {
                v.push(name)
            }
        };
        flag(self.method.is_some(), "--request");
        flag(!self.data.is_empty(), "--data");
        flag(!self.data_binary.is_empty(), "--data-binary");
        flag(!self.form.is_empty(), "--form");
        flag(self.output.is_some(), "--output");
        flag(self.include, "--include");
        flag(self.head, "--head");
        flag(self.location, "--location");
        flag(self.http1_1, "--http1.1");
        flag(self.http2, "--http2");
        flag(self.proxy.is_some(), "--proxy");
        flag(self.socks5.is_some(), "--socks5");
        flag(self.max_time.is_some(), "--max-time");
        flag(self.compressed, "--compressed");
        flag(self.fail, "--fail");
        flag(self.user_agent.is_some(), "--user-agent");
        flag(self.pipeline, "--pipeline");
        v
    }

    /// The WebSocket-only flags given (for http:// URLs: an error).
    fn ws_flags(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.protocols.is_empty() {
            v.push("--protocol");
        }
        if self.no_deflate {
            v.push("--no-deflate");
        }
        if self.h2 {
            v.push("--h2");
        }
        v
    }
}

/// Seconds from the command line as a `Duration` (not negative, not NaN,
/// not too large).
/// Runs a client to its exit code on a single-threaded runtime.
pub fn block_on(
    f: impl std::future::Future<Output = std::process::ExitCode>,
) -> std::process::ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("rlws client: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

pub fn secs(s: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{flag} {s}: not a number of seconds"))
}

/// The scheme of a URL as typed, lower-cased (`None` without `://`).
fn scheme(url: &str) -> Option<String> {
    url.split_once("://").map(|(s, _)| s.to_ascii_lowercase())
}

pub fn run(a: ClientArgs) -> ExitCode {
    let ws = a
        .urls
        .iter()
        .filter(|u| matches!(scheme(u).as_deref(), Some("ws" | "wss")))
        .count();
    if ws == 0 {
        let bad = a.ws_flags();
        if !bad.is_empty() {
            eprintln!(
                "rlws client: {} only for ws:// and wss:// URLs",
                bad.join(", ")
            );
            return ExitCode::from(2);
        }
        return crate::client_http::run(a);
    }
    if a.urls.len() > 1 {
        eprintln!("rlws client: one ws:// or wss:// URL at a time, and no other URLs with it");
        return ExitCode::from(2);
    }
    let bad = a.http_flags();
    if !bad.is_empty() {
        eprintln!(
            "rlws client: {} only for http:// and https:// URLs",
            bad.join(", ")
        );
        return ExitCode::from(2);
    }
    crate::client_ws::run(a)
}
