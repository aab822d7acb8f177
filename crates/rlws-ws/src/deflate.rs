//! permessage-deflate (RFC 7692): negotiation and per-message compression.
//!
//! * [`negotiate_server`] picks the first acceptable offer from a client's
//!   `Sec-WebSocket-Extensions` and builds the response header;
//!   [`client_offer`] / [`client_accept`] are the client side.
//! * [`Deflater`] compresses one whole message at a time (sync flush, the
//!   trailing `00 00 FF FF` removed); [`Inflater`] inflates a message piece by
//!   piece with a hard bound on the inflated size, so a small frame that
//!   inflates past the message limit is refused, never buffered.
//!
//! Window sizes: zlib cannot deflate with an 8-bit window (it silently uses
//! 9), so an offer that requires our compressor to use 8 bits is declined
//! (servers) or answered by sending uncompressed messages (clients). Inflating
//! always uses a 15-bit window, which reads streams made with any smaller one.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension token.
pub const NAME: &str = "permessage-deflate";

/// Local preferences for permessage-deflate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask the server to reset its compressor after each message (saves the
    /// server's compression state between messages; costs ratio).
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after each message.
    pub client_no_context_takeover: bool,
    /// Largest window (9–15) the server's compressor may use.
    pub server_max_window_bits: u8,
    /// Largest window (9–15) the client's compressor may use.
    pub client_max_window_bits: u8,
    /// zlib level 0–9.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed.
    pub min_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            min_size: 0,
        }
    }
}

/// What was agreed for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compressor window.
    pub server_max_window_bits: u8,
    /// The client's compressor window.
    pub client_max_window_bits: u8,
}

#[derive(Debug, Default)]
struct Offer {
    snct: bool,
    cnct: bool,
    smwb: Option<u8>,
    /// `Some(None)`: offered without a value.
    cmwb: Option<Option<u8>>,
}

/// Splits a header value into extensions, each a list of `(name, value)`
/// parameters, the first being the extension name. Commas and semicolons
/// inside quoted strings are kept.
fn parse_extensions(value: &str) -> Vec<Vec<(String, Option<String>)>> {
    let mut exts = Vec::new();
    let mut cur: Vec<(String, Option<String>)> = Vec::new();
    let mut token = String::new();
    let mut in_quotes = false;
    let push_param = |tok: &mut String, cur: &mut Vec<(String, Option<String>)>| {
        let t = tok.trim();
        if !t.is_empty() {
            match t.split_once('=') {
                Some((k, v)) => {
                    let v = v.trim().trim_matches('"').to_string();
                    cur.push((k.trim().to_ascii_lowercase(), Some(v)));
                }
                None => cur.push((t.to_ascii_lowercase(), None)),
            }
        }
        tok.clear();
    };
    for c in value.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                token.push(c);
            }
            ';' if !in_quotes => push_param(&mut token, &mut cur),
            ',' if !in_quotes => {
                push_param(&mut token, &mut cur);
                if !cur.is_empty() {
                    exts.push(std::mem::take(&mut cur));
                }
            }
            _ => token.push(c),
        }
    }
    push_param(&mut token, &mut cur);
    if !cur.is_empty() {
        exts.push(cur);
    }
    exts
}

