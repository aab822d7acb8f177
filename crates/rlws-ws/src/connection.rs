//! The whole WebSocket connection as a state machine without I/O: see [`Connection`].

use std::io::IoSlice;
use std::time::{Duration, Instant};

use crate::close::CloseCode;
use crate::deflate::{DeflateConfig, Deflater, InflateError, Inflater, Params};
use crate::frame::{encode_close, encode_frame, encode_header, OpCode, Role, MAX_HEADER};
use crate::mask::{next_key, random_u64};
use crate::receiver::{DataKind, FrameEvent, Limits, ProtocolError, Receiver};
use crate::utf8::Utf8Stream;

/// Settings of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest message accepted, in bytes after inflating; larger closes with 1009.
    pub max_message: u64,
    /// Largest single frame accepted (on the wire); larger closes with 1009.
    pub max_frame: u64,
    /// Deliver whole messages (fragments joined, compressed ones inflated) rather
    /// than pieces as they arrive.
    pub reassemble: bool,
    /// How long to wait for the peer's close frame after sending ours.
    pub close_timeout: Duration,
}

impl Default for Config {
    /// 1 MiB messages and frames, whole messages, 5 s close timeout.
    fn default() -> Self {
        Config {
            max_message: 1 << 20,
            max_frame: 1 << 20,
            reassemble: true,
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// Received data: a whole message, or a piece of one.
#[derive(Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// Text or binary.
    pub kind: DataKind,
    /// The bytes, unmasked and inflated. Text is valid UTF-8 as a whole when
    /// `last`; a piece of text may end inside a character.
    pub data: &'a [u8],
    /// First piece of the message.
    pub first: bool,
    /// Last piece of the message (always true for reassembled messages).
    pub last: bool,
    /// The frame this piece belongs to had FIN set (lws' `is_final_fragment`).
    pub fin: bool,
    /// Bytes of the current frame still to come (lws' `remaining_packet_payload`).
    pub remaining: u64,
}

impl<'a> Data<'a> {
    /// The data as text, for a whole text message.
    pub fn text(&self) -> Option<&'a str> {
        if self.kind == DataKind::Text && self.first && self.last {
            std::str::from_utf8(self.data).ok()
        } else {
            None
        }
    }
}

/// What the peer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Data arrived.
    Data(Data<'a>),
    /// A ping arrived; the pong is already queued.
    Ping(&'a [u8]),
    /// A pong arrived.
    Pong(&'a [u8]),
    /// The peer's close frame. If we had not sent ours, the reply (echoing the
    /// peer's code) goes out with the next [`Connection::poll_transmit`], after
    /// anything sent before that call.
    Close {
        /// The peer's status code; `None` for an empty close frame (1005).
        code: Option<CloseCode>,
        /// The peer's reason.
        reason: &'a str,
    },
}

/// Where a connection is in the close handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's (see [`Connection::poll_timeout`]).
    CloseSent,
    /// The peer sent a close frame; our reply is queued with the next transmit.
    CloseReceived,
    /// Nothing more will be read or sent: flush [`Connection::poll_transmit`] and
    /// close the socket.
    Closed,
}

/// A frame to send with [`Connection::send_vectored`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// A whole message, compressed when permessage-deflate is on and the
    /// message is at least the minimum size.
    Message(DataKind),
    /// A whole message, never compressed (for data that already is).
    Uncompressed(DataKind),
    /// One fragment of a message: `first` starts it with its kind, `fin` ends it.
    Fragment {
        /// Text or binary (only the first fragment carries it on the wire).
        kind: DataKind,
        /// Starts the message.
        first: bool,
        /// Ends the message.
        fin: bool,
    },
    /// A ping (payload cut to 125 bytes).
    Ping,
    /// An unsolicited pong (payload cut to 125 bytes).
    Pong,
}

/// Nothing more can be sent: our close frame is already out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError;

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection is closing; nothing more can be sent")
    }
}

impl std::error::Error for SendError {}

/// permessage-deflate state (boxed: most connections have none).
#[derive(Debug)]
struct Pmd {
    deflater: Deflater,
    inflater: Inflater,
    /// Compressed output of the last message sent.
    out: Vec<u8>,
    /// Inflated piece of a compressed message (fragment delivery).
    piece: Vec<u8>,
    params: Params,
    compress: bool,
    /// The negotiated window is one zlib can produce (9 bits or more).
    can_compress: bool,
    min_size: usize,
    /// Inflated bytes of the current message (fragment delivery).
    inflated: u64,
    utf8: Utf8Stream,
}

