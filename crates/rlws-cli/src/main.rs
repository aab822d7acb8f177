//! `rlws`: the daemon (`serve`) and tools (`bench`, `client`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod client;
mod client_http;
mod client_ws;
mod daemon;
mod logging;
mod notify;
mod privileges;
mod serve;

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
    Serve(serve::ServeArgs),
    /// Load-test a WebSocket echo server.
    Bench(bench::BenchArgs),
    /// Fetch http(s):// URLs, curl-like, or talk to a ws(s):// WebSocket server
    /// (stdin lines out as text, messages in printed).
    Client(client::ClientArgs),
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
        Cmd::Serve(a) => serve::serve(a),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Client(a) => client::run(a),
    }
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
