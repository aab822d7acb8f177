//! Where `rlws` logs: the level (`-d` / `--log`: an lws bitmask or a
//! `tracing` filter), standard error or syslog, timestamps; set up once,
//! at the start, through `rlws::log`.

use std::path::PathBuf;

use rlws::log::{LogLevel, Logging};

/// The log options of `rlws serve`.
#[derive(clap::Args, Debug, Default)]
pub struct LogArgs {
    /// Log level: an lws bitmask as lwsws' -d takes it (1 errors, 2
    /// warnings, 4 notices, 8 info, 16 debug, 32-2048 finer; 7, the
    /// default, is errors to notices), or a level name or RUST_LOG-style
    /// filter as --log takes it.
    #[arg(short = 'd', value_name = "LEVEL")]
    pub level: Option<String>,
    /// Send log lines to syslog (/dev/log, facility daemon) instead of
    /// standard error.
    #[arg(long)]
    pub syslog: bool,
    /// Send syslog lines to this Unix datagram socket instead of /dev/log
    /// (implies --syslog).
    #[arg(long, value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,
    /// Start each line on standard error with the time, as lws does.
    #[arg(long)]
    pub log_timestamps: bool,
}

/// The program's name in syslog lines.
const IDENT: &str = "rlws";

/// Installs the global subscriber: `level` as `-d` / `--log` give it
/// (none: `RUST_LOG`, else lws' default levels), to where `args` say.
pub fn init(level: Option<&str>, args: &LogArgs) {
    let mut log = match level {
        Some(l) => select(l).unwrap_or_else(|e| {
            eprintln!("rlws: log level {l:?}: {e}; logging errors to notices");
            Logging::new(LogLevel::DEFAULT)
        }),
        None => std::env::var("RUST_LOG")
            .ok()
            .and_then(|f| Logging::directives(&f).ok())
            .unwrap_or_else(|| Logging::new(LogLevel::DEFAULT)),
    };
    log = log.timestamps(args.log_timestamps);
    if args.syslog || args.syslog_socket.is_some() {
        log = log.syslog(IDENT);
    }
    if let Some(p) = &args.syslog_socket {
        log = log.syslog_socket(p);
    }
    if let Err(e) = log.init() {
        eprintln!("rlws: {e}");
    }
}

/// `-d` / `--log`: a number is an lws bitmask, anything else a filter.
fn select(level: &str) -> Result<Logging, rlws::log::LogError> {
    match level.trim().parse::<u32>() {
        Ok(bits) => Ok(Logging::new(LogLevel::from_bits(bits))),
        Err(_) => Logging::directives(level),
    }
}

#[cfg(test)]
mod tests {
    use super::select;

    #[test]
    fn numbers_are_lws_bitmasks_and_words_are_filters() {
        let l = format!("{:?}", select("31").expect("bitmask"));
        assert!(l.contains("LogLevel(31)"), "{l}");
        let l = format!("{:?}", select("rlws=debug,warn").expect("filter"));
        assert!(l.contains("rlws=debug"), "{l}");
        assert!(select("rlws=much").is_err());
    }
}