/// Buffers at most this large are kept for the next message; larger ones
/// are freed once delivered or sent.
const KEEP: usize = 64 * 1024;

const TOO_BIG: ProtocolError = ProtocolError {
    code: CloseCode::TOO_BIG,
    reason: "message too big after inflating",
};
const CORRUPT: ProtocolError = ProtocolError {
    code: CloseCode::INVALID_PAYLOAD,
    reason: "bad compressed data",
};
const BAD_UTF8: ProtocolError = ProtocolError {
    code: CloseCode::INVALID_PAYLOAD,
    reason: "invalid UTF-8 in text",
};

fn inflate_error(e: InflateError) -> ProtocolError {
    match e {
        InflateError::TooBig => TOO_BIG,
        InflateError::Corrupt => CORRUPT,
    }
}

/// One WebSocket connection as a state machine without I/O.
///
/// [`Connection`] owns everything one WebSocket needs after its opening
/// handshake: the frame parser, reassembly of fragmented messages,
/// permessage-deflate in both directions (with the inflate bound and UTF-8
/// checked after inflating), automatic pongs and close replies, the close
/// handshake with its deadline, and the queue of bytes to send.
///
/// It never touches a socket or a clock. A driver pumps it:
///
/// ```text
///   socket bytes ──read()──▶ Connection ──Event──▶ application
///   application ──send_*()──▶ Connection ──poll_transmit()──▶ socket
///   clock ──handle_timeout(now)──▶ Connection ──poll_timeout()──▶ timer
/// ```
///
/// ```
/// use rlws_ws::{Config, Connection, Event, Role};
/// use std::time::Instant;
///
/// let mut client = Connection::new(Role::Client, Config::default());
/// let mut server = Connection::new(Role::Server, Config::default());
/// client.send_text("hello").unwrap();
/// let mut wire = client.poll_transmit().to_vec();
/// let len = wire.len();
/// client.advance(len);
/// let (used, ev) = server.read(&mut wire).unwrap();
/// assert_eq!(used, len);
/// match ev {
///     Some(Event::Data(d)) => assert_eq!(d.data, b"hello"),
///     other => panic!("{other:?}"),
/// }
/// server.close(1000.into(), "bye", Instant::now()).unwrap();
/// ```
#[derive(Debug)]
pub struct Connection {
    rx: Receiver,
    state: State,
    /// Code of the peer's close frame, echoed in the reply.
    peer_code: Option<CloseCode>,
    /// The close deadline, as [`Deadline`] keeps it.
    deadline: Deadline,
    tx: Out,
    /// Reassembly (boxed when first needed: most messages arrive whole).
    asm: Option<Box<Assembly>>,
    /// `asm` (and the inflate piece) was handed out; reset on the next read.
    delivered: bool,
    /// Deliver whole messages ([`Config::reassemble`]).
    reassemble: bool,
    pmd: Option<Box<Pmd>>,
}

/// A message being put together from its fragments (or inflated).
#[derive(Debug)]
struct Assembly {
    msg: Vec<u8>,
    kind: DataKind,
}

impl Default for Assembly {
    fn default() -> Self {
        Assembly {
            msg: Vec::new(),
            kind: DataKind::Binary,
        }
    }
}

/// An optional instant in 8 bytes (an `Option<Instant>` takes 16):
/// nanoseconds after the first instant any connection asked about (584
/// years fit), 0 for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Deadline(u64);

impl Deadline {
    const NONE: Deadline = Deadline(0);

