//! TLS with rustls (ring provider): client configuration for `wss://` and
//! server configuration for TLS vhosts (SNI picks the vhost, and with it the
//! certificate, before the handshake). A server's connections go through
//! rustls' unbuffered handshake, then rlws' own record layer, which a
//! WebSocket on the thread's table keeps in a few hundred bytes.
//!
//! Imports: nothing else of the crate.

mod accept;
mod client;
#[cfg(fuzzing)]
pub mod fuzz;
mod hello;
mod pem;
mod record;
mod server;
mod stream;

pub use client::TlsClientOptions;
pub(crate) use client::{client_config, server_name};
pub(crate) use record::{Alert, RecordError, Sealed};
pub(crate) use server::server_config;
pub use server::{ClientAuth, TlsServerOptions};
pub(crate) use stream::{accept, Parts, SealedStream};
