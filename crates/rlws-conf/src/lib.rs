//! lwsws-style JSON configuration: a directory holding `conf` (the
//! `global` settings, and optionally `vhosts`) and `conf.d/*` (one or more
//! files of `vhosts`), as lwsws reads `/etc/lwsws`.
//!
//! The files are JSON where `#` outside a string starts a comment that runs
//! to the end of the line. Numbers and booleans may be given as strings
//! (`"port": "7681"`, `"sts": "on"`), as lwsws writes them. Every problem is
//! reported with its file, line, column and key path: errors (bad values,
//! unknown keys, features rlws does not have and that would change what is
//! served if ignored) stop the load; warnings (lwsws settings that rlws does
//! not need or does not have but whose absence changes nothing served)
//! are reported and the load goes on. `docs/config.md` lists every key.

#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod account;
#[cfg(fuzzing)]
pub mod json;
#[cfg(not(fuzzing))]
mod json;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use json::Pos;
use json::{Kind, Value};
use rlws::{
    Cgi, ClientAuth, ContextBuilder, Files, HttpOptions, Mount, Origin, Redirect, ReverseProxy,
    TlsServerOptions, Vhost,
};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// Reported; the configuration is used without it.
    Warning,
}

/// A problem found in a configuration file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file.
    pub file: PathBuf,
    /// Where in the file (line 0: the file as a whole).
    pub pos: Pos,
    /// The key path, such as `vhosts[0].mounts[1].origin` (empty: the file).
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if self.pos.line > 0 {
            write!(f, ":{}:{}", self.pos.line, self.pos.col)?;
        }
        write!(f, ": {sev}: ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.msg)
    }
}

/// A loaded configuration.
#[derive(Debug, Default)]
pub struct Config {
    /// `count-threads`: service threads.
    pub threads: Option<usize>,
    /// `server-string`: the `Server` header.
    pub server_string: Option<String>,
    /// `timeout-secs`: time allowed for a request head and a TLS handshake.
    pub timeout_secs: Option<u64>,
    /// `rlimit-nofile`: the open-file limit to set.
    pub rlimit_nofile: Option<u64>,
    /// `uid`, or the id of the user `username` names: the user to run as
    /// once the listen sockets are bound.
    pub uid: Option<u32>,
    /// `gid`, or the id of the group `groupname` names: the group to run
    /// as (none given: the group of the user `username` names, if given).
    pub gid: Option<u32>,
    /// The vhosts, in file order (`conf`, then `conf.d/*` by name).
    pub vhosts: Vec<Vhost>,
    /// Every error and warning found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Config {
    /// Loads `dir/conf` and `dir/conf.d/*` (files in name order; names
    /// starting with `.` or ending in `~` are skipped). `protocols` are the
    /// WebSocket protocol names the context will have, to check
    /// `ws-protocols` and `callback://` mounts against. Never fails: look
    /// at [`Config::has_errors`].
    pub fn load_dir(dir: &Path, protocols: &[&str]) -> Config {
        Config::load_dir_with(dir, protocols, Path::new(DATA_DIR))
    }

    /// [`Config::load_dir`] with `_lws_ddir_` in strings standing for
    /// `data_dir` (lwsws' install data directory; [`DATA_DIR`] by default,
    /// where Debian puts lws' test server files).
    pub fn load_dir_with(dir: &Path, protocols: &[&str], data_dir: &Path) -> Config {
        let mut cfg = Config::default();
        let mut l = Loader {
            diags: Vec::new(),
            file: PathBuf::new(),
            protocols,
            default_alpn: None,
            vhosts: Vec::new(),
            data_dir: data_dir.to_string_lossy().into_owned(),
            pvo: Vec::new(),
            default_iface: None,
        };
        let conf = dir.join("conf");
        if let Some(v) = l.read(&conf) {
            l.globals_file(&v, &mut cfg);
        }
        let d = dir.join("conf.d");
        match std::fs::read_dir(&d) {
            Ok(entries) => {
                let mut names: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| !n.starts_with('.') && !n.ends_with('~'))
                    })
                    .collect();
                names.sort();
                for p in names {
                    if let Some(v) = l.read(&p) {
                        l.vhosts_file(&v);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                l.file = d.clone();
                l.error(
                    Pos::default(),
                    "",
                    format!("cannot read the directory: {e}"),
                );
            }
        }
        if l.vhosts.is_empty() && !l.diags.iter().any(|d| d.severity == Severity::Error) {
            l.file = dir.to_path_buf();
            l.error(
                Pos::default(),
                "",
                "no vhosts: add a file with {\"vhosts\": [...]} to conf.d".into(),
            );
        }
        l.check_sockets();
        let alpn = l.default_alpn.take();
        cfg.vhosts = l
            .vhosts
            .into_iter()
            .map(|mut p| {
                if !p.alpn_set {
                    if let Some(a) = &alpn {
                        p.apply_alpn(a);
                    }
                }
                p.v
            })
            .collect();
        cfg.diagnostics = l.diags;
        cfg
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// Applies the global settings (replacing `b`'s [`HttpOptions`]) and
    /// adds the vhosts to `b`.
    pub fn apply(&self, mut b: ContextBuilder) -> ContextBuilder {
        if let Some(t) = self.threads {
            b = b.threads(t);
        }
        let mut http = HttpOptions::default();
        if let Some(s) = &self.server_string {
            http.server_name = s.clone();
        }
        if let Some(t) = self.timeout_secs {
            http.header_timeout = Duration::from_secs(t);
        }
        b = b.http(http);
        for v in &self.vhosts {
            let mut v = v.clone();
            if let Some(t) = self.timeout_secs {
                v = v.tls_handshake_timeout(Duration::from_secs(t));
            }
            b = b.vhost(v);
        }
        b
    }
}