    fn base() -> Instant {
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    fn at(t: Instant) -> Deadline {
        let ns = t.saturating_duration_since(Self::base()).as_nanos();
        Deadline(u64::try_from(ns).unwrap_or(u64::MAX).max(1))
    }

    fn get(self) -> Option<Instant> {
        (self.0 != 0).then(|| Self::base() + Duration::from_nanos(self.0))
    }
}

impl Connection {
    /// A connection in `role` (a client masks what it sends), without extensions.
    pub fn new(role: Role, config: Config) -> Self {
        Connection {
            rx: Receiver::new(
                role,
                Limits {
                    max_frame: config.max_frame,
                    max_message: config.max_message,
                },
            ),
            state: State::Open,
            peer_code: None,
            deadline: Deadline::NONE,
            tx: Out {
                buf: Vec::new(),
                pos: 0,
                close_timeout_ms: u32::try_from(config.close_timeout.as_millis())
                    .unwrap_or(u32::MAX),
                mask: if role == Role::Client {
                    random_u64() | 1
                } else {
                    0
                },
            },
            asm: None,
            delivered: false,
            reassemble: config.reassemble,
            pmd: None,
        }
    }

    /// Turns on permessage-deflate with what the handshake agreed (`params`)
    /// and the local preferences (level, minimum size). Compression of what
    /// this side sends stays off when the agreed window is one zlib cannot
    /// produce (8 bits); receiving compressed messages works regardless.
    pub fn with_deflate(mut self, params: Params, cfg: &DeflateConfig) -> Self {
        let (bits, own, peer) = match self.role() {
            Role::Server => (
                params.server_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
            ),
        };
        self.pmd = Some(Box::new(Pmd {
            deflater: Deflater::new(bits.max(9), cfg.level, own),
            inflater: Inflater::new(peer),
            out: Vec::new(),
            piece: Vec::new(),
            params,
            compress: bits >= 9,
            can_compress: bits >= 9,
            min_size: cfg.min_size,
            inflated: 0,
            utf8: Utf8Stream::new(),
        }));
        self.rx.set_rsv1_allowed(true);
        self
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        if self.tx.mask != 0 {
            Role::Client
        } else {
            Role::Server
        }
    }

    /// The settings in force.
    pub fn config(&self) -> Config {
        let limits = self.rx.limits();
        Config {
            max_message: limits.max_message,
            max_frame: limits.max_frame,
            reassemble: self.reassemble,
            close_timeout: Duration::from_millis(u64::from(self.tx.close_timeout_ms)),
        }
    }

    /// Where the close handshake is.
    pub fn state(&self) -> State {
        self.state
    }

    /// The status code of the peer's close frame, once one arrived with a code.
    pub fn peer_close_code(&self) -> Option<CloseCode> {
        self.peer_code
    }

    /// The permessage-deflate parameters, if the extension is on.
    pub fn deflate(&self) -> Option<Params> {
        self.pmd.as_ref().map(|p| p.params)
    }

    /// Turns compression of outgoing messages on or off (the extension stays
    /// negotiated). Returns false if permessage-deflate is not in use.
    pub fn set_compression(&mut self, enabled: bool) -> bool {
        match self.pmd.as_deref_mut() {
            Some(p) => {
                p.compress = enabled && p.can_compress;
                true
            }
            None => false,
        }
    }

    /// Sets the zlib level (0–9) for outgoing messages.
    pub fn set_compression_level(&mut self, level: u32) -> bool {
        match self.pmd.as_deref_mut() {
            Some(p) => {
                p.deflater.set_level(level);
                true
            }
            None => false,
        }
    }

    /// Messages shorter than `bytes` go out uncompressed.
    pub fn set_compression_min_size(&mut self, bytes: usize) -> bool {
        match self.pmd.as_deref_mut() {
            Some(p) => {
                p.min_size = bytes;
                true
            }
            None => false,
        }
    }

