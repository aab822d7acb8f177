//! TLS records after the handshake, protected by rlws itself with the keys
//! rustls agreed (`dangerous_into_kernel_connection`): application data,
//! alerts and, in TLS 1.3, key updates in both directions (RFC 8446 §5,
//! §4.6.3, §7.2; RFC 5246 §6.2.3.3 and RFC 7905 for TLS 1.2).
//!
//! What a connection keeps is, each way, its TLS 1.3 traffic secret (or
//! TLS 1.2 key and IV) and sequence number: 112 bytes. The AEAD key schedules (ring's
//! AES-GCM ones are some 560 bytes each way) are built when a record is
//! sealed or opened and dropped by [`Sealed::release`] once the connection
//! has been quiet between two calls.

use ring::{aead, hkdf};

/// Largest plaintext in one record.
pub(crate) const MAX_PLAIN: usize = 16 * 1024;
/// Record header: type, version, length.
pub(crate) const HEADER: usize = 5;
const TAG: usize = 16;
/// Largest record rlws accepts: TLS 1.2 allows 2048 bytes of expansion.
pub(crate) const MAX_RECORD: usize = HEADER + MAX_PLAIN + 2048;
/// TLS 1.3's expansion limit (RFC 8446 §5.2).
const MAX_EXPANSION_13: usize = 256;

const APPLICATION_DATA: u8 = 23;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const KEY_UPDATE: u8 = 24;

/// Records without application data a peer may send in a row (empty
/// records, warnings, key updates), as rustls allows.
const MAX_IDLE_RECORDS: u8 = 32;

/// Records one AES-GCM key may seal before it is replaced (RFC 8446
/// §5.5 allows 2^24.5 full-size records).
const AES_GCM_LIMIT: u64 = 1 << 24;

/// An alert's description (RFC 8446 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Alert {
    CloseNotify = 0,
    UnexpectedMessage = 10,
    BadRecordMac = 20,
    RecordOverflow = 22,
    DecodeError = 50,
    IllegalParameter = 47,
    InternalError = 80,
}

/// Why the records stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// The peer's records were bad: rlws sends this fatal alert.
    Send(Alert),
    /// The peer sent a fatal alert (its description).
    Received(u8),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Send(a) => write!(f, "bad TLS record from the peer ({a:?})"),
            RecordError::Received(d) => write!(f, "the peer sent TLS alert {d}"),
        }
    }
}

impl From<RecordError> for std::io::Error {
    fn from(e: RecordError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
    }
}

/// The AEAD of the connection's cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

impl Cipher {
    fn alg(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::Aes256Gcm => &aead::AES_256_GCM,
            Cipher::Chacha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    pub(crate) fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm => 16,
            _ => 32,
        }
    }

    fn limit(self) -> u64 {
        match self {
            Cipher::Chacha20Poly1305 => u64::MAX,
            _ => AES_GCM_LIMIT,
        }
    }
}

/// The protocol version and, for TLS 1.3, the suite's hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Tls12,
    Tls13Sha256,
    Tls13Sha384,
}

impl Version {
    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Version::Tls13Sha384 => hkdf::HKDF_SHA384,
            _ => hkdf::HKDF_SHA256,
        }
    }

    pub(crate) fn hash_len(self) -> usize {
        match self {
            Version::Tls13Sha384 => 48,
            _ => 32,
        }
    }
}

/// One direction's keys: all an idle connection keeps of them.
#[derive(Clone)]
pub(crate) struct Keys {
    /// TLS 1.3: the traffic secret (its first `hash_len` bytes), which
    /// gives the key and IV (and the next secret). TLS 1.2: the key, and
    /// the IV at [`IV_AT`].
    material: [u8; 48],
    seq: u64,
}

/// Where a TLS 1.2 IV sits in [`Keys::material`].
const IV_AT: usize = 32;

/// A key and IV.
type KeyIv = ([u8; 32], [u8; 12]);

impl Keys {
    /// TLS 1.2 keys as rustls handed them over.
    pub(crate) fn tls12(key: &[u8], iv: &[u8], seq: u64) -> Option<Keys> {
        let mut k = Keys {
            material: [0; 48],
            seq,
        };
        k.material.get_mut(..key.len())?.copy_from_slice(key);
        if key.len() > IV_AT || iv.len() != 12 {
            return None;
        }
        k.material[IV_AT..IV_AT + 12].copy_from_slice(iv);
        Some(k)
    }

