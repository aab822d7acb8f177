//! What a raw callback can do with its connection ([`RawCx`]), write
//! ([`RawWriter`]), and reach from other threads ([`RawHandle`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::RawPeer;
use crate::runtime::ConnId;

/// Requests from outside the connection's callbacks.
#[derive(Default)]
pub(crate) struct Remote {
    pub(super) notify: Notify,
    pub(super) writeable: AtomicBool,
    pub(super) resume: AtomicBool,
    pub(super) close: AtomicBool,
}

/// What the callbacks asked for, applied when they return.
#[derive(Default)]
pub(super) struct Asked {
    pub(super) writeable: bool,
    pub(super) paused: bool,
    pub(super) close: bool,
    /// `Some(Some(..))`: set this deadline; `Some(None)`: cancel it.
    pub(super) timeout: Option<Option<(&'static str, Duration)>>,
}

/// A raw connection, as its callbacks see it.
pub struct RawCx<'a> {
    pub(super) id: ConnId,
    pub(super) peer: &'a RawPeer,
    pub(super) asked: &'a mut Asked,
    pub(super) remote: &'a Arc<Remote>,
}

impl std::fmt::Debug for RawCx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawCx")
            .field("id", &self.id)
            .field("peer", self.peer)
            .finish_non_exhaustive()
    }
}

impl RawCx<'_> {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where its bytes come from.
    pub fn peer(&self) -> &RawPeer {
        self.peer
    }

    /// Asks for one [`super::RawProtocol::writeable`] callback
    /// (`lws_callback_on_writable`).
    #[doc(alias = "lws_callback_on_writable")]
    pub fn request_writeable(&mut self) {
        self.asked.writeable = true;
    }

    /// Stops reading: the peer is pushed back by TCP (or the pipe fills)
    /// until [`RawCx::resume_rx`] (`lws_rx_flow_control`).
    #[doc(alias = "lws_rx_flow_control")]
    pub fn pause_rx(&mut self) {
        self.asked.paused = true;
    }

    /// Reads again after [`RawCx::pause_rx`].
    pub fn resume_rx(&mut self) {
        self.asked.paused = false;
    }

    /// Closes the connection once what was written has gone out.
    pub fn close(&mut self) {
        self.asked.close = true;
    }

    /// Closes the connection `after` from now unless extended or cancelled;
    /// `reason` is logged and given to `closed` (`lws_set_timeout`).
    #[doc(alias = "lws_set_timeout")]
    pub fn set_timeout(&mut self, reason: &'static str, after: Duration) {
        self.asked.timeout = Some(Some((reason, after)));
    }

    /// Cancels [`RawCx::set_timeout`].
    pub fn cancel_timeout(&mut self) {
        self.asked.timeout = Some(None);
    }

    /// A handle for other threads.
    pub fn handle(&self) -> RawHandle {
        RawHandle {
            id: self.id,
            remote: self.remote.clone(),
        }
    }
}

/// Reaches a raw connection from any thread.
#[derive(Clone)]
pub struct RawHandle {
    pub(crate) id: ConnId,
    pub(crate) remote: Arc<Remote>,
}

impl std::fmt::Debug for RawHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHandle").field("id", &self.id).finish()
    }
}

impl RawHandle {
    pub(crate) fn new(id: ConnId) -> RawHandle {
        RawHandle {
            id,
            remote: Arc::default(),
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Asks for a writeable callback (lws' `lws_callback_on_writable` from
    /// another thread, after `lws_cancel_service`).
    pub fn request_writeable(&self) {
        self.remote.writeable.store(true, Ordering::Release);
        self.remote.notify.notify_one();
    }

    /// Reads again after [`RawCx::pause_rx`].
    pub fn resume_rx(&self) {
        self.remote.resume.store(true, Ordering::Release);
        self.remote.notify.notify_one();
    }

    /// Closes the connection once what was written has gone out.
    pub fn close(&self) {
        self.remote.close.store(true, Ordering::Release);
        self.remote.notify.notify_one();
    }
}

/// Where [`super::RawProtocol::writeable`] puts its bytes; they go out
/// before the next writeable callback.
pub struct RawWriter<'a> {
    pub(super) out: &'a mut Vec<u8>,
}

impl std::fmt::Debug for RawWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawWriter")
            .field("queued", &self.out.len())
            .finish()
    }
}

impl RawWriter<'_> {
    /// Queues `data` (`lws_write(.., LWS_WRITE_RAW)`).
    #[doc(alias = "lws_write")]
    pub fn write(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
    }

    /// Bytes queued by this callback so far.
    pub fn queued(&self) -> usize {
        self.out.len()
    }
}
