//! TLS with rustls (ring provider): client configuration for `wss://` and
//! server configuration for TLS vhosts (SNI picks the vhost, and with it the
//! certificate, before the handshake).
//!
//! Imports: nothing else of the crate.

mod client;
mod pem;
mod server;

pub use client::TlsClientOptions;
pub(crate) use client::{client_config, server_name};
pub(crate) use server::server_config;
pub use server::{ClientAuth, TlsServerOptions};