/// A vhost being read.
struct PendingVhost {
    v: Vhost,
    pos: Pos,
    key: String,
    tls: bool,
    alpn_set: bool,
}

impl PendingVhost {
    fn apply_alpn(&mut self, list: &[String]) {
        self.v = self.v.clone().alpn(list);
    }
}

struct Loader<'a> {
    diags: Vec<Diagnostic>,
    file: PathBuf,
    protocols: &'a [&'a str],
    default_alpn: Option<Vec<String>>,
    vhosts: Vec<PendingVhost>,
    /// What `_lws_ddir_` stands for.
    data_dir: String,
    /// Per-vhost protocol options of the `ws-protocols` being read.
    pvo: Vec<(String, String, String)>,
    /// `global.interface` (and where it was given): where vhosts that name
    /// no interface listen.
    default_iface: Option<(String, Pos, String)>,
}

/// lwsws' install data directory, which `_lws_ddir_` names by default.
pub const DATA_DIR: &str = "/usr/share";

/// lwsws global keys rlws accepts but has no use for (with the reason).
const GLOBAL_IGNORED: &[(&str, &str)] = &[
    ("init-ssl", ""),
    (
        "ws-pingpong-secs",
        "deprecated in lwsws; rlws pings idle WebSockets itself (rlws serve --ws-ping-after)",
    ),
    (
        "plugin-dir",
        "rlws has no plugins: its protocols are built in",
    ),
    ("count-async-threads", "not used by rlws"),
    ("ip-limit-ah", "per-address limits are not supported yet"),
    ("ip-limit-wsi", "per-address limits are not supported yet"),
    ("reject-service-keywords", "not supported yet"),
    ("cpd-bypass", "not used by rlws"),
    ("quic-pad-crypto", "rlws does not speak QUIC"),
    ("allow-early-data", "rlws does not accept TLS early data"),
    ("quic-only-latest", "rlws does not speak QUIC"),
    ("quic-early-key-update", "rlws does not speak QUIC"),
];

/// lwsws vhost keys rlws accepts but does not act on (with the reason);
/// none of them changes what a client is served.
const VHOST_IGNORED: &[(&str, &str)] = &[
    (
        "enable-client-ssl",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-ssl-key",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-ssl-cert",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-ssl-ca",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-ssl-ciphers",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-tls13-ciphers",
        "client connections from a vhost are not configured here",
    ),
    (
        "client-ecdh-curve",
        "client connections from a vhost are not configured here",
    ),
    (
        "ssl-client-option-set",
        "client connections from a vhost are not configured here",
    ),
    (
        "ssl-client-option-clear",
        "client connections from a vhost are not configured here",
    ),
    (
        "ssl-option-set",
        "OpenSSL option bits mean nothing to rustls",
    ),
    (
        "ssl-option-clear",
        "OpenSSL option bits mean nothing to rustls",
    ),
    ("noipv6", "rlws listens on the address given by interface"),
    ("ipv6only", "rlws listens on the address given by interface"),
    ("fo-listen-queue", "not used by rlws"),
    ("h2-half-closed-long-poll", "not supported yet"),
    (
        "allow-non-tls",
        "not supported yet: cleartext connections to a TLS port fail their handshake",
    ),
    (
        "redirect-http",
        "not supported yet: cleartext connections to a TLS port fail their handshake",
    ),
    (
        "allow-http-on-https",
        "not supported yet: cleartext connections to a TLS port fail their handshake",
    ),
    ("dht", "rlws has no DHT"),
    ("quic-mtu", "rlws does not speak QUIC"),
    ("quic-preferred-addresses", "rlws does not speak QUIC"),
];

/// lwsws vhost keys for features rlws lacks whose absence would change
/// what is served: refused.
const VHOST_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "unix-socket",
        "listening on a unix socket is not supported yet",
    ),
    (
        "unix-socket-perms",
        "listening on a unix socket is not supported yet",
    ),
    ("onlyraw", "raw sockets are not supported"),
    ("listen-accept-role", "raw sockets are not supported"),
    ("listen-accept-protocol", "raw sockets are not supported"),
    ("apply-listen-accept", "raw sockets are not supported"),
    ("fallback-listen-accept", "raw sockets are not supported"),
    (
        "disable-no-protocol-ws-upgrades",
        "not supported yet: WebSockets without a subprotocol would be accepted",
    ),
];

const MOUNT_IGNORED: &[(&str, &str)] = &[
    (
        "protocol",
        "only used by callback:// mounts, which name the protocol in the origin",
    ),
    (
        "keepalive-timeout",
        "per-mount keep-alive is not supported; use the vhost's keepalive_timeout",
    ),
    ("pmo", "per-mount protocol options are not supported yet"),
];

const MOUNT_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "basic-auth",
        "HTTP basic authentication is not supported yet: the mount would be served unprotected",
    ),
    (
        "interceptor-path",
        "interceptors are not supported yet: the mount would be served unprotected",
    ),
    ("exact-match", "exact-match mounts are not supported yet"),
    (
        "cgi-chroot",
        "chrooting CGI programs is not supported: the program would run outside the chroot",
    ),
    (
        "interpret",
        "running files through an interpreter is not supported yet: they would be served as their source",
    ),
];