    /// TLS 1.3 keys of a traffic secret.
    pub(crate) fn tls13(version: Version, secret: &[u8], seq: u64) -> Option<Keys> {
        if version == Version::Tls12 || secret.len() != version.hash_len() {
            return None;
        }
        let mut k = Keys {
            material: [0; 48],
            seq,
        };
        k.material[..secret.len()].copy_from_slice(secret);
        Some(k)
    }

    /// The key and IV (for TLS 1.3 from the secret, RFC 8446 §7.3).
    pub(crate) fn key_iv(&self, version: Version, cipher: Cipher) -> Option<KeyIv> {
        let mut key = [0u8; 32];
        let mut iv = [0u8; 12];
        if version == Version::Tls12 {
            key[..cipher.key_len()].copy_from_slice(&self.material[..cipher.key_len()]);
            iv.copy_from_slice(&self.material[IV_AT..IV_AT + 12]);
        } else {
            let secret = &self.material[..version.hash_len()];
            expand_label(version, secret, b"key", &mut key[..cipher.key_len()])?;
            expand_label(version, secret, b"iv", &mut iv)?;
        }
        Some((key, iv))
    }

    /// The keys after a KeyUpdate (RFC 8446 §7.2).
    fn next(&self, version: Version) -> Option<Keys> {
        let n = version.hash_len();
        let mut next = [0u8; 48];
        expand_label(version, &self.material[..n], b"traffic upd", &mut next[..n])?;
        let k = Keys::tls13(version, &next[..n], 0);
        wipe(&mut next);
        k
    }

    /// The key schedule of this direction.
    fn expand(&self, version: Version, cipher: Cipher) -> Option<Expanded> {
        let (mut key, iv) = self.key_iv(version, cipher)?;
        let aead = aead::UnboundKey::new(cipher.alg(), &key[..cipher.key_len()])
            .ok()
            .map(aead::LessSafeKey::new);
        wipe(&mut key);
        Some(Expanded { aead: aead?, iv })
    }
}

/// The nonce of record `seq`: the IV with the sequence number XORed in.
fn nonce(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (a, b) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *a ^= b;
    }
    n
}

impl Drop for Keys {
    fn drop(&mut self) {
        wipe(&mut self.material);
    }
}

/// Overwrites secret bytes before their memory is given back.
pub(crate) fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: `x` is a valid, aligned, exclusive reference to a byte
        // of `b`; a volatile write keeps the compiler from dropping the
        // store to memory that is about to be freed.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}

/// `HKDF-Expand-Label(secret, label, "", out.len())` (RFC 8446 §7.1).
fn expand_label(version: Version, secret: &[u8], label: &[u8], out: &mut [u8]) -> Option<()> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    let prk = hkdf::Prk::new_less_safe(version.hkdf(), secret);
    prk.expand(&info, Len(out.len())).ok()?.fill(out).ok()
}

/// One direction's key schedule and IV, while the connection is busy.
struct Expanded {
    aead: aead::LessSafeKey,
    iv: [u8; 12],
}

/// The key schedules while the connection is busy.
struct Live {
    tx: Expanded,
    rx: Expanded,
}

/// A partly received post-handshake message (a KeyUpdate is 5 bytes).
#[derive(Default, Clone, Copy)]
struct HsPart {
    buf: [u8; 5],
    len: u8,
}

/// What [`Sealed::open`] did with the bytes it was given.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Opened {
    /// Application data now at the front of the buffer.
    pub(crate) plain: usize,
    /// Input bytes used; the rest begins an incomplete record.
    pub(crate) used: usize,
    /// The peer's close_notify came (nothing after it is read).
    pub(crate) closed: bool,
}

/// A TLS connection's record protection after its handshake.
pub(crate) struct Sealed {
    version: Version,
    cipher: Cipher,
    tx: Keys,
    rx: Keys,
    live: Option<Box<Live>>,
    /// A record was sealed or opened since the last [`Sealed::release`].
    used: bool,
    hs: HsPart,
    /// The peer asked for a KeyUpdate, not sent yet.
    owed: bool,
    /// Records in a row that brought no application data.
    idle_records: u8,
    /// The peer's close_notify came.
    peer_closed: bool,
}

impl Sealed {
    pub(crate) fn new(version: Version, cipher: Cipher, tx: Keys, rx: Keys) -> Sealed {
        Sealed {
            version,
            cipher,
            tx,
            rx,
            live: None,
            used: false,
            hs: HsPart::default(),
            owed: false,
            idle_records: 0,
            peer_closed: false,
        }
    }

