//! Incremental UTF-8 validation across fragment and read boundaries.
//!
//! Text messages must be valid UTF-8 as a whole, but arrive in pieces split
//! anywhere, even inside a code point. [`Utf8Stream`] validates each piece as
//! it comes (with SIMD via `simdutf8` for the bulk), remembers an incomplete
//! code point at the end of a piece, and fails as soon as the bytes seen so
//! far cannot be the start of valid UTF-8 ("fail fast"), not only at the end
//! of the message.

/// Streaming UTF-8 validator state. Four bytes; no allocation.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    partial: [u8; 4],
    len: u8,
}

/// The bytes seen so far are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error;

/// Expected total length of a sequence starting with `lead`, or `None` if
/// `lead` can never start one.
fn seq_len(lead: u8) -> Option<usize> {
    match lead {
        0x00..=0x7F => Some(1),
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// Whether `bytes` (shorter than its full sequence) can still become a valid
/// code point.
fn valid_prefix(bytes: &[u8]) -> bool {
    let Some(&lead) = bytes.first() else {
        return true;
    };
    let Some(n) = seq_len(lead) else {
        return false;
    };
    if bytes.len() >= n {
        return false;
    }
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        let (lo, hi) = if i == 1 {
            match lead {
                0xE0 => (0xA0, 0xBF),
                0xED => (0x80, 0x9F),
                0xF0 => (0x90, 0xBF),
                0xF4 => (0x80, 0x8F),
                _ => (0x80, 0xBF),
            }
        } else {
            (0x80, 0xBF)
        };
        if b < lo || b > hi {
            return false;
        }
    }
    true
}

impl Utf8Stream {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Utf8Stream {
            partial: [0; 4],
            len: 0,
        }
    }

    /// Validates the next piece of the message.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.len > 0 {
            let have = self.len as usize;
            let need = seq_len(self.partial[0]).ok_or(Utf8Error)?;
            let take = (need - have).min(data.len());
            self.partial[have..have + take].copy_from_slice(&data[..take]);
            let now = have + take;
            data = &data[take..];
            if now < need {
                if !valid_prefix(&self.partial[..now]) {
                    return Err(Utf8Error);
                }
                self.len = now as u8;
                return Ok(());
            }
            if std::str::from_utf8(&self.partial[..need]).is_err() {
                return Err(Utf8Error);
            }
            self.len = 0;
        }
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.error_len().is_some() {
                    return Err(Utf8Error);
                }
                let tail = &data[e.valid_up_to()..];
                if tail.len() > 3 || !valid_prefix(tail) {
                    return Err(Utf8Error);
                }
                self.partial[..tail.len()].copy_from_slice(tail);
                self.len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the message: fails if it stopped inside a code point. Resets the
    /// validator for the next message.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let incomplete = self.len != 0;
        self.len = 0;
        if incomplete {
            Err(Utf8Error)
        } else {
            Ok(())
        }
    }

    /// Forgets any state.
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Stream::new();
                let r = v
                    .feed(&bytes[..i])
                    .and_then(|_| v.feed(&bytes[i..j]))
                    .and_then(|_| v.feed(&bytes[j..]))
                    .and_then(|_| v.finish());
                assert_eq!(r.is_ok(), whole, "{bytes:x?} split at {i},{j}");
            }
        }
        whole
    }

    #[test]
    fn valid_and_invalid_sequences_at_every_split() {
        assert!(check_all_splits("Hello-µ@ßöäüàá-UTF-8!!".as_bytes()));
        assert!(check_all_splits("κόσμε 𝄞 \u{10FFFF} \u{FFFD}".as_bytes()));
        assert!(!check_all_splits(&[
            0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80,
            0x65, 0x64
        ]));
        assert!(!check_all_splits(&[0xF4, 0x90, 0x80, 0x80]));
        assert!(!check_all_splits(&[0xC0, 0xAF]));
        assert!(!check_all_splits(&[0xE0, 0x80, 0xAF]));
        assert!(!check_all_splits(&[0x61, 0xFF]));
        assert!(!check_all_splits(&[0x61, 0xE2, 0x82]));
    }

    #[test]
    fn fails_fast_inside_a_code_point() {
        let mut v = Utf8Stream::new();
        // 0xF4 0x90 can never be valid; detect it before the rest arrives.
        assert!(v.feed(&[0x61, 0xF4]).is_ok());
        assert!(v.feed(&[0x90]).is_err());
        let mut v = Utf8Stream::new();
        assert!(v.feed(&[0xED, 0xA0]).is_err());
    }
}
