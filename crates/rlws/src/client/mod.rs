//! Clients: the WebSocket client (connect to `ws://` and `wss://` URLs and
//! talk through an async [`WebSocket`], a `Stream` of [`Message`]s and a
//! `Sink` for them, plus plain `recv`/`send` methods) and the HTTP client
//! ([`HttpClient`], with lws' connection sharing; the same requests can run
//! on a [`crate::Context`]'s service threads with [`HttpHandler`]
//! callbacks). Both connect directly or through a [`Proxy`] (HTTP
//! `CONNECT`, SOCKS5).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rlws::client::{connect, ClientConfig, Message};
//! let mut ws = connect(ClientConfig::new("ws://127.0.0.1:7681/echo")?).await?;
//! ws.send(Message::Text("hello".into())).await?;
//! if let Some(Ok(Message::Text(t))) = ws.recv().await {
//!     println!("{t}");
//! }
//! ws.close(1000, "bye").await?;
//! # Ok(()) }
//! ```
//!
//! Connecting reports why it failed ([`ConnectError`]): the name did not
//! resolve, the connection was refused, the 5 s connect timeout (lws' default;
//! [`ClientConfig::connect_timeout`]) passed, TLS failed (say, an untrusted
//! certificate), the server answered with another HTTP status, or its
//! handshake did not match what was asked.
//!
//! `wss://` uses rustls with the platform's CA certificates, or the ones in
//! [`ClientConfig::tls`].
//!
//! The same connections can also run on a [`crate::Context`]'s service
//! threads with the typed [`crate::Protocol`] callbacks: see
//! [`crate::Context::connect`].

mod config;
pub(crate) mod connector;
mod dial;
mod error;
mod h2;
mod handshake;
mod http;
mod proxy;
mod url;
mod websocket;

pub use config::ClientConfig;
pub(crate) use dial::open;
pub use dial::{connect, handshake_on};
pub use error::{ConnectError, HandshakeError, TlsError, WsError};
pub use h2::H2Connection;
pub(crate) use http::start_on_thread;
pub use http::{
    Abort, BodyStream, BodyWriter, ClientStats, ConnInfo, ErrorKind, HttpClient, HttpClientBuilder,
    HttpCx, HttpError, HttpHandle, HttpHandler, HttpStartError, HttpVersion, LeaderFailure,
    Multipart, RedirectHook, RedirectStep, Request, RequestBody, Response, ResponseBody,
    ResponseHead,
};
pub use proxy::{Proxy, ProxyError, ProxyKind};
pub use url::{Scheme, Url, UrlError, UrlProblem};
pub use websocket::{Message, WebSocket};
