//! `rlws serve`: the built-in site, a directory or a configuration
//! directory, served until SIGTERM or SIGINT; SIGHUP loads the
//! configuration again. With `--daemon` it detaches first, with `--uid` /
//! `--gid` it gives up root once listening, and under systemd it reports
//! readiness.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::daemon::{self, Daemon, Detached};
use crate::logging::LogArgs;
use crate::notify;
use crate::privileges::{self, Ids};

/// `rlws serve`'s options.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Serve what an lwsws-style config directory describes (DIR/conf and
    /// DIR/conf.d/*) instead of the built-in site; see docs/config.md.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["port", "interface", "root", "cert", "key", "client_ca", "no_h2", "check_config"])]
    config: Option<PathBuf>,
    /// Check an lwsws-style config directory, print what is wrong, and exit
    /// (status 0 when it would load).
    #[arg(long, value_name = "DIR")]
    check_config: Option<PathBuf>,
    /// What `_lws_ddir_` in a config stands for: lwsws' install data
    /// directory (Debian keeps lws' test server files under /usr/share).
    #[arg(long, value_name = "DIR", default_value = rlws_conf::DATA_DIR)]
    data_dir: PathBuf,
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
    pub log: LogArgs,
    /// Detach and run in the background once listening (lwsws' -D); the
    /// command exits 0 when the daemon listens, printing where. Needs
    /// --lock.
    #[arg(short = 'D', long, requires = "lock")]
    daemon: bool,
    /// The daemon's lock file: it holds the daemon's pid while it runs, and
    /// a second start is refused while that process lives.
    #[arg(long, value_name = "FILE", requires = "daemon")]
    lock: Option<PathBuf>,
    /// Run as this user (a uid or a name) once the listen sockets are
    /// bound; without --gid, in the user's own group.
    #[arg(long, value_name = "USER", value_parser = privileges::user_id)]
    uid: Option<u32>,
    /// Run in this group (a gid or a name) once the listen sockets are
    /// bound.
    #[arg(long, value_name = "GROUP", value_parser = privileges::group_id)]
    gid: Option<u32>,
}

/// Loads a config directory, printing its diagnostics; `None` on errors.
fn load_config(dir: &Path) -> Option<rlws_conf::Config> {
    let cfg = load_dir(dir);
    for d in &cfg.diagnostics {
        eprintln!("{d}");
    }
    (!cfg.has_errors()).then_some(cfg)
}

/// `--data-dir`, set once at start.
static DATA_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn load_dir(dir: &Path) -> rlws_conf::Config {
    let names = rlws::test_site().protocol_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = DATA_DIR
        .get()
        .map_or(Path::new(rlws_conf::DATA_DIR), PathBuf::as_path);
    rlws_conf::Config::load_dir_with(dir, &names, data)
}

