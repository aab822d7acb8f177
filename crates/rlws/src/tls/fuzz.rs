//! Entry points for the fuzz targets (built with `cfg(fuzzing)` only).

use super::hello::{self, Hello};
use super::record::{Cipher, Keys, RecordError, Sealed, Version};

/// The ClientHello reader on any bytes: it never panics, a whole hello
/// stays whole with anything after it, and a partial one stays partial
/// until the length it names.
pub fn client_hello(data: &[u8]) {
    let whole = hello::read(data);
    match whole {
        Hello::Whole { .. } => {
            let mut more = data.to_vec();
            more.extend_from_slice(b"\x17\x03\x03\x00\x01x");
            assert_eq!(hello::read(&more), whole);
        }
        // Nothing changes before the input is `need` long.
        Hello::Partial(need) => {
            assert!(need > data.len());
            let mut longer = data.to_vec();
            longer.resize(need - 1, 0);
            assert!(matches!(hello::read(&longer), Hello::Partial(_)));
        }
        Hello::Invalid => {}
    }
}

/// Records between two ends with the same keys turned around: what one
/// seals (data in pieces the input chooses, alerts, key updates), the
/// other opens whole however the bytes are split; a flipped byte is
/// refused, never accepted as other data.
pub fn records(data: &[u8]) {
    let [sel, split, flip, rest @ ..] = data else {
        return;
    };
    let (version, cipher) = match sel % 4 {
        0 => (Version::Tls13Sha256, Cipher::Chacha20Poly1305),
        1 => (Version::Tls13Sha384, Cipher::Aes256Gcm),
        2 => (Version::Tls12, Cipher::Aes128Gcm),
        _ => (Version::Tls12, Cipher::Chacha20Poly1305),
    };
    let keys = |b: u8| -> Keys {
        if version == Version::Tls12 {
            Keys::tls12(&[b; 32][..cipher.key_len()], &[b; 12], 0)
        } else {
            Keys::tls13(version, &[b; 48][..version.hash_len()], 0)
        }
        .unwrap_or_else(|| unreachable!())
    };
    let mut a = Sealed::new(version, cipher, keys(1), keys(2));
    let mut b = Sealed::new(version, cipher, keys(2), keys(1));
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for chunk in rest.chunks(97) {
        let pieces: Vec<&[u8]> = chunk.chunks(usize::from(chunk[0] % 7) + 1).collect();
        if a.seal(&pieces, &mut wire).is_err() {
            return;
        }
        sent.extend_from_slice(chunk);
    }
    let _ = a.seal_alert(super::record::Alert::CloseNotify, &mut wire);
    let flipped = usize::from(*flip) < wire.len() && *sel & 0x80 != 0;
    if flipped {
        wire[usize::from(*flip)] ^= 0x40;
    }
    let step = usize::from(*split) + 1;
    let mut buf = Vec::new();
    let mut got = Vec::new();
    let mut closed = false;
    let mut failed = false;
    for piece in wire.chunks(step) {
        buf.extend_from_slice(piece);
        match b.open(&mut buf) {
            Ok(o) => {
                got.extend_from_slice(&buf[..o.plain]);
                buf.drain(..o.used);
                closed |= o.closed;
            }
            Err(RecordError::Send(_) | RecordError::Received(_)) => {
                failed = true;
                break;
            }
        }
    }
    if flipped {
        // What came before the damaged record is a prefix of what was sent.
        assert!(sent.starts_with(&got));
        assert!(failed || !closed || got == sent);
    } else {
        assert!(!failed && closed);
        assert_eq!(got, sent);
    }
}
