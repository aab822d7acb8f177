//! rlws: HTTP/1.1, HTTP/2 and WebSocket servers and clients on per-thread
//! event loops, in the libwebsockets programming model, in safe Rust.
//!
//! # The model in one screen
//!
//! * **Service threads.** A [`Context`] owns `threads` service threads
//!   (lws' "pt"). Each runs a single-threaded tokio runtime; a connection
//!   lives on one thread for its whole life, with its protocol state, timers
//!   and buffers, so nothing on the hot path takes a lock. Accepted
//!   connections go to the least-loaded thread. Other threads reach a
//!   service thread only by posting to it ([`Poster`]).
//! * **Callbacks.** A WebSocket protocol implements [`Protocol`]: one method
//!   per lws callback reason (established, receive, writeable, timer,
//!   closed, posted event, client connection error), with a per-connection
//!   `Session` and a per-thread `ThreadState`.
//! * **Write only when writeable.** Data goes out only through the
//!   [`Writer`] handed to [`Protocol::writeable`]; anything else asks for
//!   that callback ([`Cx::request_writeable`]). A slow reader gets fewer
//!   callbacks, never an unbounded queue.
//! * **Flow control.** [`Cx::pause_rx`] stops reading a connection, so TCP
//!   pushes back on the sender; [`Cx::resume_rx`] reads again.
//! * **Closing.** A callback returns `Err(Close)` to close with that code
//!   (lws' "return -1"); protocol violations close with 1002/1007/1009.
//! * **Vhosts.** A [`Vhost`] is a name, a listen address and what it serves;
//!   vhosts on one address share its socket, chosen by TLS SNI, then `Host`.
//! * **Origins.** A vhost's [`Mount`]s map URL paths to what serves them:
//!   files, the embedded test site, redirects; WebSocket upgrades go to
//!   protocols by subprotocol or path.
//!
//! # Layers
//!
//! ```text
//!   context     Context, ContextBuilder, Poster            (the top)
//!     │
//!   sequencer   lws_sequencer: staged work, its queue and timeout
//!     │
//!   server      accept, TLS/SNI, h2 sniff and frame check, hyper,
//!     │         vhost routing, upgrades, Server header, access log
//!     ├──────────────┬────────────────┐
//!   ws            site             tls
//!   Protocol,     mounts, files,   rustls client and
//!   Cx, Writer,   redirects,       server configuration
//!   tables of     response body
//!   records (TCP,
//!   TLS), driver
//!   task, ring
//!     │
//!     │         raw (beside ws, under server): RawProtocol callbacks,
//!     │         adopted sockets and fds, raw client, RawProxy
//!     │
//!   client      ws:// wss:// connect, HTTP/2 WebSockets (RFC 8441),
//!     │         the HTTP client (h1 queue on a leader, h2 streams,
//!     │         proxies, redirects) async and on service threads
//!   runtime     service threads, the poller, messages, placement,
//!               registry, clock, accept loop, Transport
//!
//!   rlws_ws     the sans-IO WebSocket Connection (separate crate)
//! ```
//!
//! Modules import downwards only; `runtime`, `site` and `ws` never import
//! `server`. Where a lower layer must call a higher one (the runtime handing
//! an accepted socket to the server), it does so through a trait it defines
//! and the higher layer implements. `builtin` (the test site) sits beside
//! the top and uses only public items; [`log`] (lws-style log lines, to
//! standard error, a hook or syslog) imports nothing of the crate; the
//! lwsws-style JSON configuration is the `rlws-conf` crate.
//!
//! The built-in test site (its page and the lws test protocols) is behind
//! the `test-site` feature: [`builtin`] and `test_site()`.
//!
//! ```no_run
//! use rlws::{Close, Context, Cx, Files, Handshake, Protocol, Received, Writer};
//!
//! /// Echoes every message back, one per writeable callback.
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     type Session = Vec<Vec<u8>>;
//!     type ThreadState = ();
//!     type Event = ();
//!
//!     fn name(&self) -> &str { "echo" }
//!     fn established(&self, _: &mut Cx<'_, Self>, _: &Handshake<'_>) -> Result<Self::Session, Close> {
//!         Ok(Vec::new())
//!     }
//!     fn receive(&self, cx: &mut Cx<'_, Self>, s: &mut Self::Session, m: Received<'_>) -> Result<(), Close> {
//!         s.push(m.data.to_vec());
//!         cx.request_writeable();
//!         Ok(())
//!     }
//!     fn writeable(&self, _: &mut Cx<'_, Self>, s: &mut Self::Session, w: &mut Writer<'_>) -> Result<(), Close> {
//!         for m in s.drain(..) {
//!             let _ = w.binary(&m);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let ctx = Context::builder()
//!     .threads(2)
//!     .listen("127.0.0.1:7681".parse().unwrap())
//!     .protocol(Echo)
//!     .site(Files::new("/srv/www"))
//!     .start()
//!     .expect("start");
//! ctx.wait();
//! ```

#![warn(missing_docs)]
#![deny(missing_debug_implementations)]

#[cfg(feature = "test-site")]
pub mod builtin;
pub mod client;
mod context;
pub mod log;
mod raw;
mod runtime;
pub mod sequencer;
mod server;
mod site;
mod tls;
mod ws;

pub use context::{Context, ContextBuilder, Poster, ServiceLoop, StartError};
pub use http;
pub use raw::{Hangup, RawClosed, RawCx, RawHandle, RawPeer, RawProtocol, RawProxy, RawWriter};
pub use rlws_ws::{CloseCode, DataKind};
pub use runtime::{
    AdoptError, AdoptSocket, ConnEntry, ConnId, ConnTimeout, RetryPolicy, Stream, TcpKeepalive,
    ThreadIndex, Transport, Validity,
};
#[cfg(fuzzing)]
pub use server::h2guard;
pub use server::{HttpOptions, Vhost};
#[cfg(fuzzing)]
pub use site::fuzz as site_fuzz;
pub use site::{
    empty, full, into_directory, not_found, text, Body, BoxFuture, Callback, Cgi, Disk, FileOps,
    FileRead, FileStat, Files, Form, FormError, FormEvent, FormLimits, HttpHandle, HttpHandler,
    Mount, OpenMetrics, Origin, OriginRequest, Redirect, ReverseProxy, ReverseProxyError,
    SaveFiles, SavedFile, WebSocketRoute, Written,
};
#[cfg(fuzzing)]
pub use tls::fuzz as tls_fuzz;
pub use tls::{ClientAuth, TlsClientOptions, TlsServerOptions};
pub use ws::ring;
pub use ws::{
    ClientHandle, ClientStartError, Close, Cx, DeflateConfig, DeflateParams, Handshake, Protocol,
    ProtocolOptions, Received, RxMode, ThreadCx, WriteFull, Writer,
};

pub use runtime::limits::{interface_addrs, nofile, raise_nofile};

#[cfg(feature = "test-site")]
/// A context with the built-in test site and its protocols, as `rlws serve`
/// runs it: the test page at `/` of the default vhost, and `/echo`.
pub fn test_site() -> ContextBuilder {
    Context::builder()
        .protocol(builtin::DumbIncrement)
        .protocol(builtin::Mirror::default())
        .protocol(builtin::Echo::default())
        .protocol(builtin::Status)
        .protocol(builtin::ServerStatus::default())
        .ws_path("/echo", "rlws-echo")
        .site(builtin::TestSite)
}