    /// Parses received bytes (unmasking them in place in `buf`). Returns how
    /// many bytes were used and at most one event; call again with the rest
    /// until it returns `(0, None)`, which means it needs more bytes.
    ///
    /// Data still arrives after our close frame went out (the peer may have
    /// sent it before seeing ours); whether to use it is the caller's choice.
    ///
    /// A protocol violation returns the error after queuing a close frame
    /// with its code (1002, 1007 or 1009) and moving to [`State::Closed`]:
    /// flush and close the socket. Once the peer's close arrived, or the
    /// connection is closed, further input is ignored.
    pub fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Event<'a>>), ProtocolError> {
        if self.delivered {
            self.delivered = false;
            if let Some(a) = self.asm.as_deref_mut() {
                reuse(&mut a.msg);
            }
            if let Some(p) = self.pmd.as_deref_mut() {
                reuse(&mut p.piece);
            }
        }
        if matches!(self.state, State::CloseReceived | State::Closed) {
            return Ok((buf.len(), None));
        }
        let max_message = self.rx.limits().max_message;
        let (used, ev) = match self.rx.next(buf) {
            Ok(r) => r,
            Err(e) => {
                fail(&mut self.tx, &mut self.state, &mut self.deadline, e);
                return Err(e);
            }
        };
        let Some(ev) = ev else {
            return Ok((used, None));
        };
        match ev {
            FrameEvent::Data {
                kind,
                data,
                first,
                last,
                fin,
                remaining,
                compressed,
            } => {
                let piece = Data {
                    kind,
                    data: &*data,
                    first,
                    last,
                    fin,
                    remaining,
                };
                if !compressed && (first && last || !self.reassemble) {
                    // The common case, straight from the caller's buffer: no copy.
                    return Ok((used, Some(Event::Data(piece))));
                }
                let asm = self.asm.get_or_insert_with(Box::default);
                let delivered = if compressed {
                    inflate(
                        max_message,
                        self.reassemble,
                        self.pmd.as_deref_mut(),
                        &mut asm.msg,
                        &mut asm.kind,
                        piece,
                    )
                } else {
                    Ok(reassemble(&mut asm.msg, &mut asm.kind, piece))
                };
                match delivered {
                    Ok(Some(d)) => {
                        self.delivered = true;
                        Ok((used, Some(Event::Data(d))))
                    }
                    Ok(None) => Ok((used, None)),
                    Err(e) => {
                        fail(&mut self.tx, &mut self.state, &mut self.deadline, e);
                        Err(e)
                    }
                }
            }
            FrameEvent::Ping(p) => {
                if self.state == State::Open {
                    self.tx.frame(OpCode::Pong, p);
                }
                Ok((used, Some(Event::Ping(p))))
            }
            FrameEvent::Pong(p) => Ok((used, Some(Event::Pong(p)))),
            FrameEvent::Close { code, reason } => {
                self.peer_code = code;
                self.state = match self.state {
                    State::Open => State::CloseReceived,
                    _ => State::Closed,
                };
                self.deadline = Deadline::NONE;
                Ok((used, Some(Event::Close { code, reason })))
            }
        }
    }

