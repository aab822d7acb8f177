//! Log output for programs using rlws, in the lws style: levels as lws'
//! bitmask ([`LogLevel`]), one formatted line per event
//! (`[2026/12/01 12:00:00:1234] N: conn{tag=ws#12}: message` with
//! timestamps on), sent to standard error, to a hook of the program's
//! ([`Logging::emit`]) or to syslog ([`Logging::syslog`]).
//!
//! The library logs through `tracing`; [`Logging::init`] installs the
//! global subscriber that turns those events into lines. Each line carries
//! the fields of the spans the event happened in, so the per-connection
//! span the library opens puts a connection's tag on every line about it.
//!
//! Imports: nothing else of the crate (it only consumes `tracing` events).

use std::fmt;
use std::io::Write;
use std::ops::{BitOr, BitOrAssign};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::subscriber::Interest;
use tracing::{span, Level, Metadata, Subscriber};
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A set of lws log levels, as `lws_set_log_level` takes them: a bitmask
/// of [`LogLevel::ERR`], [`LogLevel::WARN`] and the rest.
///
/// rlws logs through `tracing`, whose five levels these stand for: `ERR`
/// shows error events, `WARN` warnings, `NOTICE` or `INFO` info events,
/// `DEBUG` debug events, and any of the finer lws levels (`PARSER` to
/// `THREAD`) trace events.
#[doc(alias = "lws_set_log_level")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogLevel(u32);

impl LogLevel {
    /// No level: nothing is logged.
    pub const NONE: LogLevel = LogLevel(0);
    /// Errors (`lwsl_err`, `E`).
    pub const ERR: LogLevel = LogLevel(1);
    /// Warnings (`lwsl_warn`, `W`).
    pub const WARN: LogLevel = LogLevel(2);
    /// Notices (`lwsl_notice`, `N`).
    pub const NOTICE: LogLevel = LogLevel(4);
    /// Information (`lwsl_info`, `I`).
    pub const INFO: LogLevel = LogLevel(8);
    /// Debugging (`lwsl_debug`, `D`).
    pub const DEBUG: LogLevel = LogLevel(16);
    /// Parser details (`lwsl_parser`, `P`).
    pub const PARSER: LogLevel = LogLevel(32);
    /// Header details (`lwsl_header`, `H`).
    pub const HEADER: LogLevel = LogLevel(64);
    /// Extensions (`lwsl_ext`, `EXT`).
    pub const EXT: LogLevel = LogLevel(128);
    /// Client connections (`lwsl_client`, `C`).
    pub const CLIENT: LogLevel = LogLevel(256);
    /// Latency (`lwsl_latency`, `L`).
    pub const LATENCY: LogLevel = LogLevel(512);
    /// The program's own (`lwsl_user`, `U`).
    pub const USER: LogLevel = LogLevel(1024);
    /// Threads (`lwsl_thread`, `T`).
    pub const THREAD: LogLevel = LogLevel(2048);
    /// lws' default: errors, warnings and notices.
    pub const DEFAULT: LogLevel = LogLevel(1 | 2 | 4);
    /// Every level.
    pub const ALL: LogLevel = LogLevel(4095);

    /// The finer levels, shown as trace events.
    const FINE: u32 = 32 | 64 | 128 | 256 | 512 | 1024 | 2048;

    /// The levels in `bits` (bits lws does not define are dropped).
    pub const fn from_bits(bits: u32) -> LogLevel {
        LogLevel(bits & Self::ALL.0)
    }

    /// The bitmask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every level of `other` is in `self`.
    pub const fn contains(self, other: LogLevel) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether events of this `tracing` level are shown.
    pub fn shows(self, level: Level) -> bool {
        let need = match level {
            Level::ERROR => Self::ERR.0,
            Level::WARN => Self::WARN.0,
            Level::INFO => Self::NOTICE.0 | Self::INFO.0,
            Level::DEBUG => Self::DEBUG.0,
            _ => Self::FINE,
        };
        self.0 & need != 0
    }

