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
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use rlws_ws::deflate::{DeflateConfig, Params as DeflateParams};
use rlws_ws::{CloseCode, Connection, DataKind, Outgoing};

use crate::ws::{ConnSignal, ProtoThread};

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
}

impl Default for ProtocolOptions {
    fn default() -> Self {
        ProtocolOptions {
            rx_mode: RxMode::Messages,
            max_message: 1 << 20,
            max_frame: 1 << 20,
            write_buffer: 256 * 1024,
            deflate: None,
        }
    }
}

/// Data received from the peer.
#[derive(Debug)]
pub struct Received<'a> {
    /// Text or binary.
    pub kind: DataKind,
    /// The bytes (for text: valid UTF-8 when `last`, and at code point
    /// boundaries of what was seen so far only when whole).
    pub data: &'a [u8],
    /// First piece of the message.
    pub first: bool,
    /// Last piece of the message. Always true in [`RxMode::Messages`].
    pub last: bool,
    /// The frame this piece belongs to had FIN set.
    pub fin: bool,
    /// Bytes of the current frame still to come.
    pub remaining: u64,
}

impl<'a> Received<'a> {
    /// The data as text, for a whole text message.
    pub fn text(&self) -> Option<&'a str> {
        if self.kind == DataKind::Text && self.first && self.last {
            std::str::from_utf8(self.data).ok()
        } else {
            None
        }
    }
}

/// What a connection was opened with; available in [`Protocol::established`]
/// only (like lws, header data does not outlive the handshake unless copied).
#[derive(Debug)]
pub struct Handshake<'a> {
    /// The request path (without query).
    pub path: &'a str,
    /// The query string, if any.
    pub query: Option<&'a str>,
    /// The request headers (server side) or the response headers (client side).
    pub headers: &'a hyper::HeaderMap,
    /// The peer address.
    pub peer: SocketAddr,
    /// True for a connection this side opened ([`crate::Context::connect`]):
    /// lws' CLIENT_ESTABLISHED rather than ESTABLISHED.
    pub client: bool,
}

/// A WebSocket protocol, with one method per lws callback reason.
pub trait Protocol: Send + Sync + Sized + 'static {
    /// Per-connection state (lws' per-session data).
    type Session: 'static;
    /// Per-service-thread state, shared by the protocol's connections on that
    /// thread without locks.
    type ThreadState: 'static;
    /// Events posted to the protocol from other threads (see [`Cx::post_others`]).
    type Event: Send + 'static;

    /// The subprotocol name (`Sec-WebSocket-Protocol`).
    fn name(&self) -> &str;

    /// Settings; called once when the protocol is registered.
    fn options(&self) -> ProtocolOptions {
        ProtocolOptions::default()
    }

    /// Creates the state for one service thread (lws' PROTOCOL_INIT).
    fn thread_init(&self, tsi: usize) -> Self::ThreadState;

    /// A connection was accepted for this protocol, or a client connection
    /// of it completed its handshake ([`Handshake::client`]). Return its
    /// session, or refuse it (a server answers the handshake 403; a client
    /// drops the connection).
    fn established(
        &self,
        cx: &mut Cx<'_, Self>,
        hs: &Handshake<'_>,
    ) -> Result<Self::Session, Close>;

    /// Data arrived.
    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        session: &mut Self::Session,
        msg: Received<'_>,
    ) -> Result<(), Close>;

    /// The connection can take data: write with `w`. May come without a request.
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
    fn timer(&self, cx: &mut Cx<'_, Self>, session: &mut Self::Session) -> Result<(), Close> {
        let _ = (cx, session);
        Ok(())
    }

    /// The connection is gone. `code` is the peer's close code when it sent one.
    fn closed(&self, cx: &mut Cx<'_, Self>, session: Self::Session, code: Option<CloseCode>) {
        let _ = (cx, session, code);
    }

    /// An event posted from another thread arrived on this thread.
    fn event(&self, cx: &mut ThreadCx<'_, Self>, event: Self::Event) {
        let _ = (cx, event);
    }

    /// A client connection ([`crate::Context::connect`]) with this id could
    /// not be opened; `error` says why (lws' CLIENT_CONNECTION_ERROR).
    fn client_connection_error(
        &self,
        cx: &mut ThreadCx<'_, Self>,
        id: u64,
        error: &crate::client::ConnectError,
    ) {
        let _ = (cx, id);
        tracing::debug!(id, %error, "client connection failed");
    }
}

/// Per-connection control state that the driver reads after each callback.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) paused: bool,
    pub(crate) timer: Option<Option<Duration>>,
    /// What permessage-deflate negotiated (read-only for callbacks).
    pub(crate) deflate: Option<DeflateParams>,
    /// Changes to outgoing compression requested by a callback.
    pub(crate) compress: Option<CompressChange>,
}