    /// Queues a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send(Outgoing::Message(DataKind::Text), text.as_bytes())
    }

    /// Queues a whole binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send(Outgoing::Message(DataKind::Binary), data)
    }

    /// Queues a ping.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send(Outgoing::Ping, payload)
    }

    /// Queues a frame; the payload is copied into the send queue.
    pub fn send(&mut self, what: Outgoing, data: &[u8]) -> Result<(), SendError> {
        let f = frame_parts(self.state, self.pmd.as_deref_mut(), what, data)?;
        let key = self.tx.key();
        encode_frame(&mut self.tx.buf, f.op, f.fin, f.rsv1, f.payload, key);
        Ok(())
    }

    /// Encodes a frame without copying its payload: the returned [`Transmit`]
    /// holds what was queued before, the frame header and the payload (the
    /// caller's, or the compressed form) as slices for one vectored write.
    /// Tell it how much was written with [`Transmit::advance`]; whatever was
    /// not written is copied into the send queue when it is dropped.
    ///
    /// A client masks its frames, so its payload is always copied.
    pub fn send_vectored<'a>(
        &'a mut self,
        what: Outgoing,
        data: &'a [u8],
    ) -> Result<Transmit<'a>, SendError> {
        let FrameParts {
            op,
            fin,
            rsv1,
            payload,
        } = frame_parts(self.state, self.pmd.as_deref_mut(), what, data)?;
        if let Some(key) = self.tx.key() {
            encode_frame(&mut self.tx.buf, op, fin, rsv1, payload, Some(key));
            return Ok(Transmit::queued(&mut self.tx));
        }
        let mut header = [0u8; MAX_HEADER];
        let n = encode_header(&mut header, op, fin, rsv1, payload.len() as u64, None);
        Ok(Transmit {
            tx: &mut self.tx,
            header,
            header_len: n as u8,
            payload,
            written: 0,
        })
    }

    /// Starts the close handshake with `code` and `reason` (cut to fit a
    /// control frame): queues our close frame and arms the close timeout.
    /// After the peer's close arrived, this sends the reply at once (with the
    /// peer's code). Fails if our close is already out.
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        self.start_close(Some(code), reason, now)
    }

    /// [`Connection::close`] with an empty close frame (the peer sees 1005).
    pub fn close_without_code(&mut self, now: Instant) -> Result<(), SendError> {
        self.start_close(None, "", now)
    }

    fn start_close(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
        now: Instant,
    ) -> Result<(), SendError> {
        match self.state {
            State::Open => {
                self.tx.close(code, reason);
                self.state = State::CloseSent;
                self.deadline =
                    Deadline::at(now + Duration::from_millis(u64::from(self.tx.close_timeout_ms)));
                Ok(())
            }
            State::CloseReceived => {
                self.reply_close();
                Ok(())
            }
            State::CloseSent | State::Closed => Err(SendError),
        }
    }

    fn reply_close(&mut self) {
        self.tx.close(self.peer_code, "");
        self.state = State::Closed;
    }

    /// Ends the connection at once, discarding what is queued (the peer is
    /// gone or unresponsive).
    pub fn abort(&mut self) {
        self.state = State::Closed;
        self.deadline = Deadline::NONE;
        self.tx.buf.clear();
        self.tx.pos = 0;
    }

    /// The bytes waiting to be sent (the close reply is added here, after
    /// everything sent before). Report what was written with [`Connection::advance`].
    pub fn poll_transmit(&mut self) -> &[u8] {
        if self.state == State::CloseReceived {
            self.reply_close();
        }
        &self.tx.buf[self.tx.pos as usize..]
    }

    /// `n` bytes of [`Connection::poll_transmit`] were written.
    pub fn advance(&mut self, n: usize) {
        self.tx.advance(n);
    }

    /// Frees the buffers an idle connection does not need: the send
    /// queue's (when nothing is queued) and, between messages, those of
    /// reassembly and compression, and zlib's state where it is reset
    /// after each message anyway (no context takeover). With context
    /// takeover the inflater keeps its window, and the compressor is
    /// dropped when nothing was compressed since the previous call (see
    /// [`Deflater::release`](crate::deflate::Deflater::release)). Each
    /// comes back when next needed. A driver calls this at a steady
    /// interval (rlws: once a second). Returns how many zlib states were
    /// freed (each is tens to hundreds of KiB: worth giving back to the
    /// system).
    pub fn release_buffers(&mut self) -> usize {
        let mut freed = 0;
        if self.tx.queued() == 0 {
            self.tx.buf = Vec::new();
            self.tx.pos = 0;
        }
        if !self.rx.in_message() {
            self.asm = None;
            self.delivered = false;
            if let Some(p) = self.pmd.as_deref_mut() {
                p.out = Vec::new();
                p.piece = Vec::new();
                freed += usize::from(p.inflater.release());
            }
        }
        // Messages go out whole, so the compressor is between messages here.
        if let Some(p) = self.pmd.as_deref_mut() {
            freed += usize::from(p.deflater.release());
        }
        freed
    }

    /// Bytes of buffer capacity the connection holds (send queue,
    /// reassembly, compression output and inflated pieces; not zlib's own).
    pub fn buffered_capacity(&self) -> usize {
        let pmd = self
            .pmd
            .as_deref()
            .map_or(0, |p| p.out.capacity() + p.piece.capacity());
        self.tx.buf.capacity() + self.asm.as_ref().map_or(0, |a| a.msg.capacity()) + pmd
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.tx.queued()
    }

    /// True when something is queued, or a close reply is due.
    pub fn wants_transmit(&self) -> bool {
        self.tx.queued() > 0 || self.state == State::CloseReceived
    }

    /// When [`Connection::handle_timeout`] must be called: the close deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline.get()
    }

    /// The clock reached `now`: past the close deadline the connection is
    /// [`State::Closed`] (what is queued may still be flushed).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.get().is_some_and(|d| now >= d) {
            self.deadline = Deadline::NONE;
            self.state = State::Closed;
        }
    }
}

/// A frame about to be encoded.
struct FrameParts<'a> {
    op: OpCode,
    fin: bool,
    rsv1: bool,
    /// The caller's data, or its compressed form.
    payload: &'a [u8],
}