    /// The lws level a `tracing` event is shown at: error `ERR`, warn
    /// `WARN`, info `NOTICE`, debug `DEBUG`, trace `PARSER`.
    pub fn of(level: Level) -> LogLevel {
        match level {
            Level::ERROR => Self::ERR,
            Level::WARN => Self::WARN,
            Level::INFO => Self::NOTICE,
            Level::DEBUG => Self::DEBUG,
            _ => Self::PARSER,
        }
    }

    /// The letters lws puts before a line of this level (its lowest one).
    pub fn letter(self) -> &'static str {
        const LETTERS: [&str; 12] = ["E", "W", "N", "I", "D", "P", "H", "EXT", "C", "L", "U", "T"];
        let i = self.0.trailing_zeros() as usize;
        LETTERS.get(i).copied().unwrap_or("?")
    }

    /// The syslog severity of this level (its lowest one): `ERR` 3
    /// (LOG_ERR), `WARN` 4, `NOTICE` 5, `INFO` 6, the rest 7 (LOG_DEBUG).
    #[doc(alias = "lwsl_emit_syslog")]
    pub fn syslog_severity(self) -> u8 {
        match self.0.trailing_zeros() {
            0 => 3,
            1 => 4,
            2 => 5,
            3 => 6,
            _ => 7,
        }
    }
}

impl fmt::Debug for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogLevel({})", self.0)
    }
}

impl BitOr for LogLevel {
    type Output = LogLevel;
    fn bitor(self, rhs: LogLevel) -> LogLevel {
        LogLevel(self.0 | rhs.0)
    }
}

impl BitOrAssign for LogLevel {
    fn bitor_assign(&mut self, rhs: LogLevel) {
        self.0 |= rhs.0;
    }
}

/// Why [`Logging`] could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// A global `tracing` subscriber is already installed.
    AlreadySet,
    /// A filter given to [`Logging::directives`] does not parse.
    Filter(String),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::AlreadySet => write!(f, "a global tracing subscriber is already set"),
            LogError::Filter(e) => write!(f, "bad log filter: {e}"),
        }
    }
}

impl std::error::Error for LogError {}

/// What gets each formatted line.
type EmitFn = dyn Fn(LogLevel, &str) + Send + Sync;

/// Where lines go.
enum Output {
    Stderr,
    Emit(Arc<EmitFn>),
    Syslog { ident: String, path: PathBuf },
}

/// Which events are shown.
enum Select {
    Levels(LogLevel),
    Directives(Box<EnvFilter>),
}

/// The log output of a program, set up once with [`Logging::init`]:
///
/// ```no_run
/// use rlws::log::{LogLevel, Logging};
/// Logging::new(LogLevel::DEFAULT | LogLevel::INFO)
///     .timestamps(true)
///     .emit(|level, line| println!("{} {line}", level.letter()))
///     .init()
///     .expect("logging");
/// ```
#[doc(alias = "lws_set_log_level")]
pub struct Logging {
    select: Select,
    timestamps: bool,
    output: Output,
}

impl fmt::Debug for Logging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let out = match &self.output {
            Output::Stderr => "stderr".to_string(),
            Output::Emit(_) => "emit hook".to_string(),
            Output::Syslog { ident, path } => format!("syslog {ident} at {}", path.display()),
        };
        let sel = match &self.select {
            Select::Levels(l) => format!("{l:?}"),
            Select::Directives(d) => d.to_string(),
        };
        f.debug_struct("Logging")
            .field("select", &sel)
            .field("timestamps", &self.timestamps)
            .field("output", &out)
            .finish()
    }
}

impl Logging {
    /// Lines for events at `levels`, to standard error, without timestamps.
    pub fn new(levels: LogLevel) -> Logging {
        Logging {
            select: Select::Levels(levels),
            timestamps: false,
            output: Output::Stderr,
        }
    }

    /// Lines for the events a `tracing-subscriber` filter lets through
    /// (`info`, `rlws=debug,warn`, as `RUST_LOG` takes them).
    pub fn directives(filter: &str) -> Result<Logging, LogError> {
        let f = EnvFilter::try_new(filter).map_err(|e| LogError::Filter(e.to_string()))?;
        Ok(Logging {
            select: Select::Directives(Box::new(f)),
            ..Logging::new(LogLevel::DEFAULT)
        })
    }

