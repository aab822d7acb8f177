//! Frame header encoding (RFC 6455 §5.2).

use crate::mask::apply_mask;

/// Which end of the connection this engine is.
///
/// A server receives masked frames and sends unmasked ones; a client the
/// reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The accepting end.
    Server,
    /// The connecting end.
    Client,
}

/// Frame opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum OpCode {
    /// 0x0: continuation of a fragmented message.
    Continuation = 0x0,
    /// 0x1: text message.
    Text = 0x1,
    /// 0x2: binary message.
    Binary = 0x2,
    /// 0x8: close.
    Close = 0x8,
    /// 0x9: ping.
    Ping = 0x9,
    /// 0xA: pong.
    Pong = 0xA,
}

impl OpCode {
    /// Parses a 4-bit opcode; reserved opcodes give `None`.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong are control frames.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// The largest possible frame header: 2 + 8 (length) + 4 (mask) bytes.
pub const MAX_HEADER: usize = 14;

/// Encodes a frame header into `out` and returns its length.
///
/// `rsv1` is the per-message-compressed bit of permessage-deflate.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER],
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    len: u64,
    mask: Option<[u8; 4]>,
) -> usize {
    out[0] = (opcode as u8) | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 };
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    let mut n = if len < 126 {
        out[1] = mbit | len as u8;
        2
    } else if len <= 0xFFFF {
        out[1] = mbit | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = mbit | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    if let Some(m) = mask {
        out[n..n + 4].copy_from_slice(&m);
        n += 4;
    }
    n
}

/// Appends a whole frame (header and payload, masked when `mask` is given) to `out`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    if mask.is_none() && payload.len() < 126 {
        // The common small server frame: a two-byte header, stored whole.
        let b0 = (opcode as u8) | if fin { 0x80 } else { 0 } | if rsv1 { 0x40 } else { 0 };
        out.reserve(2 + payload.len());
        out.extend_from_slice(&[b0, payload.len() as u8]);
        out.extend_from_slice(payload);
        return;
    }
    let mut hdr = [0u8; MAX_HEADER];
    let n = encode_header(&mut hdr, opcode, fin, rsv1, payload.len() as u64, mask);
    out.reserve(n + payload.len());
    out.extend_from_slice(&hdr[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m, 0);
    }
}

/// Appends a close frame with `code` and `reason` (the reason is cut to fit
/// the 125-byte control frame limit at a character boundary).
pub fn encode_close(out: &mut Vec<u8>, code: Option<u16>, reason: &str, mask: Option<[u8; 4]>) {
    let mut payload = [0u8; 125];
    let len = match code {
        None => 0,
        Some(c) => {
            payload[..2].copy_from_slice(&c.to_be_bytes());
            let mut r = reason.len().min(123);
            while !reason.is_char_boundary(r) {
                r -= 1;
            }
            payload[2..2 + r].copy_from_slice(&reason.as_bytes()[..r]);
            2 + r
        }
    };
    encode_frame(out, OpCode::Close, true, false, &payload[..len], mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_its_header_then_its_payload() {
        for len in [0usize, 1, 20, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for (fin, rsv1, mask) in [
                (true, false, None),
                (false, true, None),
                (true, true, Some([1, 2, 3, 4])),
            ] {
                let mut got = vec![9u8];
                encode_frame(&mut got, OpCode::Text, fin, rsv1, &payload, mask);
                let mut h = [0u8; MAX_HEADER];
                let n = encode_header(&mut h, OpCode::Text, fin, rsv1, len as u64, mask);
                let mut want = vec![9u8];
                want.extend_from_slice(&h[..n]);
                let mut body = payload.clone();
                if let Some(m) = mask {
                    crate::mask::apply_mask_bytewise(&mut body, m, 0);
                }
                want.extend_from_slice(&body);
                assert_eq!(
                    got, want,
                    "len {len}, fin {fin}, rsv1 {rsv1}, mask {mask:?}"
                );
            }
        }
    }

    #[test]
    fn header_lengths() {
        let mut h = [0u8; MAX_HEADER];
        assert_eq!(encode_header(&mut h, OpCode::Text, true, false, 5, None), 2);
        assert_eq!(&h[..2], &[0x81, 5]);
        assert_eq!(
            encode_header(&mut h, OpCode::Binary, false, false, 126, None),
            4
        );
        assert_eq!(&h[..4], &[0x02, 126, 0, 126]);
        assert_eq!(
            encode_header(
                &mut h,
                OpCode::Binary,
                true,
                false,
                65536,
                Some([1, 2, 3, 4])
            ),
            14
        );
        assert_eq!(&h[..14], &[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn close_reason_is_cut_at_char_boundary() {
        let mut out = Vec::new();
        let reason = "é".repeat(100);
        encode_close(&mut out, Some(1000), &reason, None);
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= 125);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }
}
