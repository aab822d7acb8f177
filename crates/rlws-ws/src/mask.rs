//! Applying the WebSocket masking key (RFC 6455 §5.3).
//!
//! Masking is an XOR with a repeating 4-byte key. [`apply_mask`] works on
//! 8-byte words (32 bytes per loop turn, which the compiler turns into vector
//! instructions) and handles any starting offset into the key, so a payload
//! that arrives in pieces can be unmasked piece by piece.

/// XORs `buf` with `key`, starting at byte `offset` of the key cycle
/// (`offset` is the number of payload bytes already unmasked, mod 4 or not).
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let rot = offset & 3;
    let key = [
        key[rot],
        key[(rot + 1) & 3],
        key[(rot + 2) & 3],
        key[(rot + 3) & 3],
    ];
    // The 8-byte pattern key,key in memory order, whatever the endianness.
    let mut pattern = [0u8; 8];
    pattern[..4].copy_from_slice(&key);
    pattern[4..].copy_from_slice(&key);
    let k64 = u64::from_ne_bytes(pattern);
    if buf.len() < 32 {
        // Small payloads (most messages): whole words, then the tail.
        return mask_words(buf, k64, key);
    }
    let mut chunks = buf.chunks_exact_mut(32);
    for c in &mut chunks {
        for w in c.chunks_exact_mut(8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            let v = u64::from_ne_bytes(a) ^ k64;
            w.copy_from_slice(&v.to_ne_bytes());
        }
    }
    // Every full chunk is a multiple of 4 bytes, so the key phase is unchanged.
    mask_words(chunks.into_remainder(), k64, key);
}

/// Masks `buf` (with the key already turned to its phase) 8 bytes at a
/// time, then 4, then byte by byte.
#[inline(always)]
fn mask_words(buf: &mut [u8], k64: u64, key: [u8; 4]) {
    let mut rest = buf;
    while rest.len() >= 8 {
        let Some((w, tail)) = std::mem::take(&mut rest).split_first_chunk_mut::<8>() else {
            return;
        };
        *w = (u64::from_ne_bytes(*w) ^ k64).to_ne_bytes();
        rest = tail;
    }
    let rest = match rest.split_first_chunk_mut::<4>() {
        Some((w, tail)) => {
            *w = (u32::from_ne_bytes(*w) ^ u32::from_ne_bytes(key)).to_ne_bytes();
            tail
        }
        None => rest,
    };
    for (b, k) in rest.iter_mut().zip(key) {
        *b ^= k;
    }
}

/// The obvious byte-at-a-time masking, kept as the reference for tests and benches.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[(i + offset) & 3];
    }
}

/// Random bits for handshake keys and mask seeds: the standard library's
/// per-process random SipHash keys, stirred with a counter. Masking keys need
/// to be unpredictable to page scripts, not cryptographically strong.
pub fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// The next masking key from the xorshift64* state `x` (never 0).
pub(crate) fn next_key(x: &mut u64) -> [u8; 4] {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (v as u32).to_ne_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bytewise_for_all_lengths_and_offsets() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..200 {
            for off in 0..8 {
                let orig: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, key, off);
                apply_mask_bytewise(&mut b, key, off);
                assert_eq!(a, b, "len {len} off {off}");
                apply_mask(&mut a, key, off);
                assert_eq!(a, orig);
            }
        }
    }

    #[test]
    fn split_unmasking_equals_whole() {
        let key = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..100u8).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        let mut parts = orig.clone();
        let (a, b) = parts.split_at_mut(37);
        apply_mask(a, key, 0);
        apply_mask(b, key, 37);
        assert_eq!(whole, parts);
    }
}
