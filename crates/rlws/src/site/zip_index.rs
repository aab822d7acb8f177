//! The index of a zip archive (PKWARE APPNOTE 4.3): its end-of-central-
//! directory record (and the zip64 one), the central directory's entries,
//! and where each member's data starts after its local header.

use std::collections::HashMap;

/// One member of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    /// 0 stored, 8 deflated; others are not served.
    pub(crate) method: u16,
    /// General-purpose flags (bit 0: encrypted).
    pub(crate) flags: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed: u64,
    pub(crate) size: u64,
    /// Where its local header starts.
    pub(crate) header_at: u64,
}

impl Member {
    pub(crate) fn encrypted(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// Why an archive's index cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZipError(pub(crate) &'static str);

impl std::fmt::Display for ZipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// How far from its end an archive's end record can be: the record (22
/// bytes) and a comment of at most 65535.
pub(crate) const TAIL: u64 = 22 + 65_535;
/// The zip64 end record locator, just before the end record.
const LOCATOR: usize = 20;
/// The zip64 end record's fixed part.
const ZIP64_END: usize = 56;
/// A local header's fixed part.
pub(crate) const LOCAL_HEADER: usize = 30;
/// At most this many members are indexed.
const MAX_MEMBERS: u64 = 1 << 20;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Where the central directory is: `(offset, size, entries)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directory {
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) entries: u64,
}

/// What the end of an archive says: the directory, or (for zip64) the
/// offset of the zip64 end record, to be read and given to [`zip64_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Directory(Directory),
    Zip64At(u64),
}

/// Finds the end record in `tail`, the last bytes (up to [`TAIL`]) of an
/// archive `len` bytes long.
pub(crate) fn end_record(tail: &[u8], len: u64) -> Result<End, ZipError> {
    let bad = ZipError("no zip end-of-central-directory record");
    if tail.len() < 22 {
        return Err(bad);
    }
    // The last signature whose comment length reaches the end exactly.
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| {
            u32_at(tail, i) == Some(0x0605_4b50)
                && u16_at(tail, i + 20).is_some_and(|c| i + 22 + usize::from(c) == tail.len())
        })
        .ok_or(bad)?;
    let entries = u16_at(tail, at + 10).unwrap_or(0);
    let size = u32_at(tail, at + 12).unwrap_or(0);
    let offset = u32_at(tail, at + 16).unwrap_or(0);
    if entries == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
        // Zip64: the locator sits just before the end record.
        let loc = at
            .checked_sub(LOCATOR)
            .ok_or(ZipError("zip64 locator missing"))?;
        if u32_at(tail, loc) != Some(0x0706_4b50) {
            return Err(ZipError("zip64 locator missing"));
        }
        let end64 = u64_at(tail, loc + 8).ok_or(ZipError("zip64 locator cut short"))?;
        if end64.checked_add(ZIP64_END as u64).is_none_or(|e| e > len) {
            return Err(ZipError("zip64 end record outside the file"));
        }
        return Ok(End::Zip64At(end64));
    }
    let d = Directory {
        offset: u64::from(offset),
        size: u64::from(size),
        entries: u64::from(entries),
    };
    check(d, len)
}

/// The directory a zip64 end record (its first 56 bytes) names.
pub(crate) fn zip64_end(rec: &[u8], len: u64) -> Result<End, ZipError> {
    if u32_at(rec, 0) != Some(0x0606_4b50) {
        return Err(ZipError("bad zip64 end record"));
    }
    let d = Directory {
        entries: u64_at(rec, 32).ok_or(ZipError("zip64 end record cut short"))?,
        size: u64_at(rec, 40).ok_or(ZipError("zip64 end record cut short"))?,
        offset: u64_at(rec, 48).ok_or(ZipError("zip64 end record cut short"))?,
    };
    check(d, len)
}

fn check(d: Directory, len: u64) -> Result<End, ZipError> {
    if d.offset.checked_add(d.size).is_none_or(|e| e > len) {
        return Err(ZipError("central directory outside the file"));
    }
    if d.entries > MAX_MEMBERS || d.entries.saturating_mul(46) > d.size {
        return Err(ZipError("implausible number of members"));
    }
    Ok(End::Directory(d))
}