/// What frame `what` of `data` is in state `state`, compressed with `pmd`
/// where it applies.
fn frame_parts<'a>(
    state: State,
    pmd: Option<&'a mut Pmd>,
    what: Outgoing,
    data: &'a [u8],
) -> Result<FrameParts<'a>, SendError> {
    if !matches!(state, State::Open | State::CloseReceived) {
        return Err(SendError);
    }
    let (op, fin, compress) = match what {
        Outgoing::Message(kind) => (data_op(kind), true, true),
        Outgoing::Uncompressed(kind) => (data_op(kind), true, false),
        Outgoing::Fragment { kind, first, fin } => (
            if first {
                data_op(kind)
            } else {
                OpCode::Continuation
            },
            fin,
            false,
        ),
        Outgoing::Ping => (OpCode::Ping, true, false),
        Outgoing::Pong => (OpCode::Pong, true, false),
    };
    let data = if op.is_control() {
        &data[..data.len().min(125)]
    } else {
        data
    };
    if let Some(p) = pmd {
        if compress && p.compress && data.len() >= p.min_size {
            if p.out.capacity() > KEEP {
                p.out = Vec::new();
            }
            p.out.clear();
            p.deflater.compress(data, &mut p.out);
            return Ok(FrameParts {
                op,
                fin,
                rsv1: true,
                payload: &p.out,
            });
        }
    }
    Ok(FrameParts {
        op,
        fin,
        rsv1: false,
        payload: data,
    })
}

/// The send queue, and the masking state of a client.
#[derive(Debug)]
struct Out {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    pos: u32,
    /// [`Config::close_timeout`] in milliseconds (kept here, where it fits
    /// beside `pos`; the limits live in the receiver).
    close_timeout_ms: u32,
    /// Client connections mask: xorshift state for the keys (never 0);
    /// 0 for a server.
    mask: u64,
}

impl Out {
    fn key(&mut self) -> Option<[u8; 4]> {
        (self.mask != 0).then(|| next_key(&mut self.mask))
    }

    fn frame(&mut self, op: OpCode, payload: &[u8]) {
        let key = self.key();
        encode_frame(&mut self.buf, op, true, false, payload, key);
    }

    fn close(&mut self, code: Option<CloseCode>, reason: &str) {
        let key = self.key();
        encode_close(&mut self.buf, code.map(|c| c.0), reason, key);
    }

    fn queued(&self) -> usize {
        self.buf.len() - self.pos as usize
    }