fn find<'a>(table: &'a [(&str, &'a str)], key: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

impl Loader<'_> {
    fn push(&mut self, severity: Severity, pos: Pos, key: &str, msg: String) {
        self.diags.push(Diagnostic {
            severity,
            file: self.file.clone(),
            pos,
            key: key.to_string(),
            msg,
        });
    }

    fn error(&mut self, pos: Pos, key: &str, msg: String) {
        self.push(Severity::Error, pos, key, msg);
    }

    fn warn(&mut self, pos: Pos, key: &str, msg: String) {
        self.push(Severity::Warning, pos, key, msg);
    }

    /// Warns of the options of a `ws-protocols` entry that `name` ignores
    /// (an HTTP handler's, whose entry is otherwise not read: nothing in it
    /// is an error).
    fn check_options(&mut self, name: &str, opts: &Value, key: &str) {
        let json::Kind::Obj(opts) = &opts.kind else {
            return;
        };
        for (o, _, ov) in opts {
            if o == "status" || o == "default" {
                continue;
            }
            let okey = join(key, o);
            let val = match &ov.kind {
                json::Kind::Str(s) => s.clone(),
                json::Kind::Num(n) => n.clone(),
                _ => continue,
            };
            if let Err(why) = rlws::builtin::check_protocol_option(name, o, &val) {
                self.warn(ov.pos, &okey, format!("ignored: {why}"));
            }
        }
    }

    fn read(&mut self, path: &Path) -> Option<Value> {
        self.file = path.to_path_buf();
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) => {
                self.error(Pos::default(), "", format!("cannot read: {e}"));
                return None;
            }
        };
        let Ok(text) = String::from_utf8(text) else {
            self.error(Pos::default(), "", "not UTF-8 text".into());
            return None;
        };
        match json::parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(e.pos, "", format!("JSON syntax: {}", e.msg));
                None
            }
        }
    }

    /// The members of an object, or an error at `v`.
    fn object<'v>(&mut self, v: &'v Value, key: &str) -> Option<&'v [(String, Pos, Value)]> {
        match &v.kind {
            Kind::Obj(m) => {
                let mut seen: Vec<&str> = Vec::new();
                for (k, p, _) in m {
                    if seen.contains(&k.as_str()) {
                        self.error(*p, &join(key, k), "given twice".into());
                    }
                    seen.push(k);
                }
                Some(m)
            }
            k => {
                self.error(
                    v.pos,
                    key,
                    format!("an object was expected, not {}", k.describe()),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, v: &'v Value, key: &str) -> Option<&'v [Value]> {
        match &v.kind {
            Kind::Arr(a) => Some(a),
            k => {
                self.error(
                    v.pos,
                    key,
                    format!("an array was expected, not {}", k.describe()),
                );
                None
            }
        }
    }

    fn string(&mut self, v: &Value, key: &str) -> Option<String> {
        match &v.kind {
            Kind::Str(s) => Some(s.replace("_lws_ddir_", &self.data_dir)),
            Kind::Num(n) => Some(n.clone()),
            k => {
                self.error(
                    v.pos,
                    key,
                    format!("a string was expected, not {}", k.describe()),
                );
                None
            }
        }
    }

    /// The text of a number or string value (numbers and booleans may be
    /// written either way); an error naming `what` otherwise.
    fn scalar<'v>(&mut self, v: &'v Value, key: &str, what: &str) -> Option<&'v str> {
        match &v.kind {
            Kind::Num(n) => Some(n.as_str()),
            Kind::Str(s) => Some(s.trim()),
            k => {
                self.error(
                    v.pos,
                    key,
                    format!("{what} was expected, not {}", k.describe()),
                );
                None
            }
        }
    }

    /// A whole number, given as a number or a string.
    fn number(&mut self, v: &Value, key: &str, max: u64) -> Option<u64> {
        let text = self.scalar(v, key, "a number")?;
        match text.parse::<u64>() {
            Ok(n) if n <= max => Some(n),
            _ => {
                self.error(
                    v.pos,
                    key,
                    format!("\"{text}\" is not a whole number from 0 to {max}"),
                );
                None
            }
        }
    }

    /// A boolean as lwsws reads one: a non-zero number, `on`, `yes`,
    /// `true` (or JSON `true`); `0`, `off`, `no`, `false` are false.
    fn boolean(&mut self, v: &Value, key: &str) -> Option<bool> {
        if let Kind::Bool(b) = v.kind {
            return Some(b);
        }
        let text = self.scalar(v, key, "a boolean")?;
        if let Ok(n) = text.parse::<i64>() {
            return Some(n != 0);
        }
        match text.to_ascii_lowercase().as_str() {
            "on" | "yes" | "true" => Some(true),
            "off" | "no" | "false" | "" => Some(false),
            _ => {
                self.error(
                    v.pos,
                    key,
                    format!("\"{text}\" is not a boolean (use 1/0, on/off, yes/no, true/false)"),
                );
                None
            }
        }
    }

    /// A header list, lwsws' list of one-member objects:
    /// `[{"name": "value"}, ...]` (an object of several members is taken
    /// too). Names and values HTTP does not allow are errors.
    fn headers(&mut self, v: &Value, key: &str) -> Vec<(String, String)> {
        self.pairs(v, key, |k, s| {
            if http::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                Err((true, format!("\"{k}\" is not a valid header name")))
            } else if http::header::HeaderValue::from_str(s).is_err() {
                Err((false, "the value is not valid in HTTP".into()))
            } else {
                Ok(())
            }
        })
    }

    /// Environment variables for a CGI program (lwsws' `cgi-env`).
    fn env_vars(&mut self, v: &Value, key: &str) -> Vec<(String, String)> {
        self.pairs(v, key, |k, s| {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                Err((
                    true,
                    format!("\"{k}\" is not a valid environment variable name"),
                ))
            } else if s.contains('\0') {
                Err((false, "the value holds a NUL byte".into()))
            } else {
                Ok(())
            }
        })
    }

    /// `[{"name": "value"}, ...]` (or one object) as pairs, each checked by
    /// `check`: its error says whether the name (`true`) or the value is bad.
    fn pairs(
        &mut self,
        v: &Value,
        key: &str,
        check: impl Fn(&str, &str) -> Result<(), (bool, String)>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let items: Vec<&Value> = match &v.kind {
            Kind::Arr(a) => a.iter().collect(),
            Kind::Obj(_) => vec![v],
            k => {
                self.error(
                    v.pos,
                    key,
                    format!(
                        "an array of {{\"name\": \"value\"}} objects was expected, not {}",
                        k.describe()
                    ),
                );
                return out;
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let ikey = format!("{key}[{i}]");
            let Some(members) = self.object(item, &ikey) else {
                continue;
            };
            for (k, p, val) in members {
                let hkey = join(&ikey, k);
                let Some(s) = self.string(val, &hkey) else {
                    continue;
                };
                match check(k, &s) {
                    Ok(()) => out.push((k.clone(), s)),
                    Err((true, why)) => self.error(*p, &hkey, why),
                    Err((false, why)) => self.error(val.pos, &hkey, why),
                }
            }
        }
        out
    }

    fn globals_file(&mut self, v: &Value, cfg: &mut Config) {
        let Some(top) = self.object(v, "") else {
            return;
        };
        for (k, p, val) in top {
            match k.as_str() {
                "global" => self.globals(val, cfg),
                "vhosts" => self.vhost_list(val),
                _ => self.error(
                    *p,
                    k,
                    "unknown key (conf holds \"global\" and \"vhosts\")".into(),
                ),
            }
        }
    }

    fn vhosts_file(&mut self, v: &Value) {
        let Some(top) = self.object(v, "") else {
            return;
        };
        for (k, p, val) in top {
            match k.as_str() {
                "vhosts" => self.vhost_list(val),
                "global" => self.error(
                    *p,
                    k,
                    "global settings belong in the conf file, not conf.d".into(),
                ),
                _ => self.error(*p, k, "unknown key (conf.d files hold \"vhosts\")".into()),
            }
        }
    }

    fn globals(&mut self, v: &Value, cfg: &mut Config) {
        let Some(members) = self.object(v, "global") else {
            return;
        };
        for (k, p, val) in members {
            let key = join("global", k);
            match k.as_str() {
                "count-threads" => {
                    cfg.threads = self.number(val, &key, 1024).map(|n| n as usize);
                    if cfg.threads == Some(0) {
                        cfg.threads = None; // lws: 0 means one per core
                    }
                }
                "server-string" => cfg.server_string = self.string(val, &key),
                // lwsws: where vhosts without an interface of their own listen.
                "interface" => {
                    // Looked up by the vhosts that need it.
                    self.default_iface = self.string(val, &key).map(|s| (s, val.pos, key.clone()));
                }
                "timeout-secs" => {
                    cfg.timeout_secs = self.number(val, &key, 86400).filter(|&n| n > 0)
                }
                "rlimit-nofile" => cfg.rlimit_nofile = self.number(val, &key, 1 << 30),
                "uid" | "gid" | "username" | "groupname" => self.account(k, val, &key, cfg),
                "default-alpn" => {
                    if let Some(s) = self.string(val, &key) {
                        self.default_alpn = self.alpn_list(&s, val.pos, &key);
                    }
                }
                _ => match find(GLOBAL_IGNORED, k) {
                    Some("") => {}
                    Some(why) => self.warn(*p, &key, format!("ignored: {why}")),
                    None => self.error(*p, &key, "unknown key".into()),
                },
            }
        }
    }

    /// `uid` / `gid` (numbers; the largest id, -1 to the C library, is
    /// refused) and `username` / `groupname` (looked up now); a number and
    /// a name for the same id may not both be given.
    fn account(&mut self, k: &str, val: &Value, key: &str, cfg: &mut Config) {
        const MAX_ID: u64 = u32::MAX as u64 - 1;
        let id = match k {
            "uid" | "gid" => self.number(val, key, MAX_ID).map(|n| n as u32),
            "username" => self.account_name(val, key, "user", |n| {
                account::user_by_name(n).map(|u| u.map(|u| u.uid))
            }),
            _ => self.account_name(val, key, "group", account::group_by_name),
        };
        let Some(id) = id else { return };
        let (slot, pair) = if k == "uid" || k == "username" {
            (&mut cfg.uid, "uid and username")
        } else {
            (&mut cfg.gid, "gid and groupname")
        };
        if slot.replace(id).is_some() {
            self.error(val.pos, key, format!("{pair} both given: give one"));
        }
    }

    /// The id of the user or group a name names, or an error at `val`.
    fn account_name(
        &mut self,
        val: &Value,
        key: &str,
        what: &str,
        lookup: impl Fn(&str) -> std::io::Result<Option<u32>>,
    ) -> Option<u32> {
        let name = self.string(val, key)?;
        match lookup(&name) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                self.error(val.pos, key, format!("no {what} named \"{name}\""));
                None
            }
            Err(e) => {
                self.error(
                    val.pos,
                    key,
                    format!("cannot look up {what} \"{name}\": {e}"),
                );
                None
            }
        }
    }

    fn alpn_list(&mut self, s: &str, pos: Pos, key: &str) -> Option<Vec<String>> {
        let list: Vec<String> = s
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        for a in &list {
            if a != "h2" && a != "http/1.1" {
                self.error(
                    pos,
                    key,
                    format!("ALPN protocol \"{a}\" is not spoken (h2, http/1.1)"),
                );
                return None;
            }
        }
        if list.is_empty() {
            self.error(pos, key, "empty ALPN list".into());
            return None;
        }
        Some(list)
    }

    fn vhost_list(&mut self, v: &Value) {
        let Some(items) = self.array(v, "vhosts") else {
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let key = format!("vhosts[{i}]");
            if let Some(pv) = self.vhost(item, &key) {
                self.vhosts.push(pv);
            }
        }
    }

    fn vhost(&mut self, v: &Value, vkey: &str) -> Option<PendingVhost> {
        let members = self.object(v, vkey)?;
        let errors_before = self.error_count();
        let mut name = None;
        let mut port = None;
        let mut iface: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let mut iface_given = false;
        let mut pvo: Vec<(String, String, String)> = Vec::new();
        let (mut cert, mut key_file, mut ca) = (None, None, None);
        let mut cert_required = false;
        let mut ignore_missing_cert = false;
        let mut ciphers: Option<String> = None;
        let mut tls13: Option<String> = None;
        let mut curve = None;
        let mut alpn: Option<(Vec<String>, Pos, String)> = None;
        let mut headers = Vec::new();
        let mut mounts = Vec::new();
        let mut protocols: Option<Vec<String>> = None;
        let mut ws_paths = Vec::new();
        let mut keepalive = None;
        let (mut ka_time, mut ka_probes, mut ka_interval) = (None, None, None);
        let mut strict = false;
        let mut sts = false;
        let mut err404 = None;
        let mut access_log = None;
        for (k, p, val) in members {
            let key = join(vkey, k);
            match k.as_str() {
                "name" => name = self.string(val, &key).map(|s| (s, val.pos)),
                "port" => port = self.number(val, &key, 65535).map(|n| n as u16),
                "interface" => {
                    iface_given = true;
                    if let Some(s) = self.string(val, &key) {
                        match interface_addr(&s) {
                            Ok(a) => iface = a,
                            Err(e) => self.error(val.pos, &key, e),
                        }
                    }
                }
                "host-ssl-cert" => cert = self.string(val, &key).map(|s| (s, val.pos, key.clone())),
                "host-ssl-key" => {
                    key_file = self.string(val, &key).map(|s| (s, val.pos, key.clone()))
                }
                "host-ssl-ca" => ca = self.string(val, &key).map(|s| (s, val.pos, key.clone())),
                "client-cert-required" => cert_required = self.boolean(val, &key).unwrap_or(false),
                "ignore-missing-cert" => {
                    ignore_missing_cert = self.boolean(val, &key).unwrap_or(false)
                }
                "ciphers" => ciphers = self.string(val, &key),
                "tls13-ciphers" => tls13 = self.string(val, &key),
                "ecdh-curve" => curve = self.string(val, &key),
                "alpn" => {
                    if let Some(s) = self.string(val, &key) {
                        if let Some(l) = self.alpn_list(&s, val.pos, &key) {
                            alpn = Some((l, val.pos, key.clone()));
                        }
                    }
                }
                "sts" => sts = self.boolean(val, &key).unwrap_or(false),
                "headers" => headers = self.headers(val, &key),
                "keepalive_timeout" => keepalive = self.number(val, &key, 86400),
                // TCP keepalive probes (lws' ka_time / ka_probes / ka_interval).
                "ka_time" => ka_time = self.number(val, &key, 86400).map(|n| (n, val.pos)),
                "ka_probes" => ka_probes = self.number(val, &key, 1000),
                "ka_interval" => ka_interval = self.number(val, &key, 86400),
                "strict-host-check" => strict = self.boolean(val, &key).unwrap_or(false),
                "error-document-404" => err404 = self.string(val, &key),
                "access-log" => {
                    if let Some(path) = self.string(val, &key) {
                        // Checked without creating it (start-up does that).
                        let p = Path::new(&path);
                        let problem = if p.exists() {
                            std::fs::OpenOptions::new()
                                .append(true)
                                .open(p)
                                .err()
                                .map(|e| e.to_string())
                        } else {
                            // A missing directory is made at start-up; a file
                            // in its place is a problem.
                            p.ancestors()
                                .skip(1)
                                .find(|d| d.exists())
                                .filter(|d| !d.is_dir())
                                .map(|d| format!("{} is not a directory", d.display()))
                        };
                        match problem {
                            Some(e) => self.error(val.pos, &key, format!("{path}: {e}")),
                            None if !p.exists()
                                && p.parent()
                                    .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir()) =>
                            {
                                self.warn(
                                    val.pos,
                                    &key,
                                    format!("{path}: its directory will be made at start-up"),
                                )
                            }
                            None => {}
                        }
                        access_log = Some(path);
                    }
                }
                "ws-protocols" => {
                    self.pvo.clear();
                    protocols = self.ws_protocols(val, &key);
                    pvo = std::mem::take(&mut self.pvo);
                }
                "mounts" => {
                    if let Some(items) = self.array(val, &key) {
                        for (i, m) in items.iter().enumerate() {
                            match self.mount(m, &format!("{key}[{i}]")) {
                                Some(MountOrRoute::Mount(m)) => mounts.push(m),
                                Some(MountOrRoute::Route(path, proto)) => {
                                    ws_paths.push((path, proto))
                                }
                                None => {}
                            }
                        }
                    }
                }
                _ => self.other_key(VHOST_UNSUPPORTED, VHOST_IGNORED, *p, &key, k),
            }
        }
        if !iface_given {
            if let Some((s, pos, key)) = self.default_iface.clone() {
                match interface_addr(&s) {
                    Ok(a) => iface = a,
                    Err(e) => self.error(pos, &key, e),
                }
            }
        }
        let Some((name, name_pos)) = name else {
            self.error(v.pos, vkey, "\"name\" is required".into());
            return None;
        };
        let vkey = &format!("{vkey} (\"{name}\")");
        let Some(port) = port else {
            self.error(
                v.pos,
                vkey,
                "\"port\" is required (for example \"443\")".into(),
            );
            return None;
        };
        // The same name may serve several ports (http and https, lwsws'
        // 443 and 7681); on one port the second could never be chosen.
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let listen = SocketAddr::new(iface, port);
        if self
            .vhosts
            .iter()
            .any(|p| p.v.name() == lower && p.v.listen_addr() == listen)
        {
            self.error(
                name_pos,
                vkey,
                format!("a vhost named \"{name}\" is already defined on {listen}"),
            );
        }
        let mut vh = Vhost::new(&name, listen);
        for m in mounts {
            vh = vh.mount(m);
        }
        for (path, proto) in ws_paths {
            if let Some(list) = &protocols {
                if !list.contains(&proto) {
                    // A callback mount's protocol is offered on the vhost.
                    let mut l = list.clone();
                    l.push(proto.clone());
                    protocols = Some(l);
                }
            }
            vh = vh.ws_path(&path, &proto);
        }
        if let Some(list) = &protocols {
            let names: Vec<&str> = list.iter().map(String::as_str).collect();
            vh = vh.protocols(&names);
        }
        for (proto, k, val) in &pvo {
            vh = vh.protocol_option(proto, k, val);
        }
        for (k, val) in &headers {
            vh = vh.header(k, val);
        }
        if sts {
            vh = vh.header(
                "strict-transport-security",
                "max-age=15768000 ; includeSubDomains",
            );
        }
        if let Some(t) = keepalive.filter(|&t| t > 0) {
            vh = vh.keepalive_timeout(Duration::from_secs(t));
        }
        match (ka_time, ka_probes, ka_interval) {
            (Some((t, _)), Some(p), Some(i)) if t > 0 && p > 0 && i > 0 => {
                vh = vh.tcp_keepalive(rlws::TcpKeepalive::new(
                    Duration::from_secs(t),
                    Duration::from_secs(i),
                    p as u32,
                ));
            }
            (Some((0, _)), _, _) | (None, None, None) => {}
            (Some((_, pos)), _, _) => self.error(
                pos,
                &join(vkey, "ka_time"),
                "ka_time needs ka_probes and ka_interval, all above 0".to_string(),
            ),
            (None, _, _) => {}
        }
        if let Some(d) = err404 {
            vh = vh.error_document_404(&d);
        }
        if let Some(p) = access_log {
            vh = vh.access_log(p);
        }
        vh = vh.strict_host_check(strict);
        let mut tls = false;
        match (cert, key_file) {
            (Some((c, cpos, ckey)), Some((k, kpos, kkey))) => {
                let rc = std::fs::read(&c);
                let rk = std::fs::read(&k);
                match (rc, rk) {
                    (Ok(cp), Ok(kp)) => {
                        let mut o = TlsServerOptions::new(cp, kp);
                        if let Some((ca, pos, key)) = ca {
                            match std::fs::read(&ca) {
                                Ok(p) => o.client_ca_pem = Some(p),
                                Err(e) => self.error(pos, &key, format!("{ca}: {e}")),
                            }
                            o.client_auth = if cert_required {
                                ClientAuth::Required
                            } else {
                                ClientAuth::Optional
                            };
                        } else if cert_required {
                            self.error(v.pos, vkey, "client-cert-required needs host-ssl-ca (the CA client certificates must chain to)".into());
                        }
                        o.ciphers = match (ciphers, tls13) {
                            (Some(a), Some(b)) => Some(format!("{a}:{b}")),
                            (a, b) => a.or(b),
                        };
                        o.groups = curve;
                        // Check what start-up would: PEM contents, key match,
                        // cipher list, groups.
                        if let Err(e) = o.check() {
                            self.error(cpos, &ckey, e);
                        }
                        vh = vh.tls(o);
                        tls = true;
                    }
                    (rc, rk) if ignore_missing_cert => {
                        let _ = (rc, rk);
                        self.warn(cpos, &ckey, format!("{c} or {k} cannot be read: serving without TLS (ignore-missing-cert)"));
                    }
                    (Err(e), _) => self.error(cpos, &ckey, format!("{c}: {e}")),
                    (_, Err(e)) => self.error(kpos, &kkey, format!("{k}: {e}")),
                }
            }
            (Some((_, pos, key)), None) => {
                self.error(pos, &key, "host-ssl-cert needs host-ssl-key".into())
            }
            (None, Some((_, pos, key))) => {
                self.error(pos, &key, "host-ssl-key needs host-ssl-cert".into())
            }
            (None, None) => {
                if let Some((_, pos, key)) = ca {
                    self.error(
                        pos,
                        &key,
                        "host-ssl-ca is for TLS vhosts (give host-ssl-cert and host-ssl-key)"
                            .into(),
                    );
                }
            }
        }
        if self.error_count() > errors_before {
            return None;
        }
        let mut pv = PendingVhost {
            v: vh,
            pos: v.pos,
            key: vkey.to_string(),
            tls,
            alpn_set: alpn.is_some(),
        };
        if let Some((l, _, _)) = alpn {
            pv.apply_alpn(&l);
        }
        Some(pv)
    }

    fn ws_protocols(&mut self, v: &Value, key: &str) -> Option<Vec<String>> {
        let items = self.array(v, key)?;
        let mut list: Vec<String> = Vec::new();
        let mut default = None;
        for (i, item) in items.iter().enumerate() {
            let ikey = format!("{key}[{i}]");
            let Some(members) = self.object(item, &ikey) else {
                continue;
            };
            for (name, p, opts) in members {
                let pkey = join(&ikey, name);
                // An HTTP handler's protocol: enabled by its callback:// mount.
                let http_only = rlws::builtin::http_handler(name).is_some()
                    && !self.protocols.contains(&name.as_str());
                if http_only {
                    self.check_options(name, opts, &pkey);
                    continue;
                }
                if !self.protocols.contains(&name.as_str()) {
                    self.error(
                        *p,
                        &pkey,
                        format!(
                            "no protocol named \"{name}\" (rlws has: {})",
                            self.protocols.join(", ")
                        ),
                    );
                    continue;
                }
                list.push(name.clone());
                let Some(opts) = self.object(opts, &pkey) else {
                    continue;
                };
                for (o, _, ov) in opts {
                    let okey = join(&pkey, o);
                    match o.as_str() {
                        "default" => {
                            if self.boolean(ov, &okey) == Some(true) {
                                default = Some(name.clone());
                            }
                        }
                        // lwsws' way of enabling a protocol without options.
                        "status" => {}
                        // Any other: a per-vhost option for the protocol (pvo).
                        _ => {
                            if let Some(val) = self.string(ov, &okey) {
                                if let Err(why) =
                                    rlws::builtin::check_protocol_option(name, o, &val)
                                {
                                    self.warn(ov.pos, &okey, format!("ignored: {why}"));
                                }
                                self.pvo.push((name.clone(), o.clone(), val));
                            }
                        }
                    }
                }
            }
        }
        if let Some(d) = default {
            list.retain(|n| *n != d);
            list.insert(0, d);
        }
        Some(list)
    }

    fn mount(&mut self, v: &Value, mkey: &str) -> Option<MountOrRoute> {
        let members = self.object(v, mkey)?;
        let errors_before = self.error_count();
        let mut mountpoint = None;
        let mut origin: Option<(String, Pos, String)> = None;
        let mut default = None;
        let mut max_age = None;
        let mut flags: Vec<(String, bool)> = Vec::new();
        let mut mimetypes = Vec::new();
        let mut headers = Vec::new();
        let mut cgi_timeout = None;
        let mut cgi_env = Vec::new();
        let mut cgi_dir = None;
        let mut cgi_keys: Vec<(Pos, String)> = Vec::new();
        for (k, p, val) in members {
            let key = join(mkey, k);
            match k.as_str() {
                "mountpoint" => mountpoint = self.string(val, &key).map(|s| (s, val.pos)),
                "origin" => origin = self.string(val, &key).map(|s| (s, val.pos, key.clone())),
                "default" => default = self.string(val, &key),
                "cache-max-age" => max_age = self.number(val, &key, u32::MAX as u64),
                "cache-reuse"
                | "cache-revalidate"
                | "cache-intermediaries"
                | "cache-no"
                | "no-ws-upgrades"
                | "append-path" => {
                    if let Some(b) = self.boolean(val, &key) {
                        flags.push((k.clone(), b));
                    }
                }
                "auth-mask" => {
                    if self
                        .number(val, &key, u32::MAX as u64)
                        .is_some_and(|n| n != 0)
                    {
                        self.error(val.pos, &key, "authentication masks are not supported yet: the mount would be served to everyone".into());
                    }
                }
                "extra-mimetypes" => {
                    if let Some(m) = self.object(val, &key) {
                        for (ext, ep, mime) in m {
                            if let Some(s) = self.string(mime, &join(&key, ext)) {
                                if http::header::HeaderValue::from_str(&s).is_err() || s.is_empty()
                                {
                                    self.error(
                                        *ep,
                                        &join(&key, ext),
                                        format!("\"{s}\" is not a valid Content-Type"),
                                    );
                                }
                                mimetypes.push((ext.clone(), s));
                            }
                        }
                    }
                }
                "headers" => headers = self.headers(val, &key),
                "cgi-timeout" => {
                    cgi_timeout = self.number(val, &key, 86_400 * 365);
                    cgi_keys.push((*p, key.clone()));
                }
                "cgi-env" => {
                    cgi_env = self.env_vars(val, &key);
                    cgi_keys.push((*p, key.clone()));
                }
                "cgi-chdir" => {
                    cgi_dir = self.string(val, &key);
                    cgi_keys.push((*p, key.clone()));
                }
                _ => self.other_key(MOUNT_UNSUPPORTED, MOUNT_IGNORED, *p, &key, k),
            }
        }
        let Some((mp, mp_pos)) = mountpoint else {
            self.error(v.pos, mkey, "\"mountpoint\" is required".into());
            return None;
        };
        if !mp.starts_with('/') {
            self.error(
                mp_pos,
                &join(mkey, "mountpoint"),
                format!("\"{mp}\" must start with /"),
            );
        }
        let Some((origin, opos, okey)) = origin else {
            self.error(v.pos, mkey, "\"origin\" is required".into());
            return None;
        };
        let origin: Arc<dyn Origin> = if let Some(dir) = origin.strip_prefix("file://") {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                self.warn(
                    opos,
                    &okey,
                    format!(
                        "{}: not a directory (requests under {mp} will get 404)",
                        dir.display()
                    ),
                );
            }
            Arc::new(Files::new(dir))
        } else if let Some(rest) = origin.strip_prefix(">http://") {
            Arc::new(Redirect::new(format!("http://{rest}")))
        } else if let Some(rest) = origin.strip_prefix(">https://") {
            Arc::new(Redirect::new(format!("https://{rest}")))
        } else if origin.starts_with("builtin://") {
            match builtin_origin(&origin) {
                Some(o) => o,
                None => {
                    self.error(
                        opos,
                        &okey,
                        format!("\"{origin}\": no such built-in origin (rlws has: builtin://test-site, with the test-site feature)"),
                    );
                    return None;
                }
            }
        } else if let Some(handler) = origin
            .strip_prefix("callback://")
            .and_then(rlws::builtin::http_handler)
        {
            handler
        } else if let Some(proto) = origin.strip_prefix("callback://") {
            if !self.protocols.contains(&proto) {
                self.error(
                    opos,
                    &okey,
                    format!(
                        "no protocol named \"{proto}\" (rlws has: {})",
                        self.protocols.join(", ")
                    ),
                );
                return None;
            }
            if self.error_count() > errors_before {
                return None;
            }
            return Some(MountOrRoute::Route(mp, proto.to_string()));
        } else if let Some(program) = origin.strip_prefix("cgi://") {
            let program = PathBuf::from(program);
            match std::fs::metadata(&program) {
                Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
                Ok(_) => self.warn(
                    opos,
                    &okey,
                    format!(
                        "{}: not an executable file (requests under {mp} will get 500)",
                        program.display()
                    ),
                ),
                Err(e) => self.warn(
                    opos,
                    &okey,
                    format!(
                        "{}: {e} (requests under {mp} will get 500)",
                        program.display()
                    ),
                ),
            }
            let mut cgi = Cgi::new(program);
            if let Some(t) = cgi_timeout.take() {
                cgi = cgi.timeout(Duration::from_secs(t));
            }
            for (k, val) in cgi_env.drain(..) {
                cgi = cgi.env(&k, &val);
            }
            if let Some(d) = cgi_dir.take() {
                cgi = cgi.working_dir(d);
            }
            cgi_keys.clear();
            Arc::new(cgi)
        } else if origin.starts_with("http://")
            || origin.starts_with("https://")
            || origin.starts_with("unix:")
        {
            match ReverseProxy::new(&origin) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    self.error(opos, &okey, e.to_string());
                    return None;
                }
            }
        } else {
            let why = if origin.starts_with("gzip://") {
                "zip-backed mounts are not supported yet"
            } else {
                "unknown origin (file://, cgi://, http://, https://, unix:, >http://, >https://, callback://, builtin://)"
            };
            self.error(opos, &okey, format!("\"{origin}\": {why}"));
            return None;
        };
        for (p, k) in cgi_keys {
            self.warn(p, &k, "ignored: only cgi:// mounts run programs".into());
        }
        let mut m = Mount::shared(&mp, origin);
        if let Some(d) = default {
            m = m.default_doc(&d);
        }
        if let Some(a) = max_age {
            m = m.cache_max_age(a as u32);
        }
        for (f, on) in flags {
            m = match f.as_str() {
                "cache-reuse" => m.cache_reuse(on),
                "cache-revalidate" => m.cache_revalidate(on),
                "cache-intermediaries" => m.cache_intermediaries(on),
                "cache-no" => m.cache_no(on),
                "no-ws-upgrades" => m.no_ws_upgrades(on),
                _ => m.append_path(on),
            };
        }
        for (ext, mime) in mimetypes {
            m = m.mimetype(&ext, &mime);
        }
        for (k, val) in &headers {
            m = m.header(k, val);
        }
        if self.error_count() > errors_before {
            return None;
        }
        Some(MountOrRoute::Mount(m))
    }

    /// A key outside the ones read: refused with the reason, reported as
    /// ignored with the reason, or unknown.
    fn other_key(
        &mut self,
        unsupported: &[(&str, &str)],
        ignored: &[(&str, &str)],
        pos: Pos,
        key: &str,
        name: &str,
    ) {
        if let Some(why) = find(unsupported, name) {
            self.error(pos, key, why.to_string());
        } else if let Some(why) = find(ignored, name) {
            self.warn(pos, key, format!("ignored: {why}"));
        } else {
            self.error(pos, key, "unknown key".into());
        }
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Vhosts sharing an address must agree on TLS (start-up would refuse
    /// them); reported here with a position.
    fn check_sockets(&mut self) {
        let mut errs = Vec::new();
        for (i, a) in self.vhosts.iter().enumerate() {
            if let Some(b) = self.vhosts[..i]
                .iter()
                .find(|b| b.v.listen_addr() == a.v.listen_addr() && b.tls != a.tls)
            {
                errs.push((
                    a.pos,
                    a.key.clone(),
                    format!(
                        "shares {} with {}, but one is TLS and the other is not",
                        a.v.listen_addr(),
                        b.key
                    ),
                ));
            }
        }
        for (p, k, m) in errs {
            self.error(p, &k, m);
        }
    }
}

enum MountOrRoute {
    Mount(Mount),
    /// A `callback://` mount: WebSocket upgrades on this path without a
    /// subprotocol run this protocol.
    Route(String, String),
}

fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// The address for lwsws' `interface`: an IP address, or `lo` /
/// `localhost` for the loopback address.
fn interface_addr(s: &str) -> Result<IpAddr, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }
    if let Ok(a) = s.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(a);
    }
    if s == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let addrs = rlws::interface_addrs(s);
    // lws listens on the interface's IPv4 address when it has one.
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| {
            format!(
                "\"{s}\" is neither an IP address nor the name of a network interface with an address"
            )
        })
}

/// The built-in origins (`builtin://NAME`).
fn builtin_origin(origin: &str) -> Option<Arc<dyn Origin>> {
    match origin {
        "builtin://test-site" => Some(Arc::new(rlws::builtin::TestSite)),
        _ => None,
    }
}
