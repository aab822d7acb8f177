//! WebSocket protocols: the lws callback model as a typed trait.
//!
//! A protocol is a type implementing [`Protocol`]. One value of it is shared
//! by every service thread; each thread also has its own
//! [`Protocol::ThreadState`] (lws' per-vhost protocol storage, but per
//! thread, so it needs no locks) and each connection its own
//! [`Protocol::Session`] (lws' per-session user data).
//!
//! The lws rules are enforced by the types:
//!
//! * Writing is only possible in [`Protocol::writeable`], which receives the
//!   [`Writer`]. Anything else asks for that callback with
//!   [`Cx::request_writeable`] or [`Cx::request_writeable_all`]. Extra
//!   writeable callbacks can come at any time: decide there what to send.
//! * `writeable` is only called when everything written before has gone to the
//!   kernel, so a slow reader holds at most one callback's worth of data in
//!   rlws (see [`Writer`] for the bound) and simply gets fewer callbacks.
//! * [`Cx::pause_rx`] / [`Cx::resume_rx`] are RX flow control: while paused
//!   the socket is not read, and TCP pushes back on the sender.
//! * Returning `Err(Close)` from a callback closes the connection with that
//!   code (lws' "return -1").

use std::net::SocketAddr;

pub use rlws_ws::deflate::{DeflateConfig, Params as DeflateParams};
use rlws_ws::CloseCode;

use super::cx::{Cx, ThreadCx};
use super::writer::Writer;
use crate::runtime::{ConnId, Kind, Tag, ThreadIndex};

/// Closing a connection from a callback: the code and reason to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The close code (must be valid on the wire, e.g. 1000, 1008, 4000).
    pub code: CloseCode,
    /// A short reason (cut to fit a control frame).
    pub reason: String,
}

impl Close {
    /// A close with `code` and `reason`.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Close {
            code: CloseCode(code),
            reason: reason.into(),
        }
    }

    /// 1000, normal closure.
    pub fn normal() -> Self {
        Close::new(1000, "")
    }
}

/// How received data is handed to [`Protocol::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxMode {
    /// Whole messages, reassembled from fragments by rlws (up to
    /// [`ProtocolOptions::max_message`]). A message that arrives in one piece
    /// is passed straight from the read buffer, without a copy.
    Messages,
    /// Pieces as they arrive, with [`Received::first`], [`Received::fin`],
    /// [`Received::remaining`] and [`Received::last`] describing where they
    /// are in the message (lws' `is_final_fragment` and
    /// `remaining_packet_payload`). Nothing is buffered by rlws.
    Fragments,
}

/// Per-protocol settings.
#[derive(Debug, Clone, Copy)]
#[doc(alias = "rx_buffer_size")]
pub struct ProtocolOptions {
    /// How data is delivered.
    pub rx_mode: RxMode,
    /// Largest message accepted (bytes); larger ones close with 1009.
    pub max_message: u64,
    /// Largest single frame accepted (bytes); larger ones close with 1009.
    pub max_frame: u64,
    /// Soft bound on bytes written in one writeable callback (see [`Writer`]).
    pub write_buffer: usize,
    /// permessage-deflate preferences; `None` refuses the extension.
    pub deflate: Option<DeflateConfig>,
    /// Proof-of-life rule for this protocol's connections (a vhost's or a
    /// client connection's own wins); `None`: the context's
    /// ([`crate::ContextBuilder::ws_keepalive`]).
    pub validity: Option<crate::Validity>,
}

impl Default for ProtocolOptions {
    fn default() -> Self {
        ProtocolOptions {
            rx_mode: RxMode::Messages,
            max_message: 1 << 20,
            max_frame: 1 << 20,
            write_buffer: 256 * 1024,
            deflate: None,
            validity: None,
        }
    }
}

/// Data received from the peer: a whole message in [`RxMode::Messages`],
/// a piece of one in [`RxMode::Fragments`] (with `first`, `last`, `fin` and
/// `remaining` saying where it is). The same type the sans-IO connection
/// reports.
pub use rlws_ws::Data as Received;