    /// True once the peer's close_notify came.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The peer's close_notify came with the handshake's last flight.
    pub(crate) fn set_peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Drops the key schedules if no record went through since the last
    /// call; true if it did.
    pub(crate) fn release(&mut self) -> bool {
        if std::mem::take(&mut self.used) {
            return false;
        }
        self.live.take().is_some()
    }

    fn live(&mut self) -> Result<&Live, Alert> {
        self.used = true;
        if self.live.is_none() {
            let (Some(tx), Some(rx)) = (
                self.tx.expand(self.version, self.cipher),
                self.rx.expand(self.version, self.cipher),
            ) else {
                return Err(Alert::InternalError);
            };
            self.live = Some(Box::new(Live { tx, rx }));
        }
        self.live.as_deref().ok_or(Alert::InternalError)
    }

    fn tls13(&self) -> bool {
        self.version != Version::Tls12
    }

    /// The explicit nonce in front of each record's ciphertext: TLS 1.2's
    /// AES-GCM sends 8 bytes of it, the rest none.
    fn explicit_nonce(&self) -> usize {
        match (self.version, self.cipher) {
            (Version::Tls12, Cipher::Aes128Gcm | Cipher::Aes256Gcm) => 8,
            _ => 0,
        }
    }

    /// Appends `data`, gathered from its pieces, to `out` as application
    /// data records.
    pub(crate) fn seal<B: AsRef<[u8]>>(
        &mut self,
        data: &[B],
        out: &mut Vec<u8>,
    ) -> Result<(), Alert> {
        whole_or_none(out, |out| self.seal_data(data, out))
    }

    fn seal_data<B: AsRef<[u8]>>(&mut self, data: &[B], out: &mut Vec<u8>) -> Result<(), Alert> {
        let total: usize = data.iter().map(|b| b.as_ref().len()).sum();
        let mut pieces = data.iter().map(|b| b.as_ref()).filter(|b| !b.is_empty());
        let mut cur: &[u8] = &[];
        let mut left = total;
        while left > 0 {
            let n = left.min(MAX_PLAIN);
            let start = self.begin(APPLICATION_DATA, n, out)?;
            let mut need = n;
            while need > 0 {
                if cur.is_empty() {
                    cur = pieces.next().unwrap_or_default();
                    if cur.is_empty() {
                        return Err(Alert::InternalError);
                    }
                }
                let k = need.min(cur.len());
                out.extend_from_slice(&cur[..k]);
                cur = &cur[k..];
                need -= k;
            }
            self.finish(APPLICATION_DATA, start, out)?;
            left -= n;
        }
        Ok(())
    }

    /// Appends an alert record (close_notify is a warning, the rest fatal),
    /// after the KeyUpdate the peer is owed.
    pub(crate) fn seal_alert(&mut self, alert: Alert, out: &mut Vec<u8>) -> Result<(), Alert> {
        let level = match alert {
            Alert::CloseNotify => 1,
            _ => 2,
        };
        whole_or_none(out, |out| {
            let start = self.begin(ALERT, 2, out)?;
            out.extend_from_slice(&[level, alert as u8]);
            self.finish(ALERT, start, out)
        })
    }

    /// Writes a record's header (and TLS 1.2's explicit nonce) for `n`
    /// bytes of plaintext; returns where the record starts. A key that
    /// reached its limit is replaced first (TLS 1.3), or the connection
    /// ends (TLS 1.2).
    fn begin(&mut self, typ: u8, n: usize, out: &mut Vec<u8>) -> Result<usize, Alert> {
        if self.owed {
            self.owed = false;
            self.send_key_update(false, out)?;
        }
        if self.tx.seq >= self.cipher.limit() - 1 {
            if self.tls13() {
                self.send_key_update(false, out)?;
            } else if typ != ALERT || self.tx.seq >= self.cipher.limit() {
                // TLS 1.2 cannot change keys: the last record kept for
                // the alert that ends the connection.
                return Err(Alert::CloseNotify);
            }
        }
        let start = out.len();
        let explicit = self.explicit_nonce();
        let (outer, len) = if self.tls13() {
            (APPLICATION_DATA, n + 1 + TAG)
        } else {
            (typ, explicit + n + TAG)
        };
        let len = u16::try_from(len).map_err(|_| Alert::InternalError)?;
        out.reserve(HEADER + usize::from(len));
        out.extend_from_slice(&[outer, 3, 3]);
        out.extend_from_slice(&len.to_be_bytes());
        if explicit > 0 {
            let seq = self.tx.seq;
            let live = self.live()?;
            out.extend_from_slice(&nonce(&live.tx.iv, seq)[4..]);
        }
        Ok(start)
    }