/// Runs `rlws serve`.
pub fn serve(a: ServeArgs) -> ExitCode {
    let _ = DATA_DIR.set(a.data_dir.clone());
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
    // Absolute, for SIGHUP after a daemon's chdir /.
    let config_dir = match a.config.as_deref().map(std::path::absolute).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("rlws: --config: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match &config_dir {
        Some(dir) => match load_config(dir) {
            Some(c) => Some(c),
            None => return ExitCode::from(2),
        },
        None => None,
    };
    let cfg_ids = config.as_ref().map_or((None, None), |c| (c.uid, c.gid));
    let ids = match privileges::wanted(a.uid.or(cfg_ids.0), a.gid.or(cfg_ids.1)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rlws: {e}");
            return ExitCode::from(2);
        }
    };
    // Take what the hard limit allows (or what the config asks for), so the
    // connection cap is not the 1024 default.
    let want = config
        .as_ref()
        .and_then(|c| c.rlimit_nofile)
        .unwrap_or(1 << 20);
    let nofile = rlws::raise_nofile(want);
    let b = match &config {
        Some(cfg) => tune(cfg.apply(rlws::test_site()), &a),
        None => match cli_site(&a) {
            Ok(b) => tune(b, &a),
            Err(code) => return code,
        },
    };
    // Detach before the context starts its threads.
    let mut starter = Starter { daemon: None };
    if let (true, Some(lock)) = (a.daemon, &a.lock) {
        match daemon::detach(lock) {
            Ok(Detached::Daemon(d)) => starter.daemon = Some(d),
            Ok(Detached::Exit(code)) => return code,
            Err(e) => {
                eprintln!("rlws: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let ctx = match b.start() {
        Ok(c) => c,
        Err(e) => return starter.fail(&e.to_string()),
    };
    if let Some(ids) = ids {
        if let Err(e) = starter.give_up_root(ids) {
            ctx.shutdown();
            return starter.fail(&e);
        }
    }
    tracing::info!(
        "{} service threads, nofile {}",
        ctx.thread_count(),
        nofile.unwrap_or(0)
    );
    log_vhosts(&ctx);
    let reload = Reload {
        args: &a,
        dir: config_dir,
        ids: cfg_ids,
    };
    run_until_signal(ctx, &mut starter, &reload)
}

/// One line per vhost: its name and URL.
fn log_vhosts(ctx: &rlws::Context) {
    for (name, addr, tls) in ctx.vhost_list() {
        let scheme = if tls { "https" } else { "http" };
        tracing::info!("vhost {name} on {scheme}://{addr}/");
    }
}

/// The options given on the command line that apply to any site.
fn tune(mut b: rlws::ContextBuilder, a: &ServeArgs) -> rlws::ContextBuilder {
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
    b
}

/// The built-in site (or --root) on --port, with TLS when --cert is given.
fn cli_site(a: &ServeArgs) -> Result<rlws::ContextBuilder, ExitCode> {
    let addr = SocketAddr::new(a.interface, a.port);
    let site = match &a.root {
        Some(root) if !root.is_dir() => {
            eprintln!("rlws: --root {}: not a directory", root.display());
            return Err(ExitCode::from(2));
        }
        // Absolute: a daemon works from /.
        Some(root) => rlws::Mount::dir("/", std::path::absolute(root).unwrap_or(root.clone())),
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

/// Whoever started the server: told where it listens, or why it cannot.
struct Starter {
    daemon: Option<Daemon>,
}

impl Starter {
    fn fail(&mut self, msg: &str) -> ExitCode {
        match &mut self.daemon {
            Some(d) => d.fail(msg),
            None => {
                eprintln!("rlws: {msg}");
                ExitCode::from(1)
            }
        }
    }

    /// One "listening on ADDR" line per socket, on standard output or to
    /// the process that started the daemon, so that whoever started the
    /// server (a script, a test with --port 0) learns where it listens and
    /// may stop it from then on; the service manager hears `READY=1`.
    fn listening(&mut self, addrs: &[SocketAddr]) {
        match &mut self.daemon {
            Some(d) => d.ready(addrs),
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                for addr in addrs {
                    let _ = writeln!(out, "listening on {addr}");
                }
                let _ = out.flush();
            }
        }
        notify::ready(self.daemon.is_some());
    }

    /// Runs as `ids` from now on (the lock file goes to them first, so they
    /// may remove it).
    fn give_up_root(&self, ids: Ids) -> Result<(), String> {
        if let Some(d) = &self.daemon {
            d.chown_lock(ids.uid, ids.gid)?;
        }
        privileges::drop_to(ids).map_err(|e| format!("cannot drop privileges: {e}"))?;
        tracing::info!("running as uid {} gid {}", ids.uid, ids.gid);
        Ok(())
    }
}

/// What SIGHUP loads again.
struct Reload<'a> {
    args: &'a ServeArgs,
    /// --config.
    dir: Option<PathBuf>,
    /// The uid and gid of the configuration loaded at the start.
    ids: (Option<u32>, Option<u32>),
}

impl Reload<'_> {
    /// Loads the configuration again: with errors, each is logged and the
    /// one loaded before keeps serving.
    fn run(&self, ctx: &mut rlws::Context) {
        let Some(dir) = &self.dir else {
            tracing::warn!("SIGHUP: nothing to reload (rlws serve was started without --config)");
            return;
        };
        notify::reloading();
        tracing::info!("SIGHUP: loading {} again", dir.display());
        let cfg = load_dir(dir);
        for d in &cfg.diagnostics {
            match d.severity {
                rlws_conf::Severity::Error => tracing::error!("{d}"),
                rlws_conf::Severity::Warning => tracing::warn!("{d}"),
            }
        }
        if cfg.has_errors() {
            tracing::error!(
                "reload refused: {} has errors; still serving the configuration loaded before",
                dir.display()
            );
        } else {
            if (cfg.uid, cfg.gid) != self.ids {
                tracing::warn!("reload: a new uid or gid takes effect only on a restart");
            }
            self.apply(ctx, &cfg, dir);
        }
        notify::notify("READY=1");
    }

    /// New connections get the new vhosts and mounts; open ones finish on
    /// the old.
    fn apply(&self, ctx: &mut rlws::Context, cfg: &rlws_conf::Config, dir: &Path) {
        match ctx.reload(tune(cfg.apply(rlws::test_site()), self.args)) {
            Ok(()) => {
                tracing::info!("reloaded {}", dir.display());
                log_vhosts(ctx);
            }
            Err(e) => {
                tracing::error!("reload failed: {e}; still serving the configuration loaded before")
            }
        }
    }
}

/// Serves until SIGINT or SIGTERM, then shuts the context down; SIGHUP
/// reloads.
fn run_until_signal(
    mut ctx: rlws::Context,
    starter: &mut Starter,
    reload: &Reload<'_>,
) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return starter.fail(&e.to_string()),
    };
    rt.block_on(async {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        // Once the signals are handled: a stop from now on is clean.
        starter.listening(ctx.local_addrs());
        async fn recv(s: &mut Option<Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        loop {
            tokio::select! {
                _ = recv(&mut int) => break,
                _ = recv(&mut term) => break,
                _ = recv(&mut hup) => reload.run(&mut ctx),
            }
        }
    });
    notify::notify("STOPPING=1");
    tracing::info!("shutting down");
    ctx.shutdown();
    ExitCode::SUCCESS
}
