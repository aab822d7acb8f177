//! Entry points for the fuzz targets of the site layer's parsers (built
//! only under `cfg(fuzzing)`).

use super::cgi_head;
use super::range::{self, Ranges};

/// A CGI program's output head: any bytes give a verdict without
/// panicking; a head found is found again in the bytes it took, and every
/// shorter prefix of those is still waiting for more.
pub fn cgi_head(data: &[u8]) {
    if let Ok(Some((_, used))) = cgi_head::parse(data) {
        assert!(used <= data.len() && used <= cgi_head::MAX_HEAD);
        let again = cgi_head::parse(&data[..used]);
        assert!(matches!(again, Ok(Some((_, u))) if u == used));
        for cut in [0, used / 2, used - 1] {
            assert!(matches!(cgi_head::parse(&data[..cut]), Ok(None)));
        }
    }
}

/// A `Range` header for a representation whose length is the first eight
/// bytes: the ranges given lie inside it, in the order asked, and several
/// never add up to more than it.
pub fn ranges(data: &[u8]) {
    let Some((len, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let len = u64::from_le_bytes(*len) >> (len[0] % 64);
    match range::parse(value, len) {
        Ranges::Whole | Ranges::Unsatisfiable => {}
        Ranges::Parts(p) => {
            assert!(!p.is_empty() && len > 0);
            assert!(p.iter().all(|&(a, b)| a < b && b <= len));
            if p.len() > 1 {
                assert!(p.iter().map(|(a, b)| b - a).sum::<u64>() <= len);
            }
        }
    }
}

/// A zip archive's index: any bytes give members whose data lies inside
/// the archive, or an error, never a panic.
pub fn zip_index(data: &[u8]) {
    use super::zip_index::{data_at, end_record, members, zip64_end, End, TAIL};
    let len = data.len() as u64;
    let tail = &data[data.len().saturating_sub(TAIL as usize)..];
    let dir = match end_record(tail, len) {
        Ok(End::Directory(d)) => d,
        Ok(End::Zip64At(at)) => match data.get(at as usize..).map(|r| zip64_end(r, len)) {
            Some(Ok(End::Directory(d))) => d,
            _ => return,
        },
        Err(_) => return,
    };
    let cd = &data[dir.offset as usize..(dir.offset + dir.size) as usize];
    let Ok(found) = members(cd, dir.entries, len) else {
        return;
    };
    for m in found.values() {
        if let Some(Ok(at)) = data.get(m.header_at as usize..).map(|h| data_at(h, m, len)) {
            assert!(at + m.compressed <= len);
        }
    }
}

/// A form body (urlencoded when the first byte is even, else multipart with
/// boundary `b`): any bytes give events or an error, never a panic, and the
/// same ones whether the body comes whole or a byte at a time.
pub fn form(data: &[u8]) {
    use super::form::{Form, FormEvent, FormLimits};
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let ct = if first % 2 == 0 {
        "application/x-www-form-urlencoded"
    } else {
        "multipart/form-data; boundary=b"
    };
    let run = |step: usize| {
        let mut events = Vec::new();
        let mut on = |e: FormEvent<'_>| {
            events.push(match e {
                FormEvent::Field { name, value } => format!("f {name}={value}"),
                FormEvent::FileStart { name, filename, .. } => format!("s {name} {filename}"),
                // File data may be cut differently; its total is in FileEnd.
                FormEvent::FileData(_) => return Ok(()),
                FormEvent::FileEnd { size } => format!("e {size}"),
            });
            Ok(())
        };
        let limits = FormLimits {
            max_fields: 8,
            max_field: 256,
            max_file: 1024,
            max_part_head: 256,
        };
        let r = Form::new(ct, limits).and_then(|mut f| {
            for c in body.chunks(step) {
                f.feed(c, &mut on)?;
            }
            f.finish(&mut on)
        });
        (r.is_ok(), events)
    };
    let whole = run(body.len().max(1));
    let bytes = run(1);
    if whole.0 && bytes.0 {
        assert_eq!(whole.1, bytes.1);
    }
}

/// Chunked output (a CGI program's own framing): any bytes give data or an
/// error without panicking, and how the bytes are split into pieces never
/// changes the data or the verdict.
pub fn dechunk(data: &[u8]) {
    let whole = super::dechunk::decode_in_steps(data, data.len());
    for step in [1, 3, 7] {
        assert_eq!(super::dechunk::decode_in_steps(data, step), whole);
    }
    if let Ok((out, _)) = whole {
        assert!(out.len() <= data.len());
    }
}
