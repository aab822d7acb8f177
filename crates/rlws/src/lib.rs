//! rlws: HTTP/1.1 and WebSocket servers on per-thread event loops, in the
//! libwebsockets programming model, in safe Rust.
//!
//! * A [`Context`] owns `count_threads` service threads. Each runs a
//!   single-threaded tokio runtime; its connections, timers and protocol
//!   state live there and need no locks. One listen socket per port hands
//!   each new connection to the thread with the fewest live connections.
//! * WebSocket protocols implement [`Protocol`]: the lws callbacks
//!   (established, receive, writeable, timer, closed, posted event) as
//!   typed methods with per-connection and per-thread state. Writing is only
//!   possible in the writeable callback; RX flow control pauses reading.
//! * The HTTP side runs on hyper and serves the built-in test site or a
//!   directory, and upgrades to WebSocket, with permessage-deflate.
//! * [`client`] connects to WebSocket servers: an async `Stream` + `Sink`.
//!
//! ```no_run
//! use rlws::{builtin, Context};
//! let ctx = Context::builder()
//!     .threads(2)
//!     .listen("127.0.0.1:7681".parse().unwrap())
//!     .protocol(builtin::DumbIncrement)
//!     .protocol(builtin::Echo::default())
//!     .ws_path("/echo", "rlws-echo")
//!     .start()
//!     .expect("start");
//! ctx.wait();
//! ```

#![warn(missing_docs)]

mod accesslog;
mod assets;
pub mod builtin;
pub mod client;
pub mod config;
mod context;
#[doc(hidden)]
pub mod h2guard;
mod http;
pub mod limits;
pub mod mount;
pub mod protocol;
pub mod ring;
pub mod tls;
pub mod transport;
pub mod vhost;
mod ws;

pub use context::{
    ClientHandle, ClientStartError, ConnEntry, Context, ContextBuilder, HttpOptions, Poster, Site,
    StartError,
};
pub use mount::{Mount, Origin};
pub use protocol::{
    Close, Cx, Handshake, Protocol, ProtocolOptions, Received, RxMode, ThreadCx, WriteFull, Writer,
};
pub use rlws_ws::{CloseCode, DataKind};
pub use tls::{ClientAuth, TlsServerOptions};
pub use vhost::Vhost;

/// A context with the built-in test site and its protocols, as `rlws serve` runs it.
pub fn test_site() -> ContextBuilder {
    Context::builder()
        .protocol(builtin::DumbIncrement)
        .protocol(builtin::Mirror::default())
        .protocol(builtin::Echo::default())
        .protocol(builtin::Status)
        .ws_path("/echo", "rlws-echo")
}
