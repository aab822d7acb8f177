//! `rlws`: the daemon (`serve`) and tools (`bench`, `client`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod bench;
mod client;
mod client_http;
mod client_ws;
mod logging;

#[derive(Parser)]
#[command(
    name = "rlws",
    version,
    about = "HTTP/1.1 + WebSocket server and tools"
)]
struct Cli {
    /// Log level: an lws bitmask (7: errors to notices, 31: to debug) or
    /// error, warn, info, debug, trace, or a RUST_LOG-style filter.
    // Long form only: -d is --duration to `bench` and --data to `client`;
    // `serve -d LEVEL` is the same as --log LEVEL.
    #[arg(long = "log", value_name = "LEVEL", global = true)]
    log: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the built-in test site (or a directory) with the test protocols.
    Serve(ServeArgs),
    /// Load-test a WebSocket echo server.
    Bench(bench::BenchArgs),
    /// Fetch http(s):// URLs, curl-like, or talk to a ws(s):// WebSocket server
    /// (stdin lines out as text, messages in printed).
    Client(client::ClientArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Serve what an lwsws-style config directory describes (DIR/conf and
    /// DIR/conf.d/*) instead of the built-in site; see docs/config.md.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["port", "interface", "root", "cert", "key", "client_ca", "no_h2", "check_config"])]
    config: Option<PathBuf>,
    /// Check an lwsws-style config directory, print what is wrong, and exit
    /// (status 0 when it would load).
    #[arg(long, value_name = "DIR")]
    check_config: Option<PathBuf>,
    /// TCP port to listen on.
    #[arg(short, long, default_value_t = 7681)]
    port: u16,
    /// Address to listen on.
    #[arg(short, long, default_value = "0.0.0.0")]
    interface: IpAddr,
    /// Service threads (default: one per core).
    #[arg(short = 'j', long)]
    threads: Option<usize>,
    /// Serve files from this directory instead of the embedded test site.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Connection cap per service thread (default: RLIMIT_NOFILE shared between threads).
    #[arg(long)]
    fd_limit_per_thread: Option<usize>,
    /// Seconds without data from a WebSocket before it is pinged (0: never).
    #[arg(long, default_value_t = 30)]
    ws_ping_after: u64,
    /// Seconds to wait for the pong before hanging up.
    #[arg(long, default_value_t = 10)]
    ws_pong_timeout: u64,
    /// Serve TLS (HTTP/1.1 and HTTP/2 by ALPN) with this certificate chain (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Ask for client certificates signed by this CA (PEM); see --client-cert-required.
    #[arg(long, requires = "cert")]
    client_ca: Option<PathBuf>,
    /// Refuse clients without a certificate from --client-ca.
    #[arg(long, requires = "client_ca")]
    client_cert_required: bool,
    /// Speak only HTTP/1.1 (no h2 by ALPN or prior knowledge).
    #[arg(long)]
    no_h2: bool,
    #[command(flatten)]
    log: logging::LogArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let none = logging::LogArgs::default();
    let log = match &cli.cmd {
        Cmd::Serve(a) => &a.log,
        _ => &none,
    };
    logging::init(log.level.as_deref().or(cli.log.as_deref()), log);
    match cli.cmd {
        Cmd::Serve(a) => serve(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Client(a) => client::run(a),
    }
}

/// Loads a config directory, printing its diagnostics; `None` on errors.
fn load_config(dir: &std::path::Path) -> Option<rlws_conf::Config> {
    let names = rlws::test_site().protocol_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cfg = rlws_conf::Config::load_dir(dir, &names);
    for d in &cfg.diagnostics {
        eprintln!("{d}");
    }
    (!cfg.has_errors()).then_some(cfg)
}

fn serve(a: ServeArgs) -> ExitCode {
    if let Some(dir) = &a.check_config {
        return match load_config(dir) {
            Some(cfg) => {
                println!(
                    "{}: configuration OK ({} vhosts)",
                    dir.display(),
                    cfg.vhosts.len()
                );
                ExitCode::SUCCESS
            }
            None => ExitCode::from(2),
        };
    }
    let config = match &a.config {
        Some(dir) => match load_config(dir) {
            Some(c) => Some(c),
            None => return ExitCode::from(2),
        },
        None => None,
    };
    // Take what the hard limit allows (or what the config asks for), so the
    // connection cap is not the 1024 default.
    let want = config
        .as_ref()
        .and_then(|c| c.rlimit_nofile)
        .unwrap_or(1 << 20);
    let nofile = rlws::raise_nofile(want);
    let mut b = match &config {
        Some(cfg) => cfg.apply(rlws::test_site()),
        None => match cli_site(&a) {
            Ok(b) => b,
            Err(code) => return code,
        },
    };
    b = b.ws_keepalive(
        Duration::from_secs(a.ws_ping_after),
        Duration::from_secs(a.ws_pong_timeout),
    );
    if let Some(t) = a.threads {
        b = b.threads(t);
    }
    if let Some(n) = a.fd_limit_per_thread {
        b = b.fd_limit_per_thread(n);
    }
    let ctx = match b.start() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rlws: {e}");
            return ExitCode::from(1);
        }
    };
    for (name, addr, tls) in ctx.vhost_list() {
        tracing::info!(
            "vhost {name} on {}://{addr}/ ({} threads, nofile {})",
            if tls { "https" } else { "http" },
            ctx.thread_count(),
            nofile.unwrap_or(0)
        );
    }
    run_until_signal(ctx)
}

/// The built-in site (or --root) on --port, with TLS when --cert is given.
fn cli_site(a: &ServeArgs) -> Result<rlws::ContextBuilder, ExitCode> {
    let addr = SocketAddr::new(a.interface, a.port);
    let site = match &a.root {
        Some(root) if !root.is_dir() => {
            eprintln!("rlws: --root {}: not a directory", root.display());
            return Err(ExitCode::from(2));
        }
        Some(root) => rlws::Mount::dir("/", root.clone()),
        None => rlws::Mount::new("/", rlws::builtin::TestSite),
    };
    let mut vhost = rlws::Vhost::new("localhost", addr)
        .mount(site)
        .ws_path("/echo", "rlws-echo")
        .http2(!a.no_h2);
    if let (Some(cert), Some(key)) = (&a.cert, &a.key) {
        let mut tls = rlws::TlsServerOptions::from_files(cert, key).map_err(|e| {
            eprintln!("rlws: {e}");
            ExitCode::from(2)
        })?;
        if let Some(ca) = &a.client_ca {
            let pem = std::fs::read(ca).map_err(|e| {
                eprintln!("rlws: client CA {}: {e}", ca.display());
                ExitCode::from(2)
            })?;
            tls.client_ca_pem = Some(pem);
            tls.client_auth = if a.client_cert_required {
                rlws::ClientAuth::Required
            } else {
                rlws::ClientAuth::Optional
            };
        }
        vhost = vhost.tls(tls);
    }
    Ok(rlws::test_site().vhost(vhost))
}

/// Serves until SIGINT or SIGTERM, then shuts the context down.
fn run_until_signal(ctx: rlws::Context) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rlws: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        // One line per socket on standard output, once the signals are
        // handled, so whoever started the server (a script, a test with
        // --port 0) learns where it listens and may stop it from then on.
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for addr in ctx.local_addrs() {
                let _ = writeln!(out, "listening on {addr}");
            }
            let _ = out.flush();
        }
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wait(int.take()) => {}
            _ = wait(term.take()) => {}
        }
    });
    tracing::info!("shutting down");
    ctx.shutdown();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Clap's own consistency checks (unique short flags and so on) over
    /// every subcommand, which it otherwise runs only for the one used.
    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