/// A change to a connection's outgoing compression (lws' `lws_set_extension_option`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompressChange {
    pub(crate) enabled: Option<bool>,
    pub(crate) level: Option<u32>,
    pub(crate) min_size: Option<usize>,
}

/// The context of a callback for one connection.
pub struct Cx<'a, P: Protocol> {
    pub(crate) pt: &'a ProtoThread<P>,
    pub(crate) state: &'a mut P::ThreadState,
    pub(crate) conn: &'a Rc<ConnSignal>,
    pub(crate) ctl: &'a mut Control,
}

impl<'a, P: Protocol> Cx<'a, P> {
    /// This thread's protocol state.
    pub fn thread_state(&mut self) -> &mut P::ThreadState {
        self.state
    }

    /// The protocol value.
    pub fn protocol(&self) -> &Arc<P> {
        &self.pt.proto
    }

    /// The connection's id (unique in the context).
    pub fn id(&self) -> u64 {
        self.conn.id
    }

    /// The peer address.
    pub fn peer(&self) -> SocketAddr {
        self.conn.peer
    }

    /// The service thread index.
    pub fn tsi(&self) -> usize {
        self.pt.tsi
    }

    /// Number of service threads in the context.
    pub fn thread_count(&self) -> usize {
        self.pt.shared.thread_count()
    }

    /// Asks for a [`Protocol::writeable`] callback on this connection.
    pub fn request_writeable(&mut self) {
        self.conn.request(ConnSignal::WRITEABLE);
    }

    /// Asks for a writeable callback on every connection of this protocol on
    /// this thread.
    pub fn request_writeable_all(&mut self) {
        self.pt.request_all(ConnSignal::WRITEABLE);
    }

    /// Stops reading from this connection (RX flow control).
    pub fn pause_rx(&mut self) {
        self.ctl.paused = true;
    }

    /// Reads from this connection again.
    pub fn resume_rx(&mut self) {
        self.ctl.paused = false;
    }

    /// Resumes reading on every connection of this protocol on this thread.
    pub fn resume_rx_all(&mut self) {
        self.ctl.paused = false;
        self.pt.request_all(ConnSignal::RESUME_RX);
    }

    /// Calls [`Protocol::timer`] once after `after` (replacing any earlier timer).
    pub fn set_timer(&mut self, after: Duration) {
        self.ctl.timer = Some(Some(after));
    }

    /// Cancels the timer.
    pub fn cancel_timer(&mut self) {
        self.ctl.timer = Some(None);
    }

    /// The permessage-deflate parameters in force, if the extension was negotiated.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.ctl.deflate
    }

    /// Turns compression of outgoing messages on or off for this connection
    /// (the extension stays negotiated; only sending changes), like lws'
    /// `lws_set_extension_option`. Returns false if permessage-deflate is
    /// not in use on the connection.
    pub fn set_compression(&mut self, enabled: bool) -> bool {
        self.compress_change(|c| c.enabled = Some(enabled))
    }

    /// Sets the zlib level (0–9) for outgoing messages on this connection.
    pub fn set_compression_level(&mut self, level: u32) -> bool {
        self.compress_change(|c| c.level = Some(level))
    }

    /// Messages shorter than `bytes` go out uncompressed on this connection.
    pub fn set_compression_min_size(&mut self, bytes: usize) -> bool {
        self.compress_change(|c| c.min_size = Some(bytes))
    }

    fn compress_change(&mut self, f: impl FnOnce(&mut CompressChange)) -> bool {
        if self.ctl.deflate.is_none() {
            return false;
        }
        f(self
            .ctl
            .compress
            .get_or_insert_with(CompressChange::default));
        true
    }

    /// Posts `event` to this protocol on every other service thread, where
    /// [`Protocol::event`] receives it.
    pub fn post_others(&self, event: P::Event)
    where
        P::Event: Clone,
    {
        self.pt.post_others(event);
    }

    /// Opens a client connection of this protocol on this service thread
    /// (see [`crate::Context::connect`]).
    pub fn connect(
        &self,
        cfg: crate::client::ClientConfig,
    ) -> Result<crate::context::ClientHandle, crate::context::ClientStartError> {
        self.pt.connect_here(cfg)
    }

    /// A snapshot of the WebSocket connections of the whole context.
    pub fn connections(&self) -> Vec<crate::context::ConnEntry> {
        self.pt.shared.connections()
    }

    /// Counter bumped on every WebSocket connect and disconnect in the context.
    pub fn connections_generation(&self) -> u64 {
        self.pt.shared.connections_generation()
    }
}