    /// Whether lines on standard error and to the hook start with the time
    /// (local, lws' `[YYYY/MM/DD HH:MM:SS:ffff]`). Syslog stamps its own.
    pub fn timestamps(mut self, on: bool) -> Logging {
        self.timestamps = on;
        self
    }

    /// Every line goes to `f` (with its level) instead of standard error.
    /// `f` runs inside the logging call and must not log itself.
    #[doc(alias = "lws_set_log_level")]
    pub fn emit(mut self, f: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Logging {
        self.output = Output::Emit(Arc::new(f));
        self
    }

    /// Every line goes to the system log (`/dev/log`, facility daemon) as
    /// `<PRI>ident[pid]: line`, its severity from its level.
    #[doc(alias = "lwsl_emit_syslog")]
    pub fn syslog(mut self, ident: &str) -> Logging {
        self.output = Output::Syslog {
            ident: ident.to_string(),
            path: PathBuf::from("/dev/log"),
        };
        self
    }

    /// Syslog lines go to this Unix datagram socket instead of `/dev/log`
    /// (and to syslog at all, named after the program, if
    /// [`Logging::syslog`] was not called).
    pub fn syslog_socket(mut self, path: impl AsRef<Path>) -> Logging {
        let path = path.as_ref().to_path_buf();
        self.output = match self.output {
            Output::Syslog { ident, .. } => Output::Syslog { ident, path },
            _ => Output::Syslog {
                ident: program_name(),
                path,
            },
        };
        self
    }

    /// The `tracing-subscriber` layer that writes the lines, to compose
    /// with others (or to install for a scope only).
    pub fn layer<S>(self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let sink = Sink {
            output: self.output,
            timestamps: self.timestamps,
            socket: UnixDatagram::unbound()
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .ok(),
            warned: AtomicBool::new(false),
        };
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_writer(MakeLine(sink))
            .with_filter(self.select)
    }

    /// Installs the lines as the global `tracing` subscriber; an error if
    /// one is already installed.
    pub fn init(self) -> Result<(), LogError> {
        let subscriber = tracing_subscriber::registry().with(self.layer());
        tracing::subscriber::set_global_default(subscriber).map_err(|_| LogError::AlreadySet)
    }
}

/// The program's file name, for syslog (`rlws` when it has none).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "rlws".to_string())
}

/// A span or event of rlws' own crates.
fn own(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("rlws")
}