fn window_value(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Parses one permessage-deflate offer; `None` if any parameter is unknown,
/// repeated or malformed.
fn parse_offer(params: &[(String, Option<String>)]) -> Option<Offer> {
    let mut o = Offer::default();
    for (k, v) in params {
        match (k.as_str(), v) {
            ("server_no_context_takeover", None) if !o.snct => o.snct = true,
            ("client_no_context_takeover", None) if !o.cnct => o.cnct = true,
            ("server_max_window_bits", Some(v)) if o.smwb.is_none() => {
                o.smwb = Some(window_value(v)?)
            }
            ("client_max_window_bits", None) if o.cmwb.is_none() => o.cmwb = Some(None),
            ("client_max_window_bits", Some(v)) if o.cmwb.is_none() => {
                o.cmwb = Some(Some(window_value(v)?))
            }
            _ => return None,
        }
    }
    Some(o)
}

/// Server side: the first acceptable permessage-deflate offer in `header`
/// (a `Sec-WebSocket-Extensions` value, possibly several offers), and the
/// response header value. `None`: no offer can be accepted; answer without
/// the extension.
pub fn negotiate_server(header: &str, cfg: &DeflateConfig) -> Option<(Params, String)> {
    for ext in parse_extensions(header) {
        if ext.first().map(|(n, _)| n.as_str()) != Some(NAME) || ext[0].1.is_some() {
            continue;
        }
        let Some(offer) = parse_offer(&ext[1..]) else {
            continue;
        };
        let our_max = cfg.server_max_window_bits.clamp(9, 15);
        let smwb = match offer.smwb {
            Some(8) => continue, // zlib cannot compress with a 256-byte window
            Some(w) => w.min(our_max),
            None => our_max,
        };
        let cmwb = match offer.cmwb {
            Some(Some(w)) => w.min(cfg.client_max_window_bits.clamp(8, 15)),
            Some(None) => cfg.client_max_window_bits.clamp(8, 15),
            None => 15,
        };
        let p = Params {
            server_no_context_takeover: offer.snct || cfg.server_no_context_takeover,
            client_no_context_takeover: offer.cnct || cfg.client_no_context_takeover,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        };
        let mut resp = String::from(NAME);
        if p.server_no_context_takeover {
            resp.push_str("; server_no_context_takeover");
        }
        if p.client_no_context_takeover {
            resp.push_str("; client_no_context_takeover");
        }
        if offer.smwb.is_some() || smwb < 15 {
            resp.push_str(&format!("; server_max_window_bits={smwb}"));
        }
        if offer.cmwb.is_some() && (cmwb < 15 || matches!(offer.cmwb, Some(Some(_)))) {
            resp.push_str(&format!("; client_max_window_bits={cmwb}"));
        }
        return Some((p, resp));
    }
    None
}

/// Client side: the offer to send.
pub fn client_offer(cfg: &DeflateConfig) -> String {
    let mut s = String::from(NAME);
    if cfg.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if cfg.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if cfg.server_max_window_bits < 15 {
        s.push_str(&format!(
            "; server_max_window_bits={}",
            cfg.server_max_window_bits.clamp(9, 15)
        ));
    }
    s.push_str("; client_max_window_bits");
    s
}

/// Client side: checks the server's response to [`client_offer`]. `Ok(None)`:
/// the server did not accept the extension.
pub fn client_accept(
    header: Option<&str>,
    cfg: &DeflateConfig,
) -> Result<Option<Params>, &'static str> {
    let Some(h) = header else { return Ok(None) };
    let exts = parse_extensions(h);
    let mut found = None;
    for ext in exts {
        if ext.first().map(|(n, _)| n.as_str()) != Some(NAME) {
            return Err("server accepted an extension that was not offered");
        }
        if found.is_some() {
            return Err("server accepted permessage-deflate twice");
        }
        let o = parse_offer(&ext[1..]).ok_or("malformed permessage-deflate response")?;
        let cmwb = match o.cmwb {
            Some(None) => return Err("client_max_window_bits without a value in the response"),
            Some(Some(w)) => w,
            None => 15,
        };
        let smwb = o.smwb.unwrap_or(15);
        if cfg.server_max_window_bits < 15 && smwb > cfg.server_max_window_bits {
            return Err("server_max_window_bits larger than offered");
        }
        if cfg.server_no_context_takeover && !o.snct {
            return Err("server ignored server_no_context_takeover");
        }
        found = Some(Params {
            server_no_context_takeover: o.snct,
            client_no_context_takeover: o.cnct || cfg.client_no_context_takeover,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        });
    }
    Ok(found)
}

/// Compresses whole messages.
pub struct Deflater {
    c: Option<Compress>,
    window: u8,
    level: u32,
    reset_each: bool,
    /// A message was compressed since the last [`Deflater::release`].
    used: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("window", &self.window)
            .field("level", &self.level)
            .finish()
    }
}

/// The compressed data could not be inflated, or inflates past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// Inflated size exceeds the limit (close with 1009).
    TooBig,
    /// Not a valid deflate stream (close with 1007).
    Corrupt,
}

impl Deflater {
    /// A compressor with a `window`-bit window (9–15; 8 is raised to 9, so
    /// never negotiate 8 for a stream this compresses), resetting after each
    /// message when `no_context_takeover`. The zlib state is allocated on
    /// first use.
    pub fn new(window: u8, level: u32, no_context_takeover: bool) -> Self {
        Deflater {
            c: None,
            window: window.clamp(9, 15),
            level: level.min(9),
            reset_each: no_context_takeover,
            used: false,
        }
    }

    /// Whether compressor state is reset after each message.
    pub fn no_context_takeover(&self) -> bool {
        self.reset_each
    }

    /// Changes the compression level (0–9) from the next message.
    pub fn set_level(&mut self, level: u32) {
        if level.min(9) != self.level {
            self.level = level.min(9);
            if let Some(c) = self.c.as_mut() {
                let _ = c.set_level(Compression::new(self.level));
            }
        }
    }