/// What a connection was opened with; available in [`Protocol::established`]
/// only (like lws, header data does not outlive the handshake unless copied).
#[derive(Debug)]
pub struct Handshake<'a> {
    /// The request path (without query).
    pub path: &'a str,
    /// The query string, if any.
    pub query: Option<&'a str>,
    /// The request headers (server side) or the response headers (client side).
    pub headers: &'a http::HeaderMap,
    /// The peer address.
    pub peer: SocketAddr,
    /// True for a connection this side opened ([`crate::Context::connect`]):
    /// lws' CLIENT_ESTABLISHED rather than ESTABLISHED.
    pub client: bool,
    /// True for a WebSocket on an HTTP/2 stream (RFC 8441).
    pub over_h2: bool,
    /// The protocol's options on the vhost that accepted the connection
    /// (lws' per-vhost options, "pvo"; [`crate::Vhost::protocol_option`]).
    pub options: &'a [(String, String)],
}

impl Handshake<'_> {
    /// The value of per-vhost protocol option `key`, if the vhost gives one.
    #[doc(alias = "lws_pvo_search")]
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A WebSocket protocol, with one method per lws callback reason.
#[doc(alias = "lws_protocols")]
pub trait Protocol: Send + Sync + Sized + 'static {
    /// Per-connection state (lws' per-session data).
    type Session: 'static;
    /// Per-service-thread state, shared by the protocol's connections on that
    /// thread without locks.
    type ThreadState: Default + 'static;
    /// Events posted to the protocol from other threads (see [`Cx::post_others`]).
    type Event: Send + 'static;

    /// The subprotocol name (`Sec-WebSocket-Protocol`).
    fn name(&self) -> &str;

    /// Settings; called once when the protocol is registered.
    fn options(&self) -> ProtocolOptions {
        ProtocolOptions::default()
    }

    /// Creates the state for one service thread (lws' PROTOCOL_INIT); by
    /// default, `ThreadState::default()`.
    #[doc(alias = "LWS_CALLBACK_PROTOCOL_INIT")]
    fn thread_init(&self, tsi: ThreadIndex) -> Self::ThreadState {
        let _ = tsi;
        Self::ThreadState::default()
    }

    /// A connection was accepted for this protocol, or a client connection
    /// of it completed its handshake ([`Handshake::client`]). Return its
    /// session, or refuse it (a server answers the handshake 403; a client
    /// drops the connection).
    #[doc(alias = "LWS_CALLBACK_ESTABLISHED")]
    fn established(
        &self,
        cx: &mut Cx<'_, Self>,
        hs: &Handshake<'_>,
    ) -> Result<Self::Session, Close>;

    /// Data arrived.
    #[doc(alias = "LWS_CALLBACK_RECEIVE")]
    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        session: &mut Self::Session,
        msg: Received<'_>,
    ) -> Result<(), Close>;

    /// The connection can take data: write with `w`. May come without a request.
    #[doc(alias = "LWS_CALLBACK_SERVER_WRITEABLE")]
    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        session: &mut Self::Session,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let _ = (cx, session, w);
        Ok(())
    }

    /// The timer set with [`Cx::set_timer`] fired.
    #[doc(alias = "LWS_CALLBACK_TIMER")]
    fn timer(&self, cx: &mut Cx<'_, Self>, session: &mut Self::Session) -> Result<(), Close> {
        let _ = (cx, session);
        Ok(())
    }

    /// The connection is gone. `code` is the peer's close code when it sent one.
    #[doc(alias = "LWS_CALLBACK_CLOSED")]
    fn closed(&self, cx: &mut Cx<'_, Self>, session: Self::Session, code: Option<CloseCode>) {
        let _ = (cx, session, code);
    }

    /// An event posted from another thread arrived on this thread.
    #[doc(alias = "LWS_CALLBACK_EVENT_WAIT_CANCELLED")]
    fn event(&self, cx: &mut ThreadCx<'_, Self>, event: Self::Event) {
        let _ = (cx, event);
    }

    /// A client connection ([`crate::Context::connect`]) with this id could
    /// not be opened; `error` says why (lws' CLIENT_CONNECTION_ERROR).
    #[doc(alias = "LWS_CALLBACK_CLIENT_CONNECTION_ERROR")]
    fn client_connection_error(
        &self,
        cx: &mut ThreadCx<'_, Self>,
        id: ConnId,
        error: &crate::client::ConnectError,
    ) {
        let _ = (cx, id);
        tracing::debug!(conn = %Tag(Kind::Ws, id.get()), %error, "client connection failed");
    }
}