    /// Encrypts the record begun at `start` whose plaintext follows its
    /// header in `out`.
    fn finish(&mut self, typ: u8, start: usize, out: &mut Vec<u8>) -> Result<(), Alert> {
        let tls13 = self.tls13();
        if tls13 {
            out.push(typ);
        }
        let seq = self.tx.seq;
        let body = start + HEADER + self.explicit_nonce();
        let mut aad = [0u8; AAD_12];
        let aad = if tls13 {
            // TLS 1.3's additional data is the record header.
            aad[..HEADER].copy_from_slice(&out[start..start + HEADER]);
            &aad[..HEADER]
        } else {
            aad12(&mut aad, seq, typ, out.len() - body)
        };
        let live = self.live()?;
        let nonce = aead::Nonce::assume_unique_for_key(nonce(&live.tx.iv, seq));
        let tag = live
            .tx
            .aead
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), &mut out[body..])
            .map_err(|_| Alert::InternalError)?;
        out.extend_from_slice(tag.as_ref());
        self.tx.seq += 1;
        Ok(())
    }

    /// Sends a KeyUpdate under the current key, then moves to the next.
    fn send_key_update(&mut self, requested: bool, out: &mut Vec<u8>) -> Result<(), Alert> {
        // Sealed with the key about to be replaced: no limit check here.
        let start = out.len();
        out.extend_from_slice(&[APPLICATION_DATA, 3, 3, 0, 5 + 1 + TAG as u8]);
        out.extend_from_slice(&[KEY_UPDATE, 0, 0, 1, u8::from(requested)]);
        self.finish(HANDSHAKE, start, out)?;
        self.tx = self.tx.next(self.version).ok_or(Alert::InternalError)?;
        self.live = None;
        Ok(())
    }

    /// Opens the whole records at the front of `buf`, moving their
    /// application data to its front. A KeyUpdate the peer asks for is
    /// owed, and sealed before the next record rlws sends (RFC 8446
    /// §4.6.3): however many requests come meanwhile, one is owed.
    pub(crate) fn open(&mut self, buf: &mut [u8]) -> Result<Opened, RecordError> {
        let mut at = Opened::default();
        while !self.peer_closed {
            let Some(&[typ, _, _, h, l]) = buf.get(at.used..at.used + HEADER) else {
                break;
            };
            let len = usize::from(u16::from_be_bytes([h, l]));
            let max = if self.tls13() {
                MAX_PLAIN + MAX_EXPANSION_13
            } else {
                MAX_RECORD - HEADER
            };
            if len > max {
                return Err(RecordError::Send(Alert::RecordOverflow));
            }
            let end = at.used + HEADER + len;
            if end > buf.len() {
                break;
            }
            let (inner, range) = self
                .open_one(typ, &mut buf[at.used..end])
                .map_err(RecordError::Send)?;
            let (from, to) = (at.used + range.start, at.used + range.end);
            at.used = end;
            match inner {
                APPLICATION_DATA => {
                    if self.hs.len != 0 {
                        return Err(RecordError::Send(Alert::UnexpectedMessage));
                    }
                    if to == from {
                        self.idle_record()?;
                    } else {
                        self.idle_records = 0;
                    }
                    buf.copy_within(from..to, at.plain);
                    at.plain += to - from;
                }
                // Nothing comes between the pieces of a handshake message.
                ALERT if self.hs.len != 0 => {
                    return Err(RecordError::Send(Alert::UnexpectedMessage))
                }
                ALERT => self.on_alert(&buf[from..to])?,
                HANDSHAKE => self
                    .on_handshake(&buf[from..to])
                    .map_err(RecordError::Send)?,
                _ => return Err(RecordError::Send(Alert::UnexpectedMessage)),
            }
        }
        at.closed = self.peer_closed;
        Ok(at)
    }

    /// Decrypts one record in place; returns its content type and where
    /// its plaintext is within `rec`.
    fn open_one(&mut self, typ: u8, rec: &mut [u8]) -> Result<(u8, std::ops::Range<usize>), Alert> {
        let tls13 = self.tls13();
        if tls13 && typ != APPLICATION_DATA {
            return Err(Alert::UnexpectedMessage);
        }
        let explicit = self.explicit_nonce();
        if rec.len() < HEADER + explicit + TAG {
            return Err(Alert::BadRecordMac);
        }
        let seq = self.rx.seq;
        let body = HEADER + explicit;
        let mut aad = [0u8; AAD_12];
        let aad = if tls13 {
            aad[..HEADER].copy_from_slice(&rec[..HEADER]);
            &aad[..HEADER]
        } else {
            aad12(&mut aad, seq, typ, rec.len() - body - TAG)
        };
        let live = self.live()?;
        let nonce = if explicit == 8 {
            let mut n = live.rx.iv;
            n[4..].copy_from_slice(&rec[HEADER..HEADER + 8]);
            n
        } else {
            nonce(&live.rx.iv, seq)
        };
        let nonce = aead::Nonce::assume_unique_for_key(nonce);
        let n = live
            .rx
            .aead
            .open_in_place(nonce, aead::Aad::from(aad), &mut rec[body..])
            .map_err(|_| Alert::BadRecordMac)?
            .len();
        self.rx.seq += 1;
        if !tls13 {
            if n > MAX_PLAIN {
                return Err(Alert::RecordOverflow);
            }
            return Ok((typ, body..body + n));
        }
        // TLSInnerPlaintext: content, type, zero padding.
        let Some(last) = rec[body..body + n].iter().rposition(|&b| b != 0) else {
            return Err(Alert::UnexpectedMessage);
        };
        // TLSInnerPlaintext (content, type, padding) is at most 2^14 + 1.
        if n > MAX_PLAIN + 1 {
            return Err(Alert::RecordOverflow);
        }
        Ok((rec[body + last], body..body + last))
    }

    /// Counts a record that brought no application data (an empty one, a
    /// warning, a KeyUpdate): a peer may send only so many in a row, each
    /// of which costs a decryption (and a KeyUpdate a key derivation).
    fn idle_record(&mut self) -> Result<(), RecordError> {
        self.idle_records += 1;
        if self.idle_records > MAX_IDLE_RECORDS {
            return Err(RecordError::Send(Alert::UnexpectedMessage));
        }
        Ok(())
    }

    fn on_alert(&mut self, a: &[u8]) -> Result<(), RecordError> {
        let &[level, desc] = a else {
            return Err(RecordError::Send(Alert::DecodeError));
        };
        if desc == Alert::CloseNotify as u8 {
            self.peer_closed = true;
            return Ok(());
        }
        // user_canceled (and, in TLS 1.2, any warning) is let pass.
        if desc == 90 || (level == 1 && !self.tls13()) {
            return self.idle_record();
        }
        Err(RecordError::Received(desc))
    }

    /// A handshake record after the handshake: TLS 1.3's KeyUpdate (which
    /// may come in pieces, and must end its record). TLS 1.2's
    /// renegotiation is refused.
    fn on_handshake(&mut self, msg: &[u8]) -> Result<(), Alert> {
        let len = msg.len();
        if !self.tls13() {
            return Err(Alert::UnexpectedMessage);
        }
        if len == 0 {
            return Err(Alert::UnexpectedMessage);
        }
        let have = usize::from(self.hs.len);
        if have + len > self.hs.buf.len() {
            return Err(Alert::UnexpectedMessage);
        }
        self.hs.buf[have..have + len].copy_from_slice(msg);
        let have = have + len;
        self.hs.len = have as u8;
        if self.hs.buf[0] != KEY_UPDATE {
            return Err(Alert::UnexpectedMessage);
        }
        if have < 4 {
            return Ok(());
        }
        if self.hs.buf[1..4] != [0, 0, 1] {
            return Err(Alert::DecodeError);
        }
        if have < 5 {
            return Ok(());
        }
        let requested = match self.hs.buf[4] {
            0 => false,
            1 => true,
            _ => return Err(Alert::IllegalParameter),
        };
        self.hs = HsPart::default();
        self.idle_record().map_err(|_| Alert::UnexpectedMessage)?;
        self.rx = self.rx.next(self.version).ok_or(Alert::InternalError)?;
        self.live = None;
        self.owed |= requested;
        Ok(())
    }
}