    fn advance(&mut self, n: usize) {
        let pos = (self.pos as usize).saturating_add(n).min(self.buf.len());
        match u32::try_from(pos) {
            Ok(p) => self.pos = p,
            Err(_) => {
                // More than 4 GiB written from one queue: drop what went out.
                self.buf.drain(..pos);
                self.pos = 0;
                return;
            }
        }
        if pos == self.buf.len() {
            // The queue is kept only while small: idle connections hold nothing big.
            if self.buf.capacity() > 16 * 1024 {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.pos = 0;
        }
    }
}

/// A protocol error: our close frame with its code (unless ours is already
/// out), then nothing more. (Free-standing so the parser's borrow can live on.)
fn fail(tx: &mut Out, state: &mut State, deadline: &mut Deadline, e: ProtocolError) {
    if *state == State::Open {
        tx.close(Some(e.code), e.reason);
    }
    *state = State::Closed;
    *deadline = Deadline::NONE;
}

fn data_op(kind: DataKind) -> OpCode {
    match kind {
        DataKind::Text => OpCode::Text,
        DataKind::Binary => OpCode::Binary,
    }
}

/// Empties a buffer for reuse, freeing it if it grew large.
fn reuse(v: &mut Vec<u8>) {
    if v.capacity() > KEEP {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// Adds a piece of a fragmented message to `msg`; the whole message once
/// its last piece arrived.
#[inline(never)]
fn reassemble<'a>(
    msg: &'a mut Vec<u8>,
    msg_kind: &mut DataKind,
    piece: Data<'_>,
) -> Option<Data<'a>> {
    if piece.first {
        *msg_kind = piece.kind;
    }
    msg.extend_from_slice(piece.data);
    piece.last.then_some(Data {
        kind: *msg_kind,
        data: msg,
        first: true,
        last: true,
        fin: true,
        remaining: 0,
    })
}

/// Inflates a piece of a compressed message. Whole messages collect in
/// `msg`; pieces are inflated into the deflate state's piece buffer. The
/// inflated size is bounded by the message limit (1009) and text is checked
/// to be UTF-8 after inflating (1007).
#[inline(never)]
fn inflate<'a>(
    max_message: u64,
    reassemble: bool,
    pmd: Option<&'a mut Pmd>,
    msg: &'a mut Vec<u8>,
    msg_kind: &mut DataKind,
    piece: Data<'_>,
) -> Result<Option<Data<'a>>, ProtocolError> {
    let Some(p) = pmd else {
        return Err(ProtocolError {
            code: CloseCode::PROTOCOL_ERROR,
            reason: "compressed frame without permessage-deflate",
        });
    };
    let max = usize::try_from(max_message).unwrap_or(usize::MAX);
    if piece.first {
        p.inflated = 0;
        p.utf8.reset();
    }
    if reassemble {
        if piece.first {
            *msg_kind = piece.kind;
        }
        p.inflater
            .inflate(piece.data, msg, max)
            .map_err(inflate_error)?;
        if !piece.last {
            return Ok(None);
        }
        p.inflater.finish(msg, max).map_err(inflate_error)?;
        if piece.kind == DataKind::Text && p.utf8.feed(msg).and_then(|_| p.utf8.finish()).is_err() {
            return Err(BAD_UTF8);
        }
        return Ok(Some(Data {
            kind: *msg_kind,
            data: msg,
            first: true,
            last: true,
            fin: true,
            remaining: 0,
        }));
    }
    let room = max.saturating_sub(p.inflated as usize);
    p.piece.clear();
    p.inflater
        .inflate(piece.data, &mut p.piece, room)
        .map_err(inflate_error)?;
    if piece.last {
        p.inflater
            .finish(&mut p.piece, room)
            .map_err(inflate_error)?;
    }
    p.inflated += p.piece.len() as u64;
    if piece.kind == DataKind::Text {
        let ok = p.utf8.feed(&p.piece).is_ok() && (!piece.last || p.utf8.finish().is_ok());
        if !ok {
            return Err(BAD_UTF8);
        }
    }
    Ok(Some(Data {
        data: &p.piece,
        ..piece
    }))
}

/// A frame ready for a vectored write: what was queued before it, its
/// header and its payload, without a copy of the payload. Dropping it keeps
/// whatever was not written in the connection's send queue.
#[derive(Debug)]
pub struct Transmit<'a> {
    tx: &'a mut Out,
    header: [u8; MAX_HEADER],
    header_len: u8,
    payload: &'a [u8],
    written: usize,
}

impl<'a> Transmit<'a> {
    fn queued(tx: &'a mut Out) -> Self {
        Transmit {
            tx,
            header: [0; MAX_HEADER],
            header_len: 0,
            payload: &[],
            written: 0,
        }
    }

    /// The three slices to write, in order: queued bytes, header, payload.
    pub fn slices(&self) -> [IoSlice<'_>; 3] {
        [
            IoSlice::new(&self.tx.buf[self.tx.pos as usize..]),
            IoSlice::new(&self.header[..self.header_len as usize]),
            IoSlice::new(self.payload),
        ]
    }

    /// Total bytes in [`Transmit::slices`].
    pub fn len(&self) -> usize {
        self.tx.queued() + self.frame_len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the frame itself when it is still separate from the queue
    /// (header and borrowed payload); 0 when it was copied into the queue.
    pub fn frame_len(&self) -> usize {
        self.header_len as usize + self.payload.len()
    }

    /// Records that the first `n` bytes of the slices were written.
    pub fn advance(mut self, n: usize) {
        self.written = n;
    }
}

impl Drop for Transmit<'_> {
    fn drop(&mut self) {
        let mut n = self.written.min(self.len());
        let from_queue = n.min(self.tx.queued());
        n -= from_queue;
        let hdr = &self.header[..self.header_len as usize];
        let h = n.min(hdr.len());
        self.tx.buf.extend_from_slice(&hdr[h..]);
        self.tx.buf.extend_from_slice(&self.payload[n - h..]);
        self.tx.advance(from_queue);
    }
}