    /// Called between messages at a steady interval (a driver's sweep):
    /// frees the zlib state when it is reset after each message anyway (no
    /// context takeover), or, with context takeover, when no message was
    /// compressed since the previous call. It is made again on next use.
    ///
    /// Forgetting the context is always allowed to the compressing side:
    /// a fresh compressor refers back only to what it wrote itself, which
    /// the peer's inflater also holds, so the peer reads on unchanged. Only
    /// the first message after a quiet interval compresses without the
    /// earlier ones' history; in exchange an idle connection keeps none of
    /// the compressor's state (about 256 KiB at a 15-bit window).
    ///
    /// True when a zlib state was freed.
    pub fn release(&mut self) -> bool {
        let freed = (self.reset_each || !self.used) && self.c.take().is_some();
        self.used = false;
        freed
    }

    /// True while the zlib state is allocated.
    pub fn is_allocated(&self) -> bool {
        self.c.is_some()
    }

    /// Appends the compressed form of `data` (one whole message) to `out`.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let (window, level) = (self.window, self.level);
        self.used = true;
        let c = self.c.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, window)
        });
        let start_in = c.total_in();
        let start_out = c.total_out();
        out.reserve(data.len() / 2 + 64);
        loop {
            let used = (c.total_in() - start_in) as usize;
            // An error here can only be a zlib-internal problem; the output stays as is.
            if c.compress_vec(&data[used..], out, FlushCompress::Sync)
                .is_err()
            {
                break;
            }
            let used = (c.total_in() - start_in) as usize;
            if used == data.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        let start = out.len() - (c.total_out() - start_out) as usize;
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            // zlib emits nothing for an empty message right after a flush; the
            // receiver appends 00 00 FF FF, which needs this empty stored
            // block header in front to parse (RFC 7692 7.2.3.6).
            out.push(0);
        }
        if self.reset_each {
            c.reset();
        }
    }
}

/// Inflates messages piece by piece with a size bound.
pub struct Inflater {
    d: Option<Decompress>,
    reset_each: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each", &self.reset_each)
            .finish()
    }
}

const TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];

impl Inflater {
    /// An inflater (15-bit window, reads any smaller one), resetting after
    /// each message when the peer compresses with `no_context_takeover`.
    pub fn new(no_context_takeover: bool) -> Self {
        Inflater {
            d: None,
            reset_each: no_context_takeover,
        }
    }

    /// Frees the zlib state between messages when it is reset after each
    /// one anyway (no context takeover); it is made again on next use.
    /// True when a zlib state was freed.
    pub fn release(&mut self) -> bool {
        self.reset_each && self.d.take().is_some()
    }

    /// True while the zlib state is allocated.
    pub fn is_allocated(&self) -> bool {
        self.d.is_some()
    }