/// Runs `f`, which appends records to `out`; if it fails, `out` is cut
/// back, so no plaintext is left behind in what goes to the socket.
fn whole_or_none(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), Alert>,
) -> Result<(), Alert> {
    let at = out.len();
    let r = f(out);
    if r.is_err() {
        out.truncate(at);
    }
    r
}

/// Length of TLS 1.2's additional data.
const AAD_12: usize = 13;

/// TLS 1.2's additional data, written into `a`: sequence number, type,
/// version, plaintext length.
fn aad12(a: &mut [u8; AAD_12], seq: u64, typ: u8, len: usize) -> &[u8] {
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = typ;
    a[9..11].copy_from_slice(&[3, 3]);
    a[11..].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use super::*;
    use crate::tls::accept::{Accepting, Step};

    /// A rustls client and the server side after its handshake.
    struct Pair {
        client: rustls::ClientConnection,
        server: Sealed,
        /// Bytes from the client the server has not opened yet.
        to_server: Vec<u8>,
        /// What the client read.
        got: Vec<u8>,
    }

    fn provider() -> rustls::crypto::CryptoProvider {
        rustls::crypto::ring::default_provider()
    }

    /// Handshakes with the client limited to `suite`.
    fn pair(suite: rustls::SupportedCipherSuite) -> Pair {
        pair_with(suite, None)
    }

    /// Likewise with the server's key exchange groups limited.
    fn pair_with(suite: rustls::SupportedCipherSuite, groups: Option<&str>) -> Pair {
        let ca = rlws_testkit::TestCa::new("record test");
        let (cert, key) = ca.leaf(&["rec.test"]);
        let opts = crate::tls::TlsServerOptions {
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
            groups: groups.map(str::to_owned),
            ..Default::default()
        };
        let server_cfg = Arc::new(crate::tls::server_config(&opts).unwrap());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile_certs(&ca.pem()) {
            roots.add(c).unwrap();
        }
        let mut p = provider();
        p.cipher_suites = vec![suite];
        let versions: &[&rustls::SupportedProtocolVersion] = match suite {
            rustls::SupportedCipherSuite::Tls12(_) => &[&rustls::version::TLS12],
            rustls::SupportedCipherSuite::Tls13(_) => &[&rustls::version::TLS13],
        };
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(p))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("rec.test").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut hello = Vec::new();
        client.write_tls(&mut hello).unwrap();
        let mut hs = Accepting::new(server_cfg, hello).unwrap();
        for _ in 0..10 {
            let step = hs.step().unwrap();
            let mut out = &hs.output[..];
            while !out.is_empty() {
                client.read_tls(&mut out).unwrap();
            }
            hs.output.clear();
            client.process_new_packets().unwrap();
            let mut back = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut back).unwrap();
            }
            hs.input.extend_from_slice(&back);
            if step == Step::Done && !client.is_handshaking() {
                break;
            }
        }
        // The client's Finished may still be in the input.
        assert_eq!(hs.step().unwrap(), Step::Done);
        let mut out = &hs.output[..];
        while !out.is_empty() {
            client.read_tls(&mut out).unwrap();
        }
        client.process_new_packets().unwrap();
        let (server, _) = hs.finish().unwrap();
        let to_server = std::mem::take(&mut hs.input);
        assert!(!client.is_handshaking());
        Pair {
            client,
            server,
            to_server,
            got: Vec::new(),
        }
    }

    /// Appends a record of content type `typ` holding `payload`.
    fn record(s: &mut Sealed, typ: u8, payload: &[u8], out: &mut Vec<u8>) {
        let start = s.begin(typ, payload.len(), out).unwrap();
        out.extend_from_slice(payload);
        s.finish(typ, start, out).unwrap();
    }

    fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
            .map(|c| c.unwrap())
            .collect()
    }

    impl Pair {
        /// The client's end as a second `Sealed` (the server's keys
        /// turned around), to make records rustls' client would not.
        fn client_end(&self) -> Sealed {
            Sealed::new(
                self.server.version,
                self.server.cipher,
                self.server.rx.clone(),
                self.server.tx.clone(),
            )
        }

        /// Client to server: the application data the server opens.
        fn client_says(&mut self, data: &[u8]) -> Vec<u8> {
            self.client.writer().write_all(data).unwrap();
            self.flush_client();
            self.server_opens().0
        }

        fn flush_client(&mut self) {
            while self.client.wants_write() {
                self.client.write_tls(&mut self.to_server).unwrap();
            }
        }

        /// What the server opens of what it has; its replies go to the client.
        fn server_opens(&mut self) -> (Vec<u8>, bool) {
            let o = self.server.open(&mut self.to_server).unwrap();
            let plain = self.to_server[..o.plain].to_vec();
            self.to_server.drain(..o.used);
            (plain, o.closed)
        }

        fn deliver(&mut self, mut bytes: &[u8]) {
            while !bytes.is_empty() {
                self.client.read_tls(&mut bytes).unwrap();
                self.client.process_new_packets().unwrap();
                let mut chunk = Vec::new();
                match self.client.reader().read_to_end(&mut chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
                self.got.extend_from_slice(&chunk);
            }
        }

        /// Server to client: what the client reads.
        fn server_says(&mut self, data: &[&[u8]]) -> Vec<u8> {
            let mut out = Vec::new();
            self.server.seal(data, &mut out).unwrap();
            self.deliver(&out);
            std::mem::take(&mut self.got)
        }
    }

    /// The suites a P-256 certificate can serve.
    fn suites() -> Vec<rustls::SupportedCipherSuite> {
        let all = provider().cipher_suites;
        assert_eq!(all.len(), 9);
        all.into_iter()
            .filter(|s| format!("{:?}", s.suite()).contains("ECDSA") || s.tls13().is_some())
            .collect()
    }

    #[test]
    fn every_suite_carries_data_both_ways_in_records_of_any_size() {
        let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for suite in suites() {
            let mut p = pair(suite);
            assert_eq!(p.client_says(b"hello"), b"hello", "{suite:?}");
            assert_eq!(p.client_says(&big), big, "{suite:?}");
            assert_eq!(p.server_says(&[b"he", b"", b"llo"]), b"hello", "{suite:?}");
            assert_eq!(p.server_says(&[&big[..100], &big[100..]]), big, "{suite:?}");
            // The key schedules go when quiet and come back when needed.
            assert!(!p.server.release());
            assert!(p.server.release());
            assert!(p.server.live.is_none());
            assert_eq!(p.client_says(b"again"), b"again", "{suite:?}");
            assert_eq!(p.server_says(&[b"back"]), b"back", "{suite:?}");
            // The client's close_notify ends the reading.
            p.client.send_close_notify();
            p.flush_client();
            let (plain, closed) = p.server_opens();
            assert!(
                plain.is_empty() && closed && p.server.peer_closed(),
                "{suite:?}"
            );
        }
    }

    #[test]
    fn a_key_update_from_the_client_is_followed_and_answered() {
        for suite in suites()
            .into_iter()
            .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls13(_)))
        {
            let mut p = pair(suite);
            for round in 0..3 {
                // rustls asks for the server's update too.
                p.client.refresh_traffic_keys().unwrap();
                let said = format!("after update {round}");
                assert_eq!(p.client_says(said.as_bytes()), said.as_bytes(), "{suite:?}");
                assert_eq!(p.server_says(&[b"answer"]), b"answer", "{suite:?}");
            }
            assert_eq!(p.server.rx.seq, 1, "{suite:?}");
        }
    }

    /// The client's first key share is X25519, which this server does not
    /// take: a HelloRetryRequest, and a second ClientHello with a new
    /// random. Its secrets still reach the records, and nothing of the
    /// handshake stays behind on the thread.
    #[test]
    fn a_hello_retry_request_handshake_keeps_its_secrets() {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let mut p = pair_with(suite, Some("P-256"));
        assert_eq!(
            p.client.handshake_kind(),
            Some(rustls::HandshakeKind::FullWithHelloRetryRequest)
        );
        p.client.refresh_traffic_keys().unwrap();
        assert_eq!(p.client_says(b"after retry"), b"after retry");
        assert_eq!(p.server_says(&[b"and back"]), b"and back");
        assert!(crate::tls::accept::nothing_logged());
    }

    #[test]
    fn a_run_of_records_without_data_is_cut_short() {
        for suite in suites() {
            let mut p = pair(suite);
            // Empty records, as many as allowed, then data resets the count.
            let mut fake = p.client_end();
            let mut bytes = Vec::new();
            for _ in 0..MAX_IDLE_RECORDS {
                record(&mut fake, APPLICATION_DATA, &[], &mut bytes);
            }
            fake.seal(&[b"data"], &mut bytes).unwrap();
            let o = p.server.open(&mut bytes).unwrap();
            assert_eq!(&bytes[..o.plain], b"data", "{suite:?}");
            // One more than allowed is refused.
            let mut flood = Vec::new();
            for _ in 0..=MAX_IDLE_RECORDS {
                record(&mut fake, APPLICATION_DATA, &[], &mut flood);
            }
            assert_eq!(
                p.server.open(&mut flood),
                Err(RecordError::Send(Alert::UnexpectedMessage)),
                "{suite:?}"
            );
        }
    }

    #[test]
    fn a_tls12_connection_keeps_its_last_record_for_the_closing_alert() {
        let suite = rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
        let mut p = pair(suite);
        p.server.tx.seq = AES_GCM_LIMIT - 1;
        let mut out = Vec::new();
        assert_eq!(p.server.seal(&[b"x"], &mut out), Err(Alert::CloseNotify));
        assert!(out.is_empty(), "nothing half-sealed is left");
        p.server.seal_alert(Alert::CloseNotify, &mut out).unwrap();
        assert!(!out.is_empty());
        let mut more = Vec::new();
        assert!(p.server.seal_alert(Alert::CloseNotify, &mut more).is_err());
    }

    #[test]
    fn requests_for_key_updates_owe_one_update_however_many_come() {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384;
        let mut p = pair(suite);
        // Many requests with nothing read back: nothing queues up.
        for _ in 0..30 {
            p.client.refresh_traffic_keys().unwrap();
            p.flush_client();
        }
        p.client.writer().write_all(b"then data").unwrap();
        p.flush_client();
        assert_eq!(p.server_opens().0, b"then data");
        assert_eq!(p.server.rx.seq, 1);
        assert!(p.server.owed);
        // One KeyUpdate goes before the next record; the client reads both.
        let mut out = Vec::new();
        p.server.seal(&[b"reply"], &mut out).unwrap();
        assert!(!p.server.owed);
        assert_eq!(out.len(), (5 + 5 + 1 + 16) + (5 + 5 + 1 + 16));
        p.deliver(&out);
        assert_eq!(std::mem::take(&mut p.got), b"reply");
    }

    #[test]
    fn a_key_reaching_its_limit_is_replaced_before_the_next_record() {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let mut p = pair(suite);
        // The client counts its own sequence numbers: bring both near
        // the limit in the server only, then see the update taken.
        let before = p.server.tx.material;
        p.server.tx.seq = AES_GCM_LIMIT - 1;
        let mut out = Vec::new();
        p.server.seal(&[b"x"], &mut out).unwrap();
        assert_ne!(p.server.tx.material, before);
        assert_eq!(p.server.tx.seq, 1);
        // A KeyUpdate record and the data record.
        assert_eq!(out.len(), (5 + 5 + 1 + 16) + (5 + 1 + 1 + 16));
    }

    #[test]
    fn a_key_update_in_pieces_is_put_together() {
        let suite = rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;
        let mut p = pair(suite);
        // Records the server makes as if from the client.
        let mut fake = p.client_end();
        let mut bytes = Vec::new();
        for piece in [&[KEY_UPDATE, 0][..], &[0, 1, 0][..]] {
            record(&mut fake, HANDSHAKE, piece, &mut bytes);
        }
        fake.tx = fake.tx.next(fake.version).unwrap();
        fake.live = None;
        fake.seal(&[b"new key"], &mut bytes).unwrap();
        let o = p.server.open(&mut bytes).unwrap();
        assert_eq!(&bytes[..o.plain], b"new key");
        assert!(!p.server.owed);
        // A KeyUpdate with more after it in its record is refused.
        let mut bad = Vec::new();
        record(&mut fake, HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, 0, 0], &mut bad);
        assert_eq!(
            p.server.open(&mut bad),
            Err(RecordError::Send(Alert::UnexpectedMessage))
        );
    }

    #[test]
    fn bad_records_are_refused_with_the_right_alert() {
        for suite in suites() {
            let mut p = pair(suite);
            p.client.writer().write_all(b"data").unwrap();
            p.flush_client();
            let mut tampered = p.to_server.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(
                p.server.open(&mut tampered),
                Err(RecordError::Send(Alert::BadRecordMac)),
                "{suite:?}"
            );
            // A header announcing more than a record may hold.
            let mut long = vec![APPLICATION_DATA, 3, 3, 0x48, 0x01];
            assert_eq!(
                p.server.open(&mut long),
                Err(RecordError::Send(Alert::RecordOverflow)),
                "{suite:?}"
            );
            // Half a record waits for the rest.
            let mut p = pair(suite);
            p.client.writer().write_all(b"data").unwrap();
            p.flush_client();
            let mut half = p.to_server[..p.to_server.len() / 2].to_vec();
            assert_eq!(p.server.open(&mut half).unwrap(), Opened::default());
            assert_eq!(p.server_opens().0, b"data");
        }
    }
}
