//! A thin check in front of the HTTP/2 server for client frames RFC 9113
//! names a precise error code for, where the h2 crate answers with a less
//! precise one (`PROTOCOL_ERROR`):
//!
//! * PING, RST_STREAM or WINDOW_UPDATE of the wrong length, SETTINGS whose
//!   length is not a multiple of 6, a SETTINGS ACK with a payload:
//!   `FRAME_SIZE_ERROR` (§6.7, §6.4, §6.9, §6.5);
//! * SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1: `FLOW_CONTROL_ERROR` (§6.5.2);
//! * DATA on a stream the client already ended: `STREAM_CLOSED` (§5.1,
//!   sent as a connection error, which §5.4.1 allows).
//!
//! The guard follows frame boundaries in both directions. A frame that
//! breaks one of these rules is not passed on: the guard sends GOAWAY with
//! the right code (between two of the server's frames, never inside one),
//! then ends the connection. Everything else passes through unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE_LEN: usize = 24;
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY_FLAG: u8 = 0x20;
const COMPRESSION_ERROR: u32 = 0x9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const FLOW_CONTROL_ERROR: u32 = 0x3;
const STREAM_CLOSED: u32 = 0x5;
const FRAME_SIZE_ERROR: u32 = 0x6;
/// SETTINGS frames longer than this are left to h2 (it refuses frames
/// above its maximum frame size itself).
const MAX_SETTINGS_INSPECTED: usize = 16 * 1024;
/// How many streams the client ended are remembered for the DATA check.
const ENDED_REMEMBERED: usize = 128;

/// Inbound parsing: where the reader is in the client's byte stream.
enum In {
    Preface(usize),
    /// Collecting a frame header.
    Header,
    /// Passing a frame's payload through: bytes left.
    Payload(usize),
}

pub(crate) struct H2Guard<I> {
    io: I,
    /// Bytes read from the client, not yet handed to h2: `buf[pos..end]`;
    /// `buf[pos..ok]` is checked and may be handed on.
    buf: Vec<u8>,
    pos: usize,
    ok: usize,
    end: usize,
    state: In,
    /// Bytes from `ok` that must be in the buffer before checking goes on
    /// (a SETTINGS frame is checked whole).
    need: usize,
    /// Streams the client sent END_STREAM on, most recent last.
    ended: std::collections::VecDeque<u32>,
    last_stream: u32,
    hpack: Hpack,
    /// Outbound: bytes left of the server frame being written (header
    /// bytes collected in `out_hdr`).
    out_hdr: [u8; 9],
    out_hdr_len: usize,
    out_left: usize,
    /// The GOAWAY to send, and how much of it is written.
    goaway: Option<(Vec<u8>, usize)>,
}

impl<I> H2Guard<I> {
    pub(crate) fn new(io: I) -> Self {
        H2Guard {
            io,
            buf: Vec::new(),
            pos: 0,
            ok: 0,
            end: 0,
            state: In::Preface(PREFACE_LEN),
            need: 0,
            ended: std::collections::VecDeque::new(),
            last_stream: 0,
            hpack: Hpack::default(),
            out_hdr: [0; 9],
            out_hdr_len: 0,
            out_left: 0,
            goaway: None,
        }
    }