    /// Inflates `input` (part of a compressed message), appending to `out`,
    /// which must not grow past `limit` bytes.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let d = self
            .d
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
        let start_in = d.total_in();
        loop {
            let used = (d.total_in() - start_in) as usize;
            if out.len() == out.capacity() {
                if out.len() > limit {
                    return Err(InflateError::TooBig);
                }
                // Grow geometrically, but never past limit + 1 (to detect "too big").
                let want = out.capacity().max(1024).min(limit + 1 - out.len());
                out.reserve_exact(want.max(1));
            }
            let before = out.len();
            let st = d
                .decompress_vec(&input[used..], out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let used_now = (d.total_in() - start_in) as usize;
            let progressed = out.len() > before || used_now > used;
            if matches!(st, Status::StreamEnd) {
                return Err(InflateError::Corrupt);
            }
            if used_now == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if !progressed && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }

    /// Ends a message (feeds the removed `00 00 FF FF`).
    pub fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        self.inflate(&TAIL, out, limit)?;
        if self.reset_each {
            if let Some(d) = self.d.as_mut() {
                d.reset(false);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_state_is_released_only_without_context_takeover() {
        let text = b"the same words, the same words, the same words".repeat(20);
        for takeover in [false, true] {
            let (mut d, mut i) = (Deflater::new(15, 6, !takeover), Inflater::new(!takeover));
            for round in 0..3 {
                let mut z = Vec::new();
                d.compress(&text, &mut z);
                let mut out = Vec::new();
                i.inflate(&z, &mut out, 1 << 20).unwrap();
                i.finish(&mut out, 1 << 20).unwrap();
                assert_eq!(out, text, "round {round}, takeover {takeover}");
                assert!(d.is_allocated() && i.is_allocated());
                d.release();
                i.release();
                // With context takeover the inflater's state is the
                // context: it stays. The compressor's stays for one quiet
                // interval.
                assert_eq!(d.is_allocated(), takeover);
                assert_eq!(i.is_allocated(), takeover);
            }
        }
    }

    #[test]
    fn a_compressor_that_forgets_its_context_stays_readable() {
        let text = b"words that repeat, words that repeat, and some that do not".repeat(8);
        let (mut d, mut i) = (Deflater::new(15, 6, false), Inflater::new(false));
        let mut sizes = Vec::new();
        for round in 0..6 {
            let mut z = Vec::new();
            d.compress(&text, &mut z);
            sizes.push(z.len());
            let mut out = Vec::new();
            i.inflate(&z, &mut out, 1 << 20).unwrap();
            i.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(out, text, "round {round}");
            match round {
                // Used since the last interval: the context stays.
                1 => {
                    d.release();
                    assert!(d.is_allocated());
                }
                // Quiet for a whole interval: forgotten.
                3 => {
                    d.release();
                    d.release();
                    assert!(!d.is_allocated());
                }
                _ => {}
            }
        }
        // With the context, a repeated message is a back-reference; after
        // forgetting, the first one is compressed from scratch again.
        assert!(sizes[1] < sizes[0] / 4, "{sizes:?}");
        assert_eq!(sizes[4], sizes[0], "{sizes:?}");
        assert!(sizes[5] < sizes[0] / 4, "{sizes:?}");
        assert!(i.is_allocated());
    }

    #[test]
    fn server_negotiation() {
        let cfg = DeflateConfig::default();
        let (p, r) = negotiate_server("permessage-deflate; client_max_window_bits", &cfg).unwrap();
        assert_eq!(r, "permessage-deflate");
        assert_eq!(p.server_max_window_bits, 15);
        let (p, r) = negotiate_server(
            "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
            &cfg,
        )
        .unwrap();
        assert_eq!(
            r,
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"
        );
        assert!(p.client_no_context_takeover && p.server_max_window_bits == 10);
        let (_, r) = negotiate_server(
            "permessage-deflate; client_max_window_bits=9; server_no_context_takeover",
            &cfg,
        )
        .unwrap();
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"
        );
        let (_, r) =
            negotiate_server("permessage-deflate;server_max_window_bits=\"12\"", &cfg).unwrap();
        assert_eq!(r, "permessage-deflate; server_max_window_bits=12");
        for bad in [
            "permessage-deflate; foo",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=0x0f",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate=1",
        ] {
            assert_eq!(negotiate_server(bad, &cfg), None, "{bad}");
        }
        let ours = DeflateConfig {
            server_no_context_takeover: true,
            server_max_window_bits: 11,
            ..Default::default()
        };
        let (_, r) = negotiate_server("permessage-deflate", &ours).unwrap();
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"
        );
    }

    #[test]
    fn client_side() {
        let cfg = DeflateConfig::default();
        assert_eq!(
            client_offer(&cfg),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(client_accept(None, &cfg), Ok(None));
        let p = client_accept(
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
            &cfg,
        )
        .unwrap()
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(p.client_max_window_bits, 10);
        assert!(client_accept(Some("permessage-deflate; bogus"), &cfg).is_err());
        assert!(client_accept(Some("foo"), &cfg).is_err());
        assert!(client_accept(Some("permessage-deflate, permessage-deflate"), &cfg).is_err());
    }

    fn roundtrip(msgs: &[Vec<u8>], window: u8, nct: bool) {
        let mut d = Deflater::new(window, 6, nct);
        let mut i = Inflater::new(nct);
        for m in msgs {
            let mut c = Vec::new();
            d.compress(m, &mut c);
            let mut out = Vec::new();
            for piece in c.chunks(7) {
                i.inflate(piece, &mut out, 1 << 24).unwrap();
            }
            i.finish(&mut out, 1 << 24).unwrap();
            assert_eq!(&out, m);
        }
    }

    #[test]
    fn compress_inflate_roundtrips() {
        let msgs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"".to_vec(),
            b"x".to_vec(),
            b"".to_vec(),
            b"Hello".to_vec(),
            b"Hello".repeat(1000),
            (0..100_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            b"Hello".to_vec(),
        ];
        for w in [9, 12, 15] {
            roundtrip(&msgs, w, false);
            roundtrip(&msgs, w, true);
        }
    }

    #[test]
    fn inflate_bound_refuses_bombs() {
        let mut d = Deflater::new(15, 9, false);
        let mut c = Vec::new();
        d.compress(&vec![0u8; 10 << 20], &mut c);
        assert!(
            c.len() < 20_000,
            "10 MiB of zeros compress small: {}",
            c.len()
        );
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        assert_eq!(i.inflate(&c, &mut out, 1 << 20), Err(InflateError::TooBig));
        assert!(
            out.capacity() <= (1 << 20) + 1 + 1024,
            "buffered {}",
            out.capacity()
        );
        let mut i = Inflater::new(false);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00], &mut out, 1000),
            Err(InflateError::Corrupt)
        );
    }
}
