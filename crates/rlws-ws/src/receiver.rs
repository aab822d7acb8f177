//! Incremental frame parser and message-level rules.

use crate::close::CloseCode;
use crate::frame::{OpCode, Role, MAX_HEADER};
use crate::mask::apply_mask;
use crate::utf8::Utf8Stream;

/// Size limits enforced while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame (bytes). Larger frames are refused with 1009
    /// as soon as their header arrives, before any payload is read.
    pub max_frame: u64,
    /// Largest payload of one message summed over its fragments (bytes, on the
    /// wire, i.e. before any decompression). Refused with 1009.
    pub max_message: u64,
}

impl Default for Limits {
    /// 1 MiB frames and messages.
    fn default() -> Self {
        Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        }
    }
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// What the peer sent, as it arrives.
///
/// `'d` is the caller's buffer (data is unmasked in place there); `'c` is
/// where control payloads live (the caller's buffer, or the parser when a
/// control frame was split across reads). Once a `Data` event is taken
/// apart, the parser is free again while the data is still borrowed.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'d, 'c> {
    /// A piece of a text or binary message, unmasked, in the caller's buffer.
    ///
    /// Data is delivered as soon as it arrives, so one frame may come in
    /// several pieces. Text is already checked to be valid UTF-8 so far
    /// (unless `compressed`, where the caller validates after inflating).
    Data {
        /// Text or binary (continuation frames carry the kind of their message).
        kind: DataKind,
        /// The payload bytes of this piece (may be empty).
        data: &'d mut [u8],
        /// First piece of the message.
        first: bool,
        /// Last piece of the message: the final frame is complete.
        last: bool,
        /// This piece belongs to a frame with FIN set (lws' `is_final_fragment`).
        fin: bool,
        /// Bytes of this frame still to come (lws' `remaining_packet_payload`).
        remaining: u64,
        /// RSV1 was set on the message's first frame (permessage-deflate).
        compressed: bool,
    },
    /// A ping with its payload (at most 125 bytes). Answer with a pong.
    Ping(&'c [u8]),
    /// A pong with its payload.
    Pong(&'c [u8]),
    /// A close frame. `code` is `None` for an empty close frame (1005).
    Close {
        /// The status code, if the frame had one.
        code: Option<CloseCode>,
        /// The reason, valid UTF-8.
        reason: &'c str,
    },
}

/// A violation of the protocol or a limit; close the connection with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to send: 1002, 1007 or 1009.
    pub code: CloseCode,
    /// A short reason, suitable for the close frame and logs.
    pub reason: &'static str,
}

impl ProtocolError {
    const fn new(code: CloseCode, reason: &'static str) -> Self {
        ProtocolError { code, reason }
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}

const PROTO: CloseCode = CloseCode::PROTOCOL_ERROR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Payload,
    Control,
    Closed,
}

/// Incremental WebSocket frame parser for one connection.
///
/// Feed it whatever bytes arrived with [`Receiver::next`] until it reports
/// that it needs more. It holds no payload buffer of its own: data payloads
/// are unmasked in the caller's buffer and returned as slices of it; only a
/// control frame split across reads is copied (at most 125 bytes).
#[derive(Debug)]
pub struct Receiver {
    role: Role,
    limits: Limits,
    rsv1_allowed: bool,
    state: State,
    hdr: [u8; MAX_HEADER],
    hdr_have: u8,
    // current frame
    opcode: OpCode,
    fin: bool,
    mask: [u8; 4],
    remaining: u64,
    // current message
    msg: Option<DataKind>,
    msg_first: bool,
    msg_compressed: bool,
    msg_len: u64,
    utf8: Utf8Stream,
    /// A control frame's payload split across reads (boxed: rarely used).
    ctrl: Option<Box<Ctrl>>,
}

/// See [`Receiver`]'s `ctrl`.
#[derive(Debug, Default)]
struct Ctrl(Vec<u8>);