impl<S> Filter<S> for Select
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // rlws' own spans are always enabled, whatever the level, so that an
    // event shown carries the fields of every span it happened in. Other
    // crates' spans (h2 opens some on every poll) follow the levels like
    // events: enabling them all would cost on every poll of a connection.
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if meta.is_span() && own(meta) {
            return true;
        }
        match self {
            Select::Levels(l) => l.shows(*meta.level()),
            Select::Directives(f) => Filter::<S>::enabled(&**f, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() && own(meta) {
            return Interest::always();
        }
        match self {
            Select::Levels(l) if l.shows(*meta.level()) => Interest::always(),
            Select::Levels(_) => Interest::never(),
            Select::Directives(f) => Filter::<S>::callsite_enabled(&**f, meta),
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        if let Select::Directives(f) = self {
            Filter::<S>::on_new_span(&**f, attrs, id, cx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        if let Select::Directives(f) = self {
            Filter::<S>::on_record(&**f, id, values, cx);
        }
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Select::Directives(f) = self {
            Filter::<S>::on_enter(&**f, id, cx);
        }
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        if let Select::Directives(f) = self {
            Filter::<S>::on_exit(&**f, id, cx);
        }
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        if let Select::Directives(f) = self {
            Filter::<S>::on_close(&**f, id, cx);
        }
    }
}

/// Sends finished lines where they go.
struct Sink {
    output: Output,
    timestamps: bool,
    /// For syslog: an unbound, non-blocking datagram socket (a full
    /// syslog queue drops lines rather than stall a service thread).
    socket: Option<UnixDatagram>,
    /// Whether the syslog socket was found missing (said once).
    warned: AtomicBool,
}

impl Sink {
    /// `body` is what the formatter wrote for one event: the spans, the
    /// message and its fields.
    fn send(&self, level: LogLevel, body: &[u8]) {
        let body = String::from_utf8_lossy(body);
        let body = body.trim_end_matches('\n');
        match &self.output {
            Output::Syslog { ident, path } => {
                let line = syslog_line(ident, std::process::id(), level, body);
                let res = match &self.socket {
                    Some(s) => s.send_to(line.as_bytes(), path).map(|_| ()),
                    None => Err(std::io::Error::other("no datagram socket")),
                };
                if let Err(e) = res {
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        eprintln!(
                            "syslog at {}: {e}; log lines are lost while it cannot be reached",
                            path.display()
                        );
                    }
                }
            }
            Output::Stderr => {
                let line = self.line(level, body);
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Output::Emit(f) => f(level, &self.line(level, body)),
        }
    }

    /// lws' line: `[time] L: body` (the time only with timestamps on).
    fn line(&self, level: LogLevel, body: &str) -> String {
        if self.timestamps {
            format!(
                "{} {}: {body}",
                timestamp(SystemTime::now()),
                level.letter()
            )
        } else {
            format!("{}: {body}", level.letter())
        }
    }
}

/// A syslog datagram, as the C library's `syslog()` sends one to a local
/// daemon (which stamps it): `<PRI>ident[pid]: msg`, facility daemon (3).
pub(crate) fn syslog_line(ident: &str, pid: u32, level: LogLevel, msg: &str) -> String {
    const LOG_DAEMON: u8 = 3 << 3;
    let pri = LOG_DAEMON | level.syslog_severity();
    format!("<{pri}>{ident}[{pid}]: {msg}")
}

/// lws' timestamp, in local time: `[2026/12/01 12:00:00:1234]` (the last
/// field in 1/10000 s).
pub(crate) fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: `tm` is plain data (integers and a pointer the C library
    // sets), for which all zeroes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `secs` and writes only into `tm`, both live
    // locals; it keeps no pointer to either.
    let ok = !unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
    if !ok {
        return format!("[{}:{:04}]", d.as_secs(), d.subsec_micros() / 100);
    }
    format!(
        "[{:04}/{:02}/{:02} {:02}:{:02}:{:02}:{:04}]",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros() / 100
    )
}

/// Gives the formatter one [`Line`] per event.
struct MakeLine(Sink);

impl<'a> MakeWriter<'a> for MakeLine {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            sink: &self.0,
            level: LogLevel::NOTICE,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line<'a> {
        Line {
            sink: &self.0,
            level: LogLevel::of(*meta.level()),
            buf: Vec::new(),
        }
    }
}

/// One event's formatted text, sent on drop.
struct Line<'a> {
    sink: &'a Sink,
    level: LogLevel,
    buf: Vec<u8>,
}

impl Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            self.sink.send(self.level, &self.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn lws_levels_map_onto_tracing_levels() {
        let d = LogLevel::DEFAULT;
        assert_eq!(d.bits(), 7);
        assert!(d.shows(Level::ERROR) && d.shows(Level::WARN) && d.shows(Level::INFO));
        assert!(!d.shows(Level::DEBUG) && !d.shows(Level::TRACE));
        // INFO alone shows info events too; WARN alone only warnings.
        assert!(LogLevel::INFO.shows(Level::INFO));
        assert!(!LogLevel::INFO.shows(Level::WARN));
        assert!(LogLevel::WARN.shows(Level::WARN) && !LogLevel::WARN.shows(Level::ERROR));
        assert!(LogLevel::DEBUG.shows(Level::DEBUG) && !LogLevel::DEBUG.shows(Level::TRACE));
        for fine in [
            LogLevel::PARSER,
            LogLevel::HEADER,
            LogLevel::CLIENT,
            LogLevel::THREAD,
        ] {
            assert!(
                fine.shows(Level::TRACE) && !fine.shows(Level::DEBUG),
                "{fine:?}"
            );
        }
        assert!(!LogLevel::NONE.shows(Level::ERROR));
        // lwsws -d 31: errors to debug.
        let l = LogLevel::from_bits(31);
        assert!(l.contains(LogLevel::DEBUG) && !l.shows(Level::TRACE));
        assert_eq!(LogLevel::from_bits(0xffff_ffff), LogLevel::ALL);
        assert_eq!(LogLevel::ERR | LogLevel::WARN, LogLevel::from_bits(3));

        assert_eq!(LogLevel::of(Level::ERROR), LogLevel::ERR);
        assert_eq!(LogLevel::of(Level::INFO), LogLevel::NOTICE);
        assert_eq!(LogLevel::of(Level::TRACE), LogLevel::PARSER);
        let letters: Vec<&str> = (0..12).map(|i| LogLevel(1 << i).letter()).collect();
        assert_eq!(
            letters,
            ["E", "W", "N", "I", "D", "P", "H", "EXT", "C", "L", "U", "T"]
        );
    }

    #[test]
    fn syslog_lines_carry_facility_daemon_and_the_levels_severity() {
        assert_eq!(
            syslog_line("rlws", 42, LogLevel::ERR, "boom"),
            "<27>rlws[42]: boom"
        );
        assert_eq!(syslog_line("x", 1, LogLevel::WARN, "w"), "<28>x[1]: w");
        assert_eq!(syslog_line("x", 1, LogLevel::NOTICE, "n"), "<29>x[1]: n");
        assert_eq!(syslog_line("x", 1, LogLevel::INFO, "i"), "<30>x[1]: i");
        assert_eq!(syslog_line("x", 1, LogLevel::DEBUG, "d"), "<31>x[1]: d");
        assert_eq!(syslog_line("x", 1, LogLevel::CLIENT, "c"), "<31>x[1]: c");
    }

    #[test]
    fn timestamps_look_like_lws_ones() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let s = timestamp(t);
        // [YYYY/MM/DD HH:MM:SS:ffff]; time zones differ in whole minutes,
        // so the seconds and the fraction are known.
        assert_eq!(s.len(), 26, "{s}");
        let b = s.as_bytes();
        for (i, c) in [(0, b'['), (5, b'/'), (8, b'/'), (11, b' '), (14, b':')] {
            assert_eq!(b[i], c, "{s}");
        }
        assert!(s.starts_with("[2023/11/1"), "{s}");
        assert!(s.ends_with(":20:1234]"), "{s}");
    }

    #[test]
    fn lines_carry_span_fields_level_and_message() {
        let got: Arc<Mutex<Vec<(LogLevel, String)>>> = Arc::default();
        let g = got.clone();
        let layer = Logging::new(LogLevel::ERR | LogLevel::WARN)
            .emit(move |l, line| g.lock().unwrap().push((l, line.to_string())))
            .layer();
        let sub = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(sub, || {
            // A span below the levels shown still names the connection.
            let s = tracing::debug_span!("conn", tag = %"ws#12", peer = %"127.0.0.1:5555");
            let _e = s.enter();
            tracing::warn!(code = 1002, "bad frame");
            tracing::info!("not shown");
        });
        let got = got.lock().unwrap();
        assert_eq!(
            *got,
            [(
                LogLevel::WARN,
                "W: conn{tag=ws#12 peer=127.0.0.1:5555}: bad frame code=1002".to_string()
            )]
        );
    }

    #[test]
    fn directives_select_events_and_timestamps_prefix_lines() {
        let got: Arc<Mutex<Vec<String>>> = Arc::default();
        let g = got.clone();
        let layer = Logging::directives("debug")
            .unwrap()
            .timestamps(true)
            .emit(move |_, line| g.lock().unwrap().push(line.to_string()))
            .layer();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::debug!("one");
            tracing::trace!("not shown");
        });
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with('[') && got[0].ends_with("] D: one"),
            "{got:?}"
        );
        assert!(matches!(
            Logging::directives("rlws=loud"),
            Err(LogError::Filter(_))
        ));
    }
}
