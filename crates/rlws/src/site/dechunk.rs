//! The chunked transfer coding (RFC 9112 §7.1) taken off a stream as it
//! arrives: for CGI programs that frame their own output with it. Bare LFs
//! are taken for CRLFs, as in the head; chunk extensions and trailer fields
//! are skipped.

use bytes::Bytes;

/// Longest size line (with its extensions) and trailer section taken.
const MAX_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In a chunk's size: `n` so far, `digits` read.
    Size {
        n: u64,
        digits: u8,
    },
    /// Past the size, to the line's end (extensions, whitespace).
    SizeRest {
        n: u64,
        len: usize,
    },
    /// `left` bytes of chunk data to come.
    Data {
        left: u64,
    },
    /// After a chunk's data: its CRLF.
    DataEnd {
        cr: bool,
    },
    /// After the last chunk: trailer lines; `len` of the current one, `total` of all.
    Trailer {
        len: usize,
        total: usize,
    },
    Done,
}

/// Why chunked output cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DechunkError(pub(crate) &'static str);

impl std::fmt::Display for DechunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad chunked output: {}", self.0)
    }
}

/// A chunked stream's decoder.
#[derive(Debug)]
pub(crate) struct Dechunk {
    state: State,
}

impl Default for Dechunk {
    fn default() -> Self {
        Dechunk {
            state: State::Size { n: 0, digits: 0 },
        }
    }
}

impl Dechunk {
    /// The last chunk and the trailer section have been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next bytes of the stream; the data in them, as pieces of
    /// `input`, goes to `out`. Bytes after the end are ignored.
    pub(crate) fn feed(&mut self, input: Bytes, out: &mut Vec<Bytes>) -> Result<(), DechunkError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Done => return Ok(()),
                State::Data { left } => {
                    let take = (left.min((input.len() - i) as u64)) as usize;
                    out.push(input.slice(i..i + take));
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd { cr: false }
                    } else {
                        State::Data { left }
                    };
                    continue;
                }
                State::Size { n, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(DechunkError("chunk size too large"));
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        State::Size {
                            n: n * 16 + d,
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => return Err(DechunkError("no chunk size")),
                    b'\n' => Self::after_size(n),
                    b';' | b' ' | b'\t' | b'\r' => State::SizeRest {
                        n,
                        len: usize::from(digits) + 1,
                    },
                    _ => return Err(DechunkError("bad chunk size")),
                },
                State::SizeRest { n, len } => match b {
                    b'\n' => Self::after_size(n),
                    _ if len >= MAX_LINE => return Err(DechunkError("chunk size line too long")),
                    _ => State::SizeRest { n, len: len + 1 },
                },
                State::DataEnd { cr } => match b {
                    b'\r' if !cr => State::DataEnd { cr: true },
                    b'\n' => State::Size { n: 0, digits: 0 },
                    _ => return Err(DechunkError("no line end after chunk data")),
                },
                State::Trailer { len, total } => {
                    if total >= MAX_LINE {
                        return Err(DechunkError("trailer section too long"));
                    }
                    match b {
                        b'\n' if len == 0 => State::Done,
                        b'\n' => State::Trailer {
                            len: 0,
                            total: total + 1,
                        },
                        b'\r' => State::Trailer {
                            len,
                            total: total + 1,
                        },
                        _ => State::Trailer {
                            len: len + 1,
                            total: total + 1,
                        },
                    }
                }
            };
            i += 1;
        }
        Ok(())
    }

    fn after_size(n: u64) -> State {
        if n == 0 {
            State::Trailer { len: 0, total: 0 }
        } else {
            State::Data { left: n }
        }
    }
}

/// Runs `data` through a decoder in pieces of `step` bytes: the data, or
/// the error (for the fuzz target and tests).
#[cfg(any(test, fuzzing))]
pub(crate) fn decode_in_steps(data: &[u8], step: usize) -> Result<(Vec<u8>, bool), DechunkError> {
    let mut d = Dechunk::default();
    let mut out = Vec::new();
    let mut pieces = Vec::new();
    for c in data.chunks(step.max(1)) {
        d.feed(Bytes::copy_from_slice(c), &mut pieces)?;
        for p in pieces.drain(..) {
            out.extend_from_slice(&p);
        }
    }
    Ok((out, d.is_done()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_out_whatever_the_pieces() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nignored";
        for step in 1..body.len() {
            assert_eq!(
                decode_in_steps(body, step),
                Ok((b"hello world".to_vec(), true)),
                "step {step}"
            );
        }
        // Bare LFs, upper-case hex, no trailer.
        assert_eq!(
            decode_in_steps(b"A\nabcdefghij\n0\n\n", 3),
            Ok((b"abcdefghij".to_vec(), true))
        );
        // Not ended yet.
        assert_eq!(
            decode_in_steps(b"3\r\nabc\r\n", 2),
            Ok((b"abc".to_vec(), false))
        );
    }

    #[test]
    fn bad_framing_is_refused() {
        for bad in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"3\r\nabcX",
            b"1234567890abcdef0\r\n",
            b"-1\r\n",
        ] {
            assert!(decode_in_steps(bad, 1).is_err(), "{bad:?}");
        }
        let long = [b"1;".as_slice(), &[b'x'; 5000]].concat();
        assert!(decode_in_steps(&long, 100).is_err());
        let trailer = [b"0\r\n".as_slice(), &[b'x'; 5000]].concat();
        assert!(decode_in_steps(&trailer, 100).is_err());
    }
}
