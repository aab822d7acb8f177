//! What a callback can do besides writing: [`Cx`] for one connection,
//! [`ThreadCx`] for thread-level callbacks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::protocol::{DeflateParams, Protocol};
use super::signal::ConnSignal;
use super::slot::{ClientHandle, ClientStartError, ProtoThread};
use crate::runtime::{ConnId, ThreadIndex};

/// Per-connection control state that callbacks change and the driver
/// reads after each one (16 bytes: what is rarely asked for is boxed).
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) paused: bool,
    /// What permessage-deflate negotiated (read-only for callbacks).
    pub(crate) deflate: Option<DeflateParams>,
    /// Timers and compression changes asked for, not yet applied.
    pub(crate) changes: Option<Box<Changes>>,
}

/// What a callback asked for besides flow control.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) timer: Option<Option<Duration>>,
    /// A deadline to set (with its reason) or cancel (`Some(None)`).
    pub(crate) timeout: Option<Option<(Duration, &'static str)>>,
    /// Changes to outgoing compression requested by a callback.
    pub(crate) compress: Option<CompressChange>,
}

impl Control {
    fn changes(&mut self) -> &mut Changes {
        self.changes.get_or_insert_with(Box::default)
    }
}

/// A change to a connection's outgoing compression (lws' `lws_set_extension_option`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompressChange {
    pub(crate) enabled: Option<bool>,
    pub(crate) level: Option<u32>,
    pub(crate) min_size: Option<usize>,
}

/// The context of a callback for one connection.
#[doc(alias = "wsi")]
pub struct Cx<'a, P: Protocol> {
    pub(crate) pt: &'a ProtoThread<P>,
    pub(crate) state: &'a mut P::ThreadState,
    pub(crate) conn: &'a ConnSignal,
    pub(crate) ctl: &'a mut Control,
}

impl<P: Protocol> std::fmt::Debug for Cx<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cx")
            .field("protocol", &self.pt.proto.name())
            .field("id", &self.conn.id.get())
            .field("peer", &self.peer())
            .field("tsi", &self.pt.tsi)
            .finish_non_exhaustive()
    }
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
    pub fn id(&self) -> ConnId {
        ConnId(self.conn.id.get())
    }

    /// The peer address.
    pub fn peer(&self) -> SocketAddr {
        self.pt
            .shared
            .peer_of(self.pt.tsi, self.conn.reg.get())
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The service thread.
    pub fn tsi(&self) -> ThreadIndex {
        ThreadIndex(self.pt.tsi)
    }

    /// Number of service threads in the context.
    pub fn thread_count(&self) -> usize {
        self.pt.shared.thread_count()
    }

    /// Asks for a [`Protocol::writeable`] callback on this connection.
    #[doc(alias = "lws_callback_on_writable")]
    pub fn request_writeable(&mut self) {
        self.conn.request(ConnSignal::WRITEABLE);
    }

    /// Asks for a writeable callback on every connection of this protocol on
    /// this thread.
    #[doc(alias = "lws_callback_on_writable_all_protocol")]
    pub fn request_writeable_all(&mut self) {
        self.pt.request_all(ConnSignal::WRITEABLE);
    }

    /// Stops reading from this connection (RX flow control).
    #[doc(alias = "lws_rx_flow_control")]
    pub fn pause_rx(&mut self) {
        self.ctl.paused = true;
    }

    /// Reads from this connection again.
    #[doc(alias = "lws_rx_flow_control")]
    pub fn resume_rx(&mut self) {
        self.ctl.paused = false;
    }

    /// Resumes reading on every connection of this protocol on this thread.
    #[doc(alias = "lws_rx_flow_allow_all_protocol")]
    pub fn resume_rx_all(&mut self) {
        self.ctl.paused = false;
        self.pt.request_all(ConnSignal::RESUME_RX);
    }

    /// Calls [`Protocol::timer`] once after `after` (replacing any earlier timer).
    #[doc(alias = "lws_set_timer_usecs")]
    pub fn set_timer(&mut self, after: Duration) {
        self.ctl.changes().timer = Some(Some(after));
    }

    /// Cancels the timer.
    #[doc(alias = "lws_set_timer_usecs")]
    pub fn cancel_timer(&mut self) {
        self.ctl.changes().timer = Some(None);
    }

    /// Gives the connection a deadline (lws' `lws_set_timeout`): if it is
    /// still open after `after`, it is closed (without a close handshake,
    /// `closed` follows) and `reason` is logged. Setting it again extends
    /// or shortens it.
    #[doc(alias = "lws_set_timeout")]
    pub fn set_timeout(&mut self, reason: &'static str, after: Duration) {
        self.ctl.changes().timeout = Some(Some((after, reason)));
    }

    /// Cancels the deadline.
    #[doc(alias = "lws_set_timeout")]
    pub fn cancel_timeout(&mut self) {
        self.ctl.changes().timeout = Some(None);
    }

    /// The permessage-deflate parameters in force, if the extension was negotiated.
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.ctl.deflate
    }

    /// Turns compression of outgoing messages on or off for this connection
    /// (the extension stays negotiated; only sending changes), like lws'
    /// `lws_set_extension_option`. Returns false if permessage-deflate is
    /// not in use on the connection.
    #[doc(alias = "lws_set_extension_option")]
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
            .changes()
            .compress
            .get_or_insert_with(CompressChange::default));
        true
    }

    /// Posts `event` to this protocol on every other service thread, where
    /// [`Protocol::event`] receives it.
    #[doc(alias = "lws_cancel_service")]
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
    ) -> Result<ClientHandle, ClientStartError> {
        self.pt.connect_here(cfg)
    }

    /// A snapshot of the WebSocket connections of the whole context.
    #[doc(alias = "lws-server-status")]
    pub fn connections(&self) -> Vec<crate::runtime::ConnEntry> {
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

impl<P: Protocol> std::fmt::Debug for ThreadCx<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadCx")
            .field("protocol", &self.pt.proto.name())
            .field("tsi", &self.pt.tsi)
            .finish_non_exhaustive()
    }
}

impl<'a, P: Protocol> ThreadCx<'a, P> {
    /// This thread's protocol state.
    pub fn thread_state(&mut self) -> &mut P::ThreadState {
        self.state
    }

    /// The service thread.
    pub fn tsi(&self) -> ThreadIndex {
        ThreadIndex(self.pt.tsi)
    }

    /// Asks for a writeable callback on every connection of this protocol on this thread.
    #[doc(alias = "lws_callback_on_writable_all_protocol")]
    pub fn request_writeable_all(&mut self) {
        self.pt.request_all(ConnSignal::WRITEABLE);
    }

    /// Resumes reading on every connection of this protocol on this thread.
    #[doc(alias = "lws_rx_flow_allow_all_protocol")]
    pub fn resume_rx_all(&mut self) {
        self.pt.request_all(ConnSignal::RESUME_RX);
    }

    /// Opens a client connection of this protocol on this service thread
    /// (see [`crate::Context::connect`]); for retries from
    /// [`Protocol::client_connection_error`].
    pub fn connect(
        &self,
        cfg: crate::client::ClientConfig,
    ) -> Result<ClientHandle, ClientStartError> {
        self.pt.connect_here(cfg)
    }
}