    /// Checks what has arrived; moves `ok` forward over what may pass and
    /// sets `goaway` when a frame breaks a rule.
    fn check(&mut self) {
        while self.goaway.is_none() && self.ok < self.end {
            match self.state {
                In::Preface(left) => {
                    let n = left.min(self.end - self.ok);
                    self.ok += n;
                    self.state = if n == left {
                        In::Header
                    } else {
                        In::Preface(left - n)
                    };
                }
                In::Payload(left) => {
                    let n = left.min(self.end - self.ok);
                    self.ok += n;
                    self.state = if n == left {
                        In::Header
                    } else {
                        In::Payload(left - n)
                    };
                }
                In::Header => {
                    let have = self.end - self.ok;
                    self.need = 9;
                    if have < 9 {
                        return;
                    }
                    let h = &self.buf[self.ok..self.ok + 9];
                    let len =
                        (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                    let (ty, flags) = (h[3], h[4]);
                    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7FFF_FFFF;
                    let code = match ty {
                        PING if len != 8 => Some(FRAME_SIZE_ERROR),
                        RST_STREAM | WINDOW_UPDATE if len != 4 => Some(FRAME_SIZE_ERROR),
                        SETTINGS if flags & ACK != 0 && len != 0 => Some(FRAME_SIZE_ERROR),
                        SETTINGS if len % 6 != 0 => Some(FRAME_SIZE_ERROR),
                        DATA if stream != 0 && self.ended.contains(&stream) => Some(STREAM_CLOSED),
                        _ => None,
                    };
                    if let Some(code) = code {
                        self.fail(code);
                        return;
                    }
                    if ty == SETTINGS && len <= MAX_SETTINGS_INSPECTED {
                        // Whole frame needed before any of it passes.
                        if have < 9 + len {
                            self.need = 9 + len;
                            return;
                        }
                        let payload = &self.buf[self.ok + 9..self.ok + 9 + len];
                        let too_big = payload.chunks_exact(6).any(|s| {
                            u16::from_be_bytes([s[0], s[1]]) == 0x4
                                && u32::from_be_bytes([s[2], s[3], s[4], s[5]]) > 0x7FFF_FFFF
                        });
                        if too_big {
                            self.fail(FLOW_CONTROL_ERROR);
                            return;
                        }
                    }
                    if (ty == HEADERS || ty == CONTINUATION) && len <= MAX_SETTINGS_INSPECTED {
                        if have < 9 + len {
                            self.need = 9 + len;
                            return;
                        }
                        let end_headers = flags & END_HEADERS != 0;
                        let payload = &self.buf[self.ok + 9..self.ok + 9 + len];
                        let fragment = if ty == HEADERS {
                            headers_fragment(flags, payload)
                        } else {
                            Some(payload)
                        };
                        if let Some(bad) = self.hpack.frame(ty == HEADERS, fragment, end_headers) {
                            tracing::debug!(bad, "HPACK error");
                            self.fail(COMPRESSION_ERROR);
                            return;
                        }
                    }
                    if ty == HEADERS && stream > self.last_stream {
                        self.last_stream = stream;
                    }
                    if (ty == HEADERS || ty == DATA) && flags & END_STREAM != 0 && stream != 0 {
                        if self.ended.len() == ENDED_REMEMBERED {
                            self.ended.pop_front();
                        }
                        self.ended.push_back(stream);
                    }
                    self.ok += 9;
                    self.state = In::Payload(len);
                }
            }
        }
    }

    fn fail(&mut self, code: u32) {
        tracing::debug!(code, "h2 frame refused before the h2 layer");
        let mut f = Vec::with_capacity(17);
        f.extend_from_slice(&[0, 0, 8, 0x7, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&self.last_stream.to_be_bytes());
        f.extend_from_slice(&code.to_be_bytes());
        self.goaway = Some((f, 0));
    }

    /// Follows the server's frames through `written` bytes.
    fn track_out(&mut self, mut written: &[u8]) {
        while !written.is_empty() {
            if self.out_left > 0 {
                let n = self.out_left.min(written.len());
                self.out_left -= n;
                written = &written[n..];
                continue;
            }
            let n = (9 - self.out_hdr_len).min(written.len());
            self.out_hdr[self.out_hdr_len..self.out_hdr_len + n].copy_from_slice(&written[..n]);
            self.out_hdr_len += n;
            written = &written[n..];
            if self.out_hdr_len == 9 {
                let h = self.out_hdr;
                self.out_left =
                    (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                self.out_hdr_len = 0;
            }
        }
    }

    fn at_boundary(&self) -> bool {
        self.out_left == 0 && self.out_hdr_len == 0
    }

    /// With a GOAWAY waiting, writes stop at the end of the server's
    /// current frame so it can go out between frames.
    fn write_cap(&self, len: usize) -> usize {
        if self.goaway.is_none() {
            len
        } else if self.out_hdr_len > 0 {
            len.min(9 - self.out_hdr_len)
        } else {
            len.min(self.out_left)
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> H2Guard<I> {
    /// Writes the pending GOAWAY (only between server frames); ready when
    /// it is all out.
    fn poll_goaway(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.at_boundary() {
            // The server is inside a frame: h2 finishes it through
            // poll_write first.
            return Poll::Pending;
        }
        let Some((f, done)) = self.goaway.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while *done < f.len() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &f[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for H2Guard<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ok > this.pos {
                let n = (this.ok - this.pos).min(out.remaining());
                out.put_slice(&this.buf[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.goaway.is_some() {
                // Everything before the bad frame is handed on; now the
                // GOAWAY, then the end of the connection for h2.
                std::task::ready!(this.poll_goaway(cx))?;
                return Poll::Ready(Ok(()));
            }
            // Keep the unchecked rest at the front and read more after it.
            if this.pos > 0 {
                this.buf.copy_within(this.pos..this.end, 0);
                this.end -= this.pos;
                this.ok -= this.pos;
                this.pos = 0;
            }
            let want = (this.end + 8 * 1024).max(this.ok + this.need);
            if this.buf.len() < want {
                this.buf.resize(want, 0);
            }
            let mut rb = ReadBuf::new(&mut this.buf[this.end..]);
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                // End of the client's stream: hand on what is left as is.
                this.ok = this.end;
                if this.ok == this.pos {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.end += n;
            this.check();
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncWrite for H2Guard<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.goaway.is_some() && this.at_boundary() {
            // The connection is being ended with our GOAWAY: h2 writes no more.
            std::task::ready!(this.poll_goaway(cx))?;
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let buf = &buf[..this.write_cap(buf.len())];
        let n = std::task::ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.track_out(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.goaway.is_some() && this.at_boundary() {
            std::task::ready!(this.poll_goaway(cx))?;
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if this.goaway.is_some() {
            // Finishing the current frame: one capped plain write.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            let first = &first[..this.write_cap(first.len())];
            let n = std::task::ready!(Pin::new(&mut this.io).poll_write(cx, first))?;
            this.track_out(&first[..n]);
            return Poll::Ready(Ok(n));
        }
        let n = std::task::ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let mut left = n;
        for b in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(b.len());
            this.track_out(&b[..take]);
            left -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.goaway.is_some() {
            std::task::ready!(this.poll_goaway(cx))?;
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Runs the client-side checks over `data` as if it arrived from a client in
/// pieces of `step` bytes (for the fuzz target); returns the GOAWAY code
/// the guard would send, if any.
#[cfg(any(test, fuzzing))]
pub fn check_client_bytes(data: &[u8], step: usize) -> Option<u32> {
    let mut g = H2Guard::new(());
    for piece in data.chunks(step.max(1)) {
        g.buf.extend_from_slice(piece);
        g.end = g.buf.len();
        g.check();
        if let Some((f, _)) = &g.goaway {
            return Some(u32::from_be_bytes([f[13], f[14], f[15], f[16]]));
        }
        // What was checked is handed on, as to h2.
        g.pos = g.ok;
    }
    None
}

/// The field block fragment of a HEADERS payload (without padding and
/// priority); `None` when the padding does not fit (h2 reports that).
fn headers_fragment(flags: u8, payload: &[u8]) -> Option<&[u8]> {
    let mut p = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*p.first()?);
        p = &p[1..];
    }
    if flags & PRIORITY_FLAG != 0 {
        p = p.get(5..)?;
    }
    p.get(..p.len().checked_sub(pad)?)
}

/// Entries in the HPACK static table (RFC 7541 Appendix A).
const STATIC_ENTRIES: u64 = 61;
/// SETTINGS_HEADER_TABLE_SIZE the server announces (the default).
const TABLE_SIZE: u64 = 4096;
/// The longest name in the static table (`access-control-allow-origin`).
const LONGEST_STATIC_NAME: u64 = 27;
/// Field blocks longer than this are left to h2 (its header list limit).
const MAX_BLOCK_INSPECTED: usize = 64 * 1024;

/// The structure of the client's field blocks (RFC 7541), read without
/// decoding them: integers, string lengths against the block's end, table
/// size updates against the announced size, and indices against the tables
/// while the number of dynamic entries is known for sure (no eviction can
/// have happened: every entry's largest possible size still fits).
#[derive(Default)]
struct Hpack {
    block: Vec<u8>,
    /// Inside a block (HEADERS without END_HEADERS seen).
    open: bool,
    /// The block grew past what is inspected: wait for its end.
    skipping: bool,
    /// Dynamic entries, while known; `None` once evictions may have happened.
    entries: Option<u64>,
    /// Largest possible total size of those entries.
    upper: u64,
    started: bool,
}

impl Hpack {
    /// A HEADERS (`first`) or CONTINUATION fragment; returns what was
    /// wrong when the block breaks RFC 7541.
    fn frame(&mut self, first: bool, fragment: Option<&[u8]>, end: bool) -> Option<&'static str> {
        if !self.started {
            self.started = true;
            self.entries = Some(0);
        }
        if first {
            self.block.clear();
            self.skipping = false;
            self.open = true;
        } else if !self.open {
            return None; // CONTINUATION out of place: h2 refuses it
        }
        match fragment {
            Some(f) if !self.skipping && self.block.len() + f.len() <= MAX_BLOCK_INSPECTED => {
                self.block.extend_from_slice(f)
            }
            _ => {
                self.skipping = true;
                self.block = Vec::new();
            }
        }
        if !end {
            return None;
        }
        self.open = false;
        if self.skipping {
            // Not read: what it did to the dynamic table is unknown.
            self.entries = None;
            return None;
        }
        let block = std::mem::take(&mut self.block);
        let r = self.read_block(&block);
        self.block = block;
        r.err()
    }

    fn read_block(&mut self, b: &[u8]) -> Result<(), &'static str> {
        let mut i = 0;
        let mut fields = false;
        while i < b.len() {
            let c = b[i];
            if c & 0x80 != 0 {
                let idx = int(b, &mut i, 7)?;
                self.check_index(idx)?;
                fields = true;
            } else if c & 0xC0 == 0x40 {
                let idx = int(b, &mut i, 6)?;
                let name_upper = if idx == 0 {
                    string(b, &mut i)?
                } else {
                    self.check_index(idx)?;
                    if idx <= STATIC_ENTRIES {
                        LONGEST_STATIC_NAME
                    } else {
                        TABLE_SIZE
                    }
                };
                let value_upper = string(b, &mut i)?;
                self.insert(32 + name_upper + value_upper);
                fields = true;
            } else if c & 0xE0 == 0x20 {
                if fields {
                    return Err("table size update after a field");
                }
                let size = int(b, &mut i, 5)?;
                if size > TABLE_SIZE {
                    return Err("table size update above SETTINGS_HEADER_TABLE_SIZE");
                }
                if size < self.upper {
                    self.entries = None; // entries may have been evicted
                }
            } else {
                let idx = int(b, &mut i, 4)?;
                if idx == 0 {
                    string(b, &mut i)?;
                } else {
                    self.check_index(idx)?;
                }
                string(b, &mut i)?;
                fields = true;
            }
        }
        Ok(())
    }

    fn check_index(&self, idx: u64) -> Result<(), &'static str> {
        if idx == 0 {
            return Err("index 0");
        }
        match self.entries {
            Some(n) if idx > STATIC_ENTRIES + n => Err("index beyond the tables"),
            _ => Ok(()),
        }
    }

    fn insert(&mut self, upper: u64) {
        self.upper = self.upper.saturating_add(upper);
        if self.upper > TABLE_SIZE {
            self.entries = None;
        } else if let Some(n) = self.entries.as_mut() {
            *n += 1;
        }
    }
}

/// An HPACK integer with an `n`-bit prefix at `b[*i]` (RFC 7541 §5.1).
fn int(b: &[u8], i: &mut usize, n: u32) -> Result<u64, &'static str> {
    let limit = (1u64 << n) - 1;
    let mut v = u64::from(*b.get(*i).ok_or("truncated integer")?) & limit;
    *i += 1;
    if v < limit {
        return Ok(v);
    }
    let mut shift = 0;
    loop {
        let c = *b.get(*i).ok_or("truncated integer")?;
        *i += 1;
        if shift > 28 {
            return Err("integer too large");
        }
        v += u64::from(c & 0x7F) << shift;
        shift += 7;
        if c & 0x80 == 0 {
            return Ok(v);
        }
    }
}

/// Skips a string literal; returns the largest length it can decode to.
fn string(b: &[u8], i: &mut usize) -> Result<u64, &'static str> {
    let huffman = b.get(*i).ok_or("truncated string")? & 0x80 != 0;
    let len = int(b, i, 7)?;
    let end = (*i as u64)
        .checked_add(len)
        .filter(|&e| e <= b.len() as u64)
        .ok_or("string longer than the block")?;
    *i = end as usize;
    // Huffman codes are at least 5 bits long.
    Ok(if huffman { len * 8 / 5 } else { len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[ty, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    /// Sends `bad` after a good start; returns what the h2 side read and
    /// the GOAWAY code the client got.
    async fn refused(bad: Vec<u8>) -> (Vec<u8>, u32) {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = H2Guard::new(server);
        let mut good = PREFACE.to_vec();
        good.extend(frame(SETTINGS, 0, 0, &[]));
        good.extend(frame(HEADERS, END_STREAM | 0x4, 1, b"\x82"));
        let mut all = good.clone();
        all.extend(bad);
        all.extend(frame(PING, 0, 0, &[0; 8])); // never reaches h2
        client.write_all(&all).await.unwrap();
        let mut seen = Vec::new();
        let mut tmp = [0u8; 7]; // small reads: the guard hands on in pieces
        loop {
            let n = guard.read(&mut tmp).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&tmp[..n]);
        }
        assert_eq!(seen, good);
        let mut goaway = [0u8; 17];
        client.read_exact(&mut goaway).await.unwrap();
        assert_eq!(&goaway[..9], &[0, 0, 8, 0x7, 0, 0, 0, 0, 0]);
        assert_eq!(u32::from_be_bytes(goaway[9..13].try_into().unwrap()), 1);
        (seen, u32::from_be_bytes(goaway[13..].try_into().unwrap()))
    }

    #[tokio::test]
    async fn bad_frames_get_their_rfc_error_codes() {
        let mut big_window = vec![0, 4];
        big_window.extend_from_slice(&0x8000_0000u32.to_be_bytes());
        for (bad, code) in [
            (frame(PING, 0, 0, &[0; 9]), FRAME_SIZE_ERROR),
            (frame(RST_STREAM, 0, 1, &[0; 3]), FRAME_SIZE_ERROR),
            (frame(WINDOW_UPDATE, 0, 0, &[0; 3]), FRAME_SIZE_ERROR),
            (frame(SETTINGS, 0, 0, &[0; 7]), FRAME_SIZE_ERROR),
            (frame(SETTINGS, ACK, 0, &[0; 6]), FRAME_SIZE_ERROR),
            (frame(SETTINGS, 0, 0, &big_window), FLOW_CONTROL_ERROR),
            (frame(DATA, 0, 1, b"x"), STREAM_CLOSED),
            // HPACK: index 62 with an empty dynamic table, a table size
            // update above 4096, a string running past the block.
            (frame(HEADERS, END_HEADERS, 3, b"\xbe"), COMPRESSION_ERROR),
            (
                frame(HEADERS, END_HEADERS, 3, b"\x3f\xe1\x3f\x82"),
                COMPRESSION_ERROR,
            ),
            (
                frame(HEADERS, END_HEADERS, 3, b"\x00\x05ab"),
                COMPRESSION_ERROR,
            ),
            (
                frame(HEADERS, END_HEADERS | PADDED, 3, b"\x02\x82\xbf\x00\x00"),
                COMPRESSION_ERROR,
            ),
        ] {
            let (_, got) = refused(bad.clone()).await;
            assert_eq!(got, code, "{bad:02x?}");
        }
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_bytes_arrive() {
        let mut s = PREFACE.to_vec();
        s.extend(frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xFF, 0xFF]));
        s.extend(frame(HEADERS, 0, 1, b"\x82\x40\x03x-a"));
        s.extend(frame(CONTINUATION, END_HEADERS, 1, b"\x011\xbe"));
        s.extend(frame(DATA, END_STREAM, 1, &[5; 40]));
        let good = s.clone();
        s.extend(frame(HEADERS, END_HEADERS, 3, b"\xbf"));
        for step in 1..=good.len() + 1 {
            assert_eq!(check_client_bytes(&good, step), None, "step {step}");
            assert_eq!(
                check_client_bytes(&s, step),
                Some(COMPRESSION_ERROR),
                "step {step}"
            );
        }
    }

    #[test]
    fn hpack_blocks_that_are_well_formed_pass() {
        let mut h = Hpack::default();
        // A new entry (literal with incremental indexing), then a block
        // naming it by index 62, split over HEADERS and CONTINUATION.
        assert_eq!(h.frame(true, Some(b"\x82\x40\x03x-a\x011"), true), None);
        assert_eq!(h.frame(true, Some(b"\x82"), false), None);
        assert_eq!(h.frame(false, Some(b"\xbe\x84"), true), None);
        // Index 63 does not exist yet.
        assert_eq!(
            h.frame(true, Some(b"\xbf"), true),
            Some("index beyond the tables")
        );
        // Size update at the start, Huffman strings, never-indexed literals.
        let mut h = Hpack::default();
        assert_eq!(
            h.frame(
                true,
                Some(b"\x20\x3f\xe1\x1f\x10\x83\xaa\xbb\xcc\x81\x9f"),
                true
            ),
            None
        );
        assert_eq!(
            h.frame(true, Some(b"\x82\x20"), true),
            Some("table size update after a field")
        );
        assert_eq!(
            h.frame(true, Some(b"\xff"), true),
            Some("truncated integer")
        );
        assert_eq!(h.frame(true, Some(b"\x80"), true), Some("index 0"));
        // Padding that does not fit is left to h2.
        assert_eq!(headers_fragment(PADDED, b"\x05ab"), None);
        assert_eq!(
            headers_fragment(PADDED | PRIORITY_FLAG, b"\x01\0\0\0\x01\x10\x82\0"),
            Some(&b"\x82"[..])
        );
    }

    #[tokio::test]
    async fn good_frames_pass_unchanged_and_goaway_waits_for_a_frame_boundary() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut guard = H2Guard::new(server);
        let mut window = vec![0, 4];
        window.extend_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
        let mut good = PREFACE.to_vec();
        good.extend(frame(SETTINGS, 0, 0, &window));
        good.extend(frame(HEADERS, 0x4, 1, b"\x82"));
        good.extend(frame(DATA, END_STREAM, 1, &[7; 3000]));
        good.extend(frame(PING, 0, 0, &[1; 8]));
        client.write_all(&good).await.unwrap();
        let mut seen = vec![0u8; good.len()];
        guard.read_exact(&mut seen).await.unwrap();
        assert_eq!(seen, good);
        // The server is halfway through a frame when a bad one arrives.
        let reply = frame(DATA, 0, 1, &[9; 100]);
        guard.write_all(&reply[..50]).await.unwrap();
        client.write_all(&frame(DATA, 0, 1, b"late")).await.unwrap();
        // h2 reads: the guard finds the DATA on the ended stream, and holds
        // the end of the connection back while the server is inside a frame.
        let mut tmp = [0u8; 16];
        let r =
            tokio::time::timeout(std::time::Duration::from_millis(50), guard.read(&mut tmp)).await;
        assert!(r.is_err(), "no end of stream yet: {r:?}");
        // h2 sees the end of the connection only after the GOAWAY is out,
        // and the GOAWAY only goes out after the frame: finish it (and try
        // to start another, which the guard cuts at the boundary).
        let mut rest = reply[50..].to_vec();
        rest.extend(frame(PING, ACK, 0, &[1; 8]));
        let mut off = 0;
        let err = loop {
            match guard.write(&rest[off..]).await {
                Ok(n) => off += n,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(off, reply.len() - 50, "stopped at the end of the frame");
        let mut got = vec![0u8; 100 + 9 + 17];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..109], &reply[..]);
        assert_eq!(&got[109..118], &[0, 0, 8, 0x7, 0, 0, 0, 0, 0]);
        assert_eq!(
            u32::from_be_bytes(got[122..126].try_into().unwrap()),
            STREAM_CLOSED
        );
        assert_eq!(guard.read(&mut tmp).await.unwrap(), 0);
    }
}