/// The context of a thread-level callback ([`Protocol::event`]).
pub struct ThreadCx<'a, P: Protocol> {
    pub(crate) pt: &'a ProtoThread<P>,
    pub(crate) state: &'a mut P::ThreadState,
}

impl<'a, P: Protocol> ThreadCx<'a, P> {
    /// This thread's protocol state.
    pub fn thread_state(&mut self) -> &mut P::ThreadState {
        self.state
    }

    /// The service thread index.
    pub fn tsi(&self) -> usize {
        self.pt.tsi
    }

    /// Asks for a writeable callback on every connection of this protocol on this thread.
    pub fn request_writeable_all(&mut self) {
        self.pt.request_all(ConnSignal::WRITEABLE);
    }

    /// Resumes reading on every connection of this protocol on this thread.
    pub fn resume_rx_all(&mut self) {
        self.pt.request_all(ConnSignal::RESUME_RX);
    }

    /// Opens a client connection of this protocol on this service thread
    /// (see [`crate::Context::connect`]); for retries from
    /// [`Protocol::client_connection_error`].
    pub fn connect(
        &self,
        cfg: crate::client::ClientConfig,
    ) -> Result<crate::context::ClientHandle, crate::context::ClientStartError> {
        self.pt.connect_here(cfg)
    }
}

/// Bytes could not be queued: the connection already holds as much as
/// [`ProtocolOptions::write_buffer`] allows. Wait for the next writeable callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteFull;

impl std::fmt::Display for WriteFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write buffer full; wait for the next writeable callback")
    }
}

impl std::error::Error for WriteFull {}

/// Writes frames during [`Protocol::writeable`].
///
/// A write is always accepted when nothing is pending, so one message of any
/// size can go out per callback; further writes in the same callback are
/// accepted while the total stays within [`ProtocolOptions::write_buffer`].
/// Everything accepted is sent before the next writeable callback.
pub struct Writer<'a> {
    pub(crate) conn: &'a mut Connection,
    pub(crate) limit: usize,
    /// The socket, for writing large frames straight from the caller's
    /// buffer (the connection's queue holds only what this callback wrote and is unsent).
    pub(crate) direct: Option<&'a tokio::net::TcpStream>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.conn.queued())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// Frames at least this large are written to the socket without being
/// copied into the connection's buffer first.
const DIRECT_MIN: usize = 2048;

impl Writer<'_> {
    fn check(&self, len: usize) -> Result<(), WriteFull> {
        let queued = self.conn.queued();
        if queued != 0 && queued + len > self.limit {
            Err(WriteFull)
        } else {
            Ok(())
        }
    }

    /// Bytes that can still be written in this callback.
    pub fn room(&self) -> usize {
        match self.conn.queued() {
            0 => usize::MAX,
            q => self.limit.saturating_sub(q),
        }
    }

    /// Sends a whole text message.
    pub fn text(&mut self, s: &str) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(DataKind::Text), s.as_bytes())
    }

    /// Sends a whole binary message.
    pub fn binary(&mut self, b: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(DataKind::Binary), b)
    }

    /// Sends a whole message of `kind`.
    pub fn message(&mut self, kind: DataKind, b: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(kind), b)
    }

    /// Sends one fragment of a message: `first` starts it with `kind`,
    /// `fin` ends it. A text message must be valid UTF-8 as a whole.
    pub fn fragment(
        &mut self,
        kind: DataKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) -> Result<(), WriteFull> {
        self.frame(Outgoing::Fragment { kind, first, fin }, data)
    }

    /// Sends a ping (payload up to 125 bytes; longer is cut).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Ping, payload)
    }

    /// Sends a whole message without compressing it, even where
    /// permessage-deflate is in use (for data that is already compressed).
    pub fn message_uncompressed(&mut self, kind: DataKind, b: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Uncompressed(kind), b)
    }

    fn frame(&mut self, what: Outgoing, data: &[u8]) -> Result<(), WriteFull> {
        self.check(data.len() + 14)?;
        // Writeable callbacks run only while the connection may send.
        let Ok(t) = self.conn.send_vectored(what, data) else {
            return Err(WriteFull);
        };
        if let Some(io) = self.direct {
            if t.frame_len() >= DIRECT_MIN {
                // One vectored write of the queue, header and payload; what the
                // kernel does not take stays queued. Errors other than
                // WouldBlock show up again on the next flush.
                let n = io.try_write_vectored(&t.slices()).unwrap_or(0);
                t.advance(n);
            }
        }
        Ok(())
    }
}