/// The members listed in a central directory (`cd`, its whole bytes), by
/// name (names that are not UTF-8 are left out: no URL can name them).
pub(crate) fn members(
    cd: &[u8],
    entries: u64,
    len: u64,
) -> Result<HashMap<String, Member>, ZipError> {
    let cut = ZipError("central directory entry cut short");
    let mut out = HashMap::with_capacity(entries.min(4096) as usize);
    let mut at = 0usize;
    for _ in 0..entries {
        if u32_at(cd, at) != Some(0x0201_4b50) {
            return Err(ZipError("bad central directory entry"));
        }
        let field16 = |o: usize| u16_at(cd, at + o).ok_or(cut.clone());
        let field32 = |o: usize| u32_at(cd, at + o).ok_or(cut.clone());
        let flags = field16(8)?;
        let method = field16(10)?;
        let crc32 = field32(16)?;
        let mut compressed = u64::from(field32(20)?);
        let mut size = u64::from(field32(24)?);
        let name_len = usize::from(field16(28)?);
        let extra_len = usize::from(field16(30)?);
        let comment_len = usize::from(field16(32)?);
        let mut header_at = u64::from(field32(42)?);
        let name_at = at + 46;
        let extra_at = name_at + name_len;
        let next = extra_at + extra_len + comment_len;
        let name = cd.get(name_at..extra_at).ok_or(cut.clone())?;
        let extra = cd.get(extra_at..extra_at + extra_len).ok_or(cut.clone())?;
        if next > cd.len() {
            return Err(cut);
        }
        // Zip64 extended information: 64-bit values for those saturated.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let n = usize::from(u16_at(extra, e + 2).unwrap_or(0));
            let data = extra
                .get(e + 4..e + 4 + n)
                .ok_or(ZipError("bad extra field"))?;
            if id == 0x0001 {
                let mut k = 0;
                for v in [&mut size, &mut compressed, &mut header_at] {
                    if *v == 0xFFFF_FFFF {
                        *v = u64_at(data, k).ok_or(ZipError("bad zip64 extra field"))?;
                        k += 8;
                    }
                }
            }
            e += 4 + n;
        }
        if header_at
            .checked_add(LOCAL_HEADER as u64 + compressed)
            .is_none_or(|end| end > len)
        {
            return Err(ZipError("member data outside the file"));
        }
        if let Ok(name) = std::str::from_utf8(name) {
            out.insert(
                name.to_string(),
                Member {
                    method,
                    flags,
                    crc32,
                    compressed,
                    size,
                    header_at,
                },
            );
        }
        at = next;
    }
    Ok(out)
}

/// Where a member's data starts, from its local header's fixed part.
pub(crate) fn data_at(local: &[u8], m: &Member, len: u64) -> Result<u64, ZipError> {
    if u32_at(local, 0) != Some(0x0403_4b50) {
        return Err(ZipError("bad local header"));
    }
    let n = u64::from(u16_at(local, 26).ok_or(ZipError("local header cut short"))?);
    let x = u64::from(u16_at(local, 28).ok_or(ZipError("local header cut short"))?);
    let at = m.header_at + LOCAL_HEADER as u64 + n + x;
    if at.checked_add(m.compressed).is_none_or(|e| e > len) {
        return Err(ZipError("member data outside the file"));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored archive of the given members, as `zip -0` writes one.
    pub(crate) fn archive(members: &[(&str, &[u8])], comment: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in members {
            let at = out.len() as u32;
            let crc = crc(data);
            let head = |sig: u32, central: bool| {
                let mut h = sig.to_le_bytes().to_vec();
                if central {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                h.extend_from_slice(&20u16.to_le_bytes()); // version needed
                h.extend_from_slice(&0u16.to_le_bytes()); // flags
                h.extend_from_slice(&0u16.to_le_bytes()); // stored
                h.extend_from_slice(&[0; 4]); // time, date
                h.extend_from_slice(&crc.to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes()); // extra
                if central {
                    h.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
                    h.extend_from_slice(&[0; 4]); // external attributes
                    h.extend_from_slice(&at.to_le_bytes());
                }
                h.extend_from_slice(name.as_bytes());
                h
            };
            out.extend(head(0x0403_4b50, false));
            out.extend_from_slice(data);
            cd.extend(head(0x0201_4b50, true));
        }
        let cd_at = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_at.to_le_bytes());
        out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        out.extend_from_slice(comment);
        out
    }

    fn crc(b: &[u8]) -> u32 {
        let mut c = flate2::Crc::new();
        c.update(b);
        c.sum()
    }

    fn index(z: &[u8]) -> Result<HashMap<String, Member>, ZipError> {
        let len = z.len() as u64;
        let tail_at = z.len().saturating_sub(TAIL as usize);
        let End::Directory(d) = end_record(&z[tail_at..], len)? else {
            panic!("no zip64 here");
        };
        members(
            &z[d.offset as usize..(d.offset + d.size) as usize],
            d.entries,
            len,
        )
    }

    #[test]
    fn members_and_their_data() {
        let z = archive(
            &[("a.txt", b"hello"), ("dir/b.bin", &[1, 2, 3])],
            b"a comment",
        );
        let m = index(&z).unwrap();
        assert_eq!(m.len(), 2);
        let a = &m["a.txt"];
        assert_eq!((a.method, a.size, a.compressed), (0, 5, 5));
        assert_eq!(a.crc32, crc(b"hello"));
        let at = data_at(&z[a.header_at as usize..], a, z.len() as u64).unwrap() as usize;
        assert_eq!(&z[at..at + 5], b"hello");
        let b = &m["dir/b.bin"];
        let at = data_at(&z[b.header_at as usize..], b, z.len() as u64).unwrap() as usize;
        assert_eq!(&z[at..at + 3], &[1, 2, 3]);
    }

    #[test]
    fn broken_archives_are_refused() {
        assert!(index(b"not a zip at all, just some bytes").is_err());
        let z = archive(&[("a.txt", b"hello")], b"");
        // Cut anywhere: refused, never a panic.
        for cut in 0..z.len() {
            let _ = index(&z[..cut]);
        }
        // A member pointing past the end.
        let mut bad = z.clone();
        let cd = bad.len() - 22 - (46 + 5);
        bad[cd + 42..cd + 46].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(index(&bad), Err(ZipError("member data outside the file")));
        // A count the directory cannot hold.
        let mut bad = z.clone();
        let n = bad.len() - 22 + 10;
        bad[n..n + 2].copy_from_slice(&500u16.to_le_bytes());
        assert!(index(&bad).is_err());
    }
}
