//! [`Writer`]: sending frames, only inside the writeable callback.

use rlws_ws::{Connection, DataKind, Outgoing};

/// Bytes could not be queued: the connection already holds as much as
/// [`crate::ProtocolOptions::write_buffer`] allows. Wait for the next writeable callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteFull;

impl std::fmt::Display for WriteFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write buffer full; wait for the next writeable callback")
    }
}

impl std::error::Error for WriteFull {}

/// Writes frames during [`crate::Protocol::writeable`].
///
/// A write is always accepted when nothing is pending, so one message of any
/// size can go out per callback; further writes in the same callback are
/// accepted while the total stays within [`crate::ProtocolOptions::write_buffer`].
/// Everything accepted is sent before the next writeable callback.
#[doc(alias = "lws_write")]
pub struct Writer<'a> {
    pub(crate) conn: &'a mut Connection,
    pub(crate) limit: usize,
    /// The socket, for writing large frames straight from the caller's
    /// buffer (the connection's queue holds only what this callback wrote and is unsent).
    pub(crate) direct: Option<&'a dyn DirectWrite>,
    /// The protocol's counts on this thread.
    pub(crate) counts: &'a crate::runtime::ProtoCounts,
}

/// A socket a frame can be written to at once, without waiting.
pub(crate) trait DirectWrite {
    /// Writes what the socket takes now; 0 if it takes nothing (or fails:
    /// the error shows up again on the next flush).
    fn try_writev(&self, bufs: &[std::io::IoSlice<'_>]) -> usize;
}

impl DirectWrite for tokio::net::TcpStream {
    fn try_writev(&self, bufs: &[std::io::IoSlice<'_>]) -> usize {
        self.try_write_vectored(bufs).unwrap_or(0)
    }
}

impl DirectWrite for mio::net::TcpStream {
    fn try_writev(&self, bufs: &[std::io::IoSlice<'_>]) -> usize {
        use std::io::Write;
        let mut s: &mio::net::TcpStream = self;
        s.write_vectored(bufs).unwrap_or(0)
    }
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
    #[doc(alias = "LWS_WRITE_TEXT")]
    pub fn text(&mut self, s: &str) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(DataKind::Text), s.as_bytes())
    }

    /// Sends a whole binary message.
    #[doc(alias = "LWS_WRITE_BINARY")]
    pub fn binary(&mut self, b: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(DataKind::Binary), b)
    }

    /// Sends a whole message of `kind`.
    pub fn message(&mut self, kind: DataKind, b: &[u8]) -> Result<(), WriteFull> {
        self.frame(Outgoing::Message(kind), b)
    }

    /// Sends one fragment of a message: `first` starts it with `kind`,
    /// `fin` ends it. A text message must be valid UTF-8 as a whole.
    #[doc(alias = "LWS_WRITE_CONTINUATION")]
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

    /// Queues (or writes) a frame and counts what it carries.
    fn frame(&mut self, what: Outgoing, data: &[u8]) -> Result<(), WriteFull> {
        let ends_message = match what {
            Outgoing::Message(_) | Outgoing::Uncompressed(_) => true,
            Outgoing::Fragment { fin, .. } => fin,
            _ => false,
        };
        let counted = ends_message || matches!(what, Outgoing::Fragment { .. });
        self.put(what, data)?;
        if counted {
            self.counts.tx_bytes.add(data.len() as u64);
        }
        if ends_message {
            self.counts.tx_messages.add(1);
        }
        Ok(())
    }

    fn put(&mut self, what: Outgoing, data: &[u8]) -> Result<(), WriteFull> {
        self.check(data.len() + 14)?;
        if self.direct.is_none() || data.len() + 14 < DIRECT_MIN {
            // Small frames (and frames for a buffering transport) are queued.
            return self.conn.send(what, data).map_err(|_| WriteFull);
        }
        // Writeable callbacks run only while the connection may send.
        let Ok(t) = self.conn.send_vectored(what, data) else {
            return Err(WriteFull);
        };
        if let Some(io) = self.direct {
            if t.frame_len() >= DIRECT_MIN {
                // One vectored write of the queue, header and payload; what the
                // kernel does not take stays queued. Errors other than
                // WouldBlock show up again on the next flush.
                let n = io.try_writev(&t.slices());
                t.advance(n);
            }
        }
        Ok(())
    }
}