/// The length of a frame header whose second byte is `b1`: 2, plus the
/// extended length, plus the masking key.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl Receiver {
    /// A parser for the given role and limits.
    pub fn new(role: Role, limits: Limits) -> Self {
        Receiver {
            role,
            limits,
            rsv1_allowed: false,
            state: State::Header,
            hdr: [0; 14],
            hdr_have: 0,
            opcode: OpCode::Binary,
            fin: false,
            mask: [0; 4],
            remaining: 0,
            msg: None,
            msg_first: false,
            msg_compressed: false,
            msg_len: 0,
            utf8: Utf8Stream::new(),
            ctrl: None,
        }
    }

    /// Allows RSV1 on the first frame of data messages (permessage-deflate
    /// was negotiated). Otherwise any RSV bit is a protocol error.
    pub fn set_rsv1_allowed(&mut self, allowed: bool) {
        self.rsv1_allowed = allowed;
    }

    /// Changes the limits; applies from the next frame.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether a data message is partly received.
    pub fn in_message(&self) -> bool {
        self.msg.is_some()
    }

    /// Whether a close frame was received (nothing more is accepted).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Parses from `buf`. Returns how many bytes were consumed and the event
    /// they completed, if any. Call again with the rest of the buffer; when
    /// it returns `(0, None)` it needs more bytes.
    ///
    /// Payload bytes are unmasked in place, so `buf` is modified.
    pub fn next<'s: 'c, 'd: 'c, 'c>(
        &'s mut self,
        buf: &'d mut [u8],
    ) -> Result<(usize, Option<FrameEvent<'d, 'c>>), ProtocolError> {
        match self.state {
            State::Header => {
                let used = self.read_header(buf)?;
                if self.state == State::Header {
                    return Ok((used, None));
                }
                let (n, ev) = match self.state {
                    State::Payload => self.payload(&mut buf[used..])?,
                    State::Control => self.control(&mut buf[used..])?,
                    _ => (0, None),
                };
                Ok((used + n, ev))
            }
            State::Payload => self.payload(buf),
            State::Control => self.control(buf),
            State::Closed => {
                if buf.is_empty() {
                    Ok((0, None))
                } else {
                    Err(ProtocolError::new(PROTO, "data after close frame"))
                }
            }
        }
    }

    fn read_header(&mut self, buf: &[u8]) -> Result<usize, ProtocolError> {
        if self.hdr_have == 0 && buf.len() >= 2 {
            // The common case: the whole header is in `buf`.
            let need = header_len(buf[1]);
            if buf.len() >= need {
                if let Some(all) = buf.first_chunk::<MAX_HEADER>() {
                    // A fixed-size copy: two moves, not a call.
                    self.hdr = *all;
                } else {
                    self.hdr[..need].copy_from_slice(&buf[..need]);
                }
                self.hdr_have = need as u8;
                self.check_first_bytes()?;
                self.start_frame()?;
                return Ok(need);
            }
        }
        let mut used = 0;
        loop {
            let need = if self.hdr_have < 2 {
                2
            } else {
                header_len(self.hdr[1])
            };
            let have = self.hdr_have as usize;
            if have == need {
                break;
            }
            let take = (need - have).min(buf.len() - used);
            if take == 0 {
                return Ok(used);
            }
            self.hdr[have..have + take].copy_from_slice(&buf[used..used + take]);
            self.hdr_have += take as u8;
            used += take;
            if have + take == 2 {
                // Check the first two bytes before waiting for the rest.
                self.check_first_bytes()?;
            }
        }
        self.start_frame()?;
        Ok(used)
    }

    #[inline(always)]
    fn check_first_bytes(&mut self) -> Result<(), ProtocolError> {
        let b0 = self.hdr[0];
        let b1 = self.hdr[1];
        let fin = b0 & 0x80 != 0;
        let rsv = b0 & 0x70;
        let opcode =
            OpCode::from_u8(b0 & 0x0F).ok_or(ProtocolError::new(PROTO, "reserved opcode"))?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if rsv & 0x30 != 0 {
            return Err(ProtocolError::new(PROTO, "reserved bits set"));
        }
        if rsv & 0x40 != 0
            && (!self.rsv1_allowed || !matches!(opcode, OpCode::Text | OpCode::Binary))
        {
            return Err(ProtocolError::new(
                PROTO,
                "RSV1 set without a negotiated extension",
            ));
        }
        match (self.role, masked) {
            (Role::Server, false) => {
                return Err(ProtocolError::new(PROTO, "client frame not masked"))
            }
            (Role::Client, true) => return Err(ProtocolError::new(PROTO, "server frame masked")),
            _ => {}
        }
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::new(PROTO, "fragmented control frame"));
            }
            if len7 > 125 {
                return Err(ProtocolError::new(PROTO, "control frame too long"));
            }
        } else {
            match (opcode, self.msg) {
                (OpCode::Continuation, None) => {
                    return Err(ProtocolError::new(PROTO, "continuation without a message"))
                }
                (OpCode::Text | OpCode::Binary, Some(_)) => {
                    return Err(ProtocolError::new(
                        PROTO,
                        "new message inside a fragmented one",
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn start_frame(&mut self) -> Result<(), ProtocolError> {
        let b0 = self.hdr[0];
        let b1 = self.hdr[1];
        // check_first_bytes already ran, so the opcode is known-good.
        let opcode = OpCode::from_u8(b0 & 0x0F).unwrap_or(OpCode::Binary);
        let (len, mut p) = match b1 & 0x7F {
            126 => (u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.hdr[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(ProtocolError::new(
                PROTO,
                "frame length has its top bit set",
            ));
        }
        // Masked exactly when the peer is a client (checked above).
        if b1 & 0x80 != 0 {
            self.mask.copy_from_slice(&self.hdr[p..p + 4]);
            p += 4;
        }
        debug_assert_eq!(p, self.hdr_have as usize);
        self.hdr_have = 0;
        self.opcode = opcode;
        self.fin = b0 & 0x80 != 0;
        self.remaining = len;
        if opcode.is_control() {
            if let Some(c) = self.ctrl.as_mut() {
                c.0.clear();
            }
            self.state = State::Control;
            return Ok(());
        }
        // Compressed data may be a little larger than what it inflates to
        // (incompressible input); the inflated size is bounded by the caller.
        let compressed = if opcode == OpCode::Continuation {
            self.msg_compressed
        } else {
            b0 & 0x40 != 0
        };
        let slack = |max: u64| {
            if compressed {
                max.saturating_add(max / 64 + 1024)
            } else {
                max
            }
        };
        if len > slack(self.limits.max_frame) {
            return Err(ProtocolError::new(CloseCode::TOO_BIG, "frame too big"));
        }
        match opcode {
            OpCode::Text | OpCode::Binary => {
                self.msg = Some(if opcode == OpCode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                });
                self.msg_first = true;
                self.msg_compressed = b0 & 0x40 != 0;
                self.msg_len = 0;
                self.utf8.reset();
            }
            _ => {}
        }
        self.msg_len = self.msg_len.saturating_add(len);
        if self.msg_len > slack(self.limits.max_message) {
            return Err(ProtocolError::new(CloseCode::TOO_BIG, "message too big"));
        }
        self.state = State::Payload;
        Ok(())
    }

    fn payload<'d, 'c>(
        &mut self,
        buf: &'d mut [u8],
    ) -> Result<(usize, Option<FrameEvent<'d, 'c>>), ProtocolError> {
        let take = self.remaining.min(buf.len() as u64) as usize;
        if take == 0 && self.remaining > 0 {
            return Ok((0, None));
        }
        let kind = self.msg.unwrap_or(DataKind::Binary);
        let chunk = &mut buf[..take];
        if self.role == Role::Server {
            apply_mask(chunk, self.mask, 0);
            // The key as it stands for the frame's next byte.
            // (Byte k first: a right rotation of the little-endian word.)
            let m = u32::from_le_bytes(self.mask).rotate_right(8 * (take as u32 & 3));
            self.mask = m.to_le_bytes();
        }
        self.remaining -= take as u64;
        let frame_done = self.remaining == 0;
        let last = frame_done && self.fin;
        if kind == DataKind::Text && !self.msg_compressed {
            let bad = self.utf8.feed(chunk).is_err() || (last && self.utf8.finish().is_err());
            if bad {
                return Err(ProtocolError::new(
                    CloseCode::INVALID_PAYLOAD,
                    "invalid UTF-8 in text",
                ));
            }
        }
        let first = self.msg_first;
        self.msg_first = false;
        if frame_done {
            self.state = State::Header;
        }
        if last {
            self.msg = None;
        }
        Ok((
            take,
            Some(FrameEvent::Data {
                kind,
                data: chunk,
                first,
                last,
                fin: self.fin,
                remaining: self.remaining,
                compressed: self.msg_compressed,
            }),
        ))
    }

    fn control<'s: 'c, 'd: 'c, 'c>(
        &'s mut self,
        buf: &'d mut [u8],
    ) -> Result<(usize, Option<FrameEvent<'d, 'c>>), ProtocolError> {
        let len = self.remaining as usize;
        let payload: &'c mut [u8];
        let used;
        if self.ctrl.as_ref().is_none_or(|c| c.0.is_empty()) && buf.len() >= len {
            // Whole control frame in the buffer: no copy.
            used = len;
            payload = &mut buf[..len];
        } else {
            let c = &mut self.ctrl.get_or_insert_with(Box::default).0;
            let want = len - c.len();
            let take = want.min(buf.len());
            c.extend_from_slice(&buf[..take]);
            if take < want {
                return Ok((take, None));
            }
            used = take;
            payload = &mut c[..];
        }
        if self.role == Role::Server {
            apply_mask(payload, self.mask, 0);
        }
        self.remaining = 0;
        self.state = State::Header;
        let ev = match self.opcode {
            OpCode::Ping => FrameEvent::Ping(payload),
            OpCode::Pong => FrameEvent::Pong(payload),
            _ => {
                self.state = State::Closed;
                match payload.len() {
                    0 => FrameEvent::Close {
                        code: None,
                        reason: "",
                    },
                    1 => return Err(ProtocolError::new(PROTO, "close frame with 1-byte payload")),
                    _ => {
                        let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                        if !code.is_valid_on_wire() {
                            return Err(ProtocolError::new(PROTO, "invalid close code"));
                        }
                        let reason = std::str::from_utf8(&payload[2..]).map_err(|_| {
                            ProtocolError::new(
                                CloseCode::INVALID_PAYLOAD,
                                "invalid UTF-8 in close reason",
                            )
                        })?;
                        FrameEvent::Close {
                            code: Some(code),
                            reason,
                        }
                    }
                }
            }
        };
        Ok((used, Some(ev)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_frame;

    const KEY: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

    #[derive(Debug, PartialEq)]
    enum Ev {
        Data(DataKind, Vec<u8>, bool, bool),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
    }

    /// Feeds `input` in chunks of `step` bytes and collects events.
    fn run(rx: &mut Receiver, input: &[u8], step: usize) -> Result<Vec<Ev>, ProtocolError> {
        let mut out = Vec::new();
        let mut data = input.to_vec();
        let mut start = 0;
        while start < data.len() {
            let end = (start + step).min(data.len());
            let mut pos = start;
            loop {
                let (n, ev) = rx.next(&mut data[pos..end])?;
                pos += n;
                match ev {
                    None if n == 0 => break,
                    None => {}
                    Some(FrameEvent::Data {
                        kind,
                        data,
                        first,
                        last,
                        ..
                    }) => out.push(Ev::Data(kind, data.to_vec(), first, last)),
                    Some(FrameEvent::Ping(p)) => out.push(Ev::Ping(p.to_vec())),
                    Some(FrameEvent::Pong(p)) => out.push(Ev::Pong(p.to_vec())),
                    Some(FrameEvent::Close { code, reason }) => {
                        out.push(Ev::Close(code.map(|c| c.0), reason.to_string()))
                    }
                }
            }
            start = end;
        }
        Ok(out)
    }

    fn frame(op: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_frame(&mut v, op, fin, false, payload, Some(KEY));
        v
    }

    fn merged(events: Vec<Ev>) -> Vec<Ev> {
        // Joins data pieces into whole messages for comparison.
        let mut out: Vec<Ev> = Vec::new();
        for e in events {
            match (out.last_mut(), e) {
                (Some(Ev::Data(_, buf, _, last @ false)), Ev::Data(_, more, _, l)) => {
                    buf.extend_from_slice(&more);
                    *last = l;
                }
                (_, e) => out.push(e),
            }
        }
        out
    }

    #[test]
    fn all_lengths_every_split() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let input = frame(OpCode::Binary, true, &payload);
            for step in [1usize, 2, 3, 7, 13, 4096, usize::MAX] {
                if len > 1000 && step < 1000 {
                    continue;
                }
                let mut rx = Receiver::new(
                    Role::Server,
                    Limits {
                        max_frame: 1 << 20,
                        max_message: 1 << 20,
                    },
                );
                let ev = merged(run(&mut rx, &input, step).unwrap());
                assert_eq!(
                    ev,
                    vec![Ev::Data(DataKind::Binary, payload.clone(), true, true)],
                    "len {len} step {step}"
                );
            }
        }
    }

    #[test]
    fn fragments_with_interleaved_control() {
        let mut input = frame(OpCode::Text, false, b"Hel");
        input.extend(frame(OpCode::Ping, true, b"p"));
        input.extend(frame(OpCode::Continuation, false, b"lo "));
        input.extend(frame(OpCode::Pong, true, b""));
        input.extend(frame(OpCode::Continuation, true, "wörld".as_bytes()));
        input.extend(frame(OpCode::Close, true, &[0x03, 0xE8, b'o', b'k']));
        for step in [1, 5, 1000] {
            let mut rx = Receiver::new(Role::Server, Limits::default());
            let ev = run(&mut rx, &input, step).unwrap();
            let ev = merged(ev);
            assert_eq!(
                ev,
                vec![
                    Ev::Data(DataKind::Text, b"Hel".to_vec(), true, false),
                    Ev::Ping(b"p".to_vec()),
                    Ev::Data(DataKind::Text, b"lo ".to_vec(), false, false),
                    Ev::Pong(vec![]),
                    Ev::Data(DataKind::Text, "wörld".as_bytes().to_vec(), false, true),
                    Ev::Close(Some(1000), "ok".into()),
                ],
                "step {step}"
            );
            assert!(rx.is_closed());
        }
    }

    fn err_of(input: &[u8], role: Role) -> u16 {
        let mut rx = Receiver::new(
            role,
            Limits {
                max_frame: 1000,
                max_message: 1500,
            },
        );
        run(&mut rx, input, 1).expect_err("should fail").code.0
    }

    #[test]
    fn protocol_errors_have_right_codes() {
        let mut unmasked = Vec::new();
        encode_frame(&mut unmasked, OpCode::Text, true, false, b"hi", None);
        assert_eq!(err_of(&unmasked, Role::Server), 1002);
        assert_eq!(
            err_of(&frame(OpCode::Text, true, b"hi"), Role::Client),
            1002
        );
        let mut rsv2 = frame(OpCode::Text, true, b"hi");
        rsv2[0] |= 0x20;
        assert_eq!(err_of(&rsv2, Role::Server), 1002);
        let mut rsv1 = frame(OpCode::Text, true, b"hi");
        rsv1[0] |= 0x40;
        assert_eq!(err_of(&rsv1, Role::Server), 1002);
        let mut op3 = frame(OpCode::Binary, true, b"hi");
        op3[0] = 0x83;
        assert_eq!(err_of(&op3, Role::Server), 1002);
        let mut opb = frame(OpCode::Ping, true, b"hi");
        opb[0] = 0x8B;
        assert_eq!(err_of(&opb, Role::Server), 1002);
        assert_eq!(
            err_of(&frame(OpCode::Ping, false, b"x"), Role::Server),
            1002
        );
        assert_eq!(
            err_of(&frame(OpCode::Ping, true, &[0; 126]), Role::Server),
            1002
        );
        assert_eq!(
            err_of(&frame(OpCode::Continuation, true, b"x"), Role::Server),
            1002
        );
        let mut two = frame(OpCode::Text, false, b"a");
        two.extend(frame(OpCode::Text, true, b"b"));
        assert_eq!(err_of(&two, Role::Server), 1002);
        assert_eq!(
            err_of(&frame(OpCode::Text, true, &[0xC0, 0xAF]), Role::Server),
            1007
        );
        assert_eq!(
            err_of(&frame(OpCode::Close, true, &[0x03, 0xE7]), Role::Server),
            1002
        );
        assert_eq!(
            err_of(&frame(OpCode::Close, true, &[0x03]), Role::Server),
            1002
        );
        assert_eq!(
            err_of(
                &frame(OpCode::Close, true, &[0x03, 0xE8, 0xFF]),
                Role::Server
            ),
            1007
        );
        assert_eq!(
            err_of(&frame(OpCode::Binary, true, &[0; 1001]), Role::Server),
            1009
        );
        let mut big = frame(OpCode::Binary, false, &[0; 800]);
        big.extend(frame(OpCode::Continuation, true, &[0; 800]));
        assert_eq!(err_of(&big, Role::Server), 1009);
        let mut after = frame(OpCode::Close, true, &[]);
        after.extend(frame(OpCode::Text, true, b"x"));
        assert_eq!(err_of(&after, Role::Server), 1002);
    }

    #[test]
    fn huge_length_refused_from_header_alone() {
        // 17 MiB declared, header only: refused before any payload arrives.
        let mut hdr = [0u8; 14];
        let n =
            crate::frame::encode_header(&mut hdr, OpCode::Binary, true, false, 17 << 20, Some(KEY));
        let mut rx = Receiver::new(Role::Server, Limits::default());
        let mut h = hdr[..n].to_vec();
        assert_eq!(rx.next(&mut h).unwrap_err().code, CloseCode::TOO_BIG);
        // A length with the top bit set is a protocol error.
        let mut bad = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
        let mut rx = Receiver::new(Role::Server, Limits::default());
        assert_eq!(
            rx.next(&mut bad).unwrap_err().code,
            CloseCode::PROTOCOL_ERROR
        );
    }

    #[test]
    fn bad_utf8_fails_fast_before_message_end() {
        // First fragment already holds an impossible sequence.
        let input = frame(OpCode::Text, false, &[0x61, 0xED, 0xA0, 0x80]);
        let mut rx = Receiver::new(Role::Server, Limits::default());
        assert_eq!(run(&mut rx, &input, 100).unwrap_err().code.0, 1007);
        // Message ending inside a code point.
        let input = frame(OpCode::Text, true, &[0x61, 0xE2, 0x82]);
        let mut rx = Receiver::new(Role::Server, Limits::default());
        assert_eq!(run(&mut rx, &input, 100).unwrap_err().code.0, 1007);
    }

    #[test]
    fn empty_messages_and_frames() {
        let mut input = frame(OpCode::Text, true, b"");
        input.extend(frame(OpCode::Binary, false, b""));
        input.extend(frame(OpCode::Continuation, true, b""));
        let mut rx = Receiver::new(Role::Server, Limits::default());
        let ev = run(&mut rx, &input, 1000).unwrap();
        assert_eq!(
            ev,
            vec![
                Ev::Data(DataKind::Text, vec![], true, true),
                Ev::Data(DataKind::Binary, vec![], true, false),
                Ev::Data(DataKind::Binary, vec![], false, true),
            ]
        );
    }
}
