//! Members of zip archives served as files (lws' `fops-zip`): a path that
//! goes through `name.zip/` names a member. Stored members go out as they
//! are; deflated ones as gzip (the member's own deflate stream between a
//! gzip header and trailer, not recompressed) to clients that take gzip,
//! and inflated while sending to others. Nothing is unpacked to disk.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use super::encoding::accepts_gzip;
use super::file_body::{FileBody, Piece};
use super::response::{not_found, text, Body};
use super::zip_index::{self, End, Member, ZipError};

/// The archive a missing path goes through, and the member's name in it
/// (`/` separated; empty for the archive's top). Only archives at or below
/// `root` count.
pub(super) fn through_archive(root: &Path, path: &Path) -> Option<(PathBuf, String)> {
    for anc in path.ancestors().skip(1) {
        if !anc.starts_with(root) {
            break;
        }
        let is_zip = anc
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if is_zip && std::fs::metadata(anc).is_ok_and(|m| m.is_file()) {
            let rest = path.strip_prefix(anc).ok()?;
            let member: Vec<&str> = rest
                .components()
                .filter_map(|c| c.as_os_str().to_str())
                .collect();
            return Some((anc.to_path_buf(), member.join("/")));
        }
    }
    None
}

/// An archive's members, by name.
type Index = Rc<HashMap<String, Member>>;

/// The archives a service thread has read the index of, by path, with the
/// version read (modification time, size, inode).
type IndexCache = HashMap<PathBuf, ((u128, u64, u64), Index)>;

/// Archives whose index a service thread keeps at most.
const CACHED_ARCHIVES: usize = 64;

thread_local! {
    static INDEXES: RefCell<IndexCache> = RefCell::default();
}

/// Reads the index of the archive open as `file`.
fn read_index(file: &std::fs::File, len: u64) -> Result<HashMap<String, Member>, ZipError> {
    let io = |_| ZipError("cannot read the archive");
    let tail_len = len.min(zip_index::TAIL);
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, len - tail_len).map_err(io)?;
    let dir = match zip_index::end_record(&tail, len)? {
        End::Directory(d) => d,
        End::Zip64At(at) => {
            let mut rec = [0u8; 56];
            file.read_exact_at(&mut rec, at).map_err(io)?;
            match zip_index::zip64_end(&rec, len)? {
                End::Directory(d) => d,
                End::Zip64At(_) => return Err(ZipError("bad zip64 end record")),
            }
        }
    };
    let mut cd = vec![0u8; dir.size as usize];
    file.read_exact_at(&mut cd, dir.offset).map_err(io)?;
    zip_index::members(&cd, dir.entries, len)
}

/// The index of `archive` at `version`, from the thread's cache or read now.
fn index(
    archive: &Path,
    file: &std::fs::File,
    meta: &std::fs::Metadata,
    version: (u128, u64, u64),
) -> Result<Index, ZipError> {
    let hit = INDEXES.with(|c| {
        c.borrow()
            .get(archive)
            .filter(|(v, _)| *v == version)
            .map(|(_, i)| i.clone())
    });
    if let Some(i) = hit {
        return Ok(i);
    }
    let i = Rc::new(read_index(file, meta.len())?);
    INDEXES.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHED_ARCHIVES {
            c.clear();
        }
        c.insert(archive.to_path_buf(), (version, i.clone()));
    });
    Ok(i)
}

/// What a member request needs from the files origin.
pub(super) struct Asked<'a> {
    pub(super) headers: &'a HeaderMap,
    pub(super) default_doc: &'a str,
    /// The URL path ended with `/`.
    pub(super) dir: bool,
    pub(super) content_type: &'a dyn Fn(&str) -> HeaderValue,
}

/// How a member goes out, with its entity tag.
pub(super) struct Representation {
    pub(super) etag: HeaderValue,
    pub(super) last_modified: Option<HeaderValue>,
    /// The archive's modification time, whole seconds.
    pub(super) modified: Option<u64>,
    pub(super) content_type: HeaderValue,
    /// Sent as gzip (`Content-Encoding: gzip`).
    pub(super) gzip: bool,
    /// Deflated in the archive: the answer varies with `Accept-Encoding`.
    pub(super) varies: bool,
    body: Plan,
}

enum Plan {
    Stored { at: u64, len: u64 },
    Gzip { at: u64, m: Member },
    Inflate { at: u64, m: Member },
}

/// Finds `member` of `archive` and how it would be sent, or the answer
/// when it cannot be (`404`, `500` for a broken archive, `501` for a
/// compression method other than stored and deflate, `403` encrypted).
pub(super) fn find(
    archive: &Path,
    member: &str,
    ask: &Asked<'_>,
    version_of: impl Fn(&std::fs::Metadata) -> (u128, u64, u64),
) -> Result<(Representation, std::fs::File), Box<Response<Body>>> {
    let file = std::fs::File::open(archive).map_err(|_| Box::new(not_found()))?;
    let meta = file.metadata().map_err(|_| Box::new(not_found()))?;
    let version = version_of(&meta);
    let idx = index(archive, &file, &meta, version).map_err(|e| {
        tracing::warn!(archive = %archive.display(), error = %e, "unreadable zip archive");
        Box::new(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unreadable archive",
        ))
    })?;
    let doc = |dir: &str| {
        if dir.is_empty() {
            ask.default_doc.to_string()
        } else {
            format!("{dir}/{}", ask.default_doc)
        }
    };
    let name = if ask.dir || member.is_empty() {
        doc(member)
    } else {
        member.to_string()
    };
    let m = match idx.get(&name) {
        Some(m) => m.clone(),
        None => return Err(Box::new(not_found())),
    };
    if name.ends_with('/') {
        return Err(Box::new(not_found()));
    }
    if m.encrypted() {
        return Err(Box::new(text(
            StatusCode::FORBIDDEN,
            "encrypted archive member",
        )));
    }
    let mut local = [0u8; zip_index::LOCAL_HEADER];
    file.read_exact_at(&mut local, m.header_at).map_err(|_| {
        Box::new(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unreadable archive",
        ))
    })?;
    let at = zip_index::data_at(&local, &m, meta.len()).map_err(|e| {
        tracing::warn!(archive = %archive.display(), member = %name, error = %e, "broken zip member");
        Box::new(text(StatusCode::INTERNAL_SERVER_ERROR, "broken archive member"))
    })?;
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let gzip = m.method == 8 && accepts_gzip(ask.headers);
    let tag = format!(
        "\"{:x}-{:x}-{:x}{}\"",
        version.0,
        version.1,
        m.crc32,
        if gzip { "-gz" } else { "" }
    );
    let body = match m.method {
        0 => Plan::Stored { at, len: m.size },
        8 if gzip => Plan::Gzip { at, m: m.clone() },
        8 => Plan::Inflate { at, m: m.clone() },
        n => {
            return Err(Box::new(text(
                StatusCode::NOT_IMPLEMENTED,
                &format!("archive member compressed with method {n}, which rlws cannot send"),
            )))
        }
    };
    let modified = meta.modified().ok().and_then(super::conditional::seconds);
    let last_modified = modified.map(super::conditional::last_modified);
    Ok((
        Representation {
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\"")),
            last_modified,
            modified,
            content_type: (ask.content_type)(ext),
            gzip,
            varies: m.method == 8,
            body,
        },
        file,
    ))
}

impl Representation {
    /// The member's bytes as a response body.
    pub(super) fn body(&self, file: std::fs::File) -> Body {
        match &self.body {
            Plan::Stored { at, len } => FileBody::new(
                Some(Box::new(file)),
                VecDeque::from([Piece::File { at: *at, len: *len }]),
            )
            .boxed_unsync(),
            Plan::Gzip { at, m } => {
                // RFC 1952: deflate, no flags, no time, unknown OS.
                const HEAD: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
                let mut trailer = Vec::with_capacity(8);
                trailer.extend_from_slice(&m.crc32.to_le_bytes());
                trailer.extend_from_slice(&(m.size as u32).to_le_bytes());
                let pieces = VecDeque::from([
                    Piece::Mem(Bytes::from_static(&HEAD)),
                    Piece::File {
                        at: *at,
                        len: m.compressed,
                    },
                    Piece::Mem(Bytes::from(trailer)),
                ]);
                FileBody::new(Some(Box::new(file)), pieces).boxed_unsync()
            }
            Plan::Inflate { at, m } => Inflate {
                file,
                at: *at,
                left_in: m.compressed,
                left_out: m.size,
                z: flate2::Decompress::new(false),
                input: Vec::new(),
                used: 0,
                crc: flate2::Crc::new(),
                want_crc: m.crc32,
            }
            .boxed_unsync(),
        }
    }
}

/// Compressed bytes read from the archive per piece.
const INFLATE_IN: usize = 64 * 1024;
/// Inflated bytes per frame at most.
const INFLATE_OUT: usize = 128 * 1024;

/// A deflated member, inflated as the client reads, its CRC-32 checked.
struct Inflate {
    file: std::fs::File,
    at: u64,
    left_in: u64,
    left_out: u64,
    z: flate2::Decompress,
    input: Vec<u8>,
    used: usize,
    crc: flate2::Crc,
    want_crc: u32,
}

fn broken(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("zip member: {why}"),
    )
}

impl Inflate {
    fn next(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.left_out == 0 {
            return if self.crc.sum() == self.want_crc {
                None
            } else {
                Some(Err(broken("CRC-32 mismatch")))
            };
        }
        loop {
            if self.used == self.input.len() && self.left_in > 0 {
                let n = self.left_in.min(INFLATE_IN as u64) as usize;
                self.input.resize(n, 0);
                if let Err(e) = self.file.read_exact_at(&mut self.input, self.at) {
                    return Some(Err(e));
                }
                self.at += n as u64;
                self.left_in -= n as u64;
                self.used = 0;
            }
            let want = (self.left_out.min(INFLATE_OUT as u64)) as usize;
            let mut out = Vec::with_capacity(want);
            let before = self.z.total_in();
            let status = self.z.decompress_vec(
                &self.input[self.used..],
                &mut out,
                flate2::FlushDecompress::None,
            );
            self.used += (self.z.total_in() - before) as usize;
            let status = match status {
                Ok(s) => s,
                Err(_) => return Some(Err(broken("bad deflate data"))),
            };
            if !out.is_empty() {
                self.crc.update(&out);
                self.left_out -= out.len() as u64;
                return Some(Ok(Bytes::from(out)));
            }
            let no_input = self.used == self.input.len() && self.left_in == 0;
            if status == flate2::Status::StreamEnd || no_input {
                return Some(Err(broken("shorter than its size")));
            }
        }
    }
}

impl http_body::Body for Inflate {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(self.next().map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left_out)
    }
}
