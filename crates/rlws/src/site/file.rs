//! Files of a directory mount: traversal-proof paths, the MIME table,
//! validators, conditional and range requests, pre-compressed siblings, and
//! the per-thread cache of small files.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use http::Method;
use http_body_util::BodyExt;

use super::conditional::{self, Validators, Verdict};
use super::encoding::accepts_gzip;
use super::file_body::{FileBody, Piece};
use super::file_ops::{FileOps, FileRead, FileStat};
use super::origin::{BoxFuture, Origin, OriginRequest};
use super::range::{self, Ranges};
use super::redirect::into_directory;
use super::response::{full, not_found, text, Body};
use super::zip;
use crate::runtime::sendfile;

/// Files under a directory (lwsws' `file://` origins): the mount's default
/// document for directories, the MIME table with the mount's own types
/// first, and paths that cannot leave the directory.
///
/// * `ETag` and `Last-Modified`, with `If-None-Match`, `If-Modified-Since`,
///   `If-Match` and `If-Unmodified-Since` answered `304` or `412` (RFC 9110).
/// * `Range` on `GET`: one range as `206` with `Content-Range`, several as
///   `multipart/byteranges`, none that fits `416`; `If-Range` honoured.
/// * A pre-compressed sibling `name.gz` is sent, with `Content-Encoding:
///   gzip` and `Vary: Accept-Encoding`, to clients that take gzip.
///
/// Files up to 2 MiB are kept in a per-thread cache revalidated by one
/// `stat` per request (two for a client taking gzip); larger ones are
/// streamed from the file in 256 KiB pieces as the client takes them,
/// never read whole.
///
/// [`Files::with_ops`] serves files from somewhere else, through
/// [`FileOps`] of your own.
#[derive(Debug, Clone)]
#[doc(alias = "LWSMPRO_FILE")]
pub struct Files {
    root: PathBuf,
    /// Not the disk's own files: no cache, `sendfile` or archives.
    ops: Option<Arc<dyn FileOps>>,
}

impl Files {
    /// Files under the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Files {
            root: root.into(),
            ops: None,
        }
    }

    /// Files under `root` as `ops` has them (lws' `lws_plat_file_ops`):
    /// every `stat` and `open` goes to `ops`, with paths under `root`.
    #[doc(alias = "lws_plat_file_ops")]
    pub fn with_ops(root: impl Into<PathBuf>, ops: impl FileOps) -> Self {
        Files {
            root: root.into(),
            ops: Some(Arc::new(ops)),
        }
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn answer(&self, req: &OriginRequest<'_>) -> Response<Body> {
        let method = req.request().method();
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed();
        }
        let rest = req.path_in_mount();
        if rest.is_empty() {
            return into_directory(req);
        }
        let Some(mut path) = resolve(&self.root, rest) else {
            return text(StatusCode::BAD_REQUEST, "bad path");
        };
        if let Some(ops) = &self.ops {
            return answer_through(req, &**ops, path);
        }
        let Ok(mut meta) = std::fs::metadata(&path) else {
            // A path through `name.zip/`: a member of that archive.
            return match zip::through_archive(&self.root, &path) {
                Some((archive, member)) => member_of(req, &archive, &member, rest.ends_with('/')),
                None => not_found(),
            };
        };
        let is_zip = || {
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
        };
        if meta.is_file() && rest.ends_with('/') && (is_zip() || path == self.root) {
            // The mount's origin is an archive itself, or `name.zip/`: the
            // archive's top.
            return member_of(req, &path, "", true);
        }
        if meta.is_dir() {
            if !rest.ends_with('/') {
                return into_directory(req);
            }
            path.push(req.default_document());
            match std::fs::metadata(&path) {
                Ok(m) => meta = m,
                Err(_) => return not_found(),
            }
        }
        if !meta.is_file() {
            return not_found();
        }
        let headers = req.request().headers();
        let asks = Asks::of(headers);
        // A pre-compressed sibling (`name.gz`) for clients that take gzip.
        let gz = if asks.encoding && accepts_gzip(headers) {
            gzip_sibling(&path)
        } else {
            None
        };
        let encoded = gz.is_some();
        let (from, meta) = match gz {
            Some(g) => g,
            None => (path.clone(), meta),
        };
        let version = version_of(&meta);
        // A cached file brings its validator and type; others get them made.
        let cached =
            (meta.len() <= CACHE_FILE_MAX).then(|| cached_file(req, &from, &path, &meta, version));
        let modified = meta.modified().ok().and_then(conditional::seconds);
        // A file that could not be read as it was stat'ed (it changed in
        // between) is sent from the file, as large ones are.
        let (etag, ctype, last_modified, source) = match cached.and_then(Result::ok) {
            Some(f) => (f.etag, f.content_type, f.last_modified, Source::Mem(f.body)),
            None => match std::fs::File::open(&from) {
                Ok(file) => (
                    etag_of(version),
                    content_type(req, &path),
                    modified.map(conditional::last_modified),
                    Source::File(Box::new(file)),
                ),
                Err(_) => return not_found(),
            },
        };
        respond(
            req,
            &asks,
            Rep {
                len: meta.len(),
                encoded,
                etag,
                ctype,
                last_modified,
                modified,
                source,
            },
        )
    }
}

/// A file's version as it is answered: its validators and type, and where
/// its bytes come from.
struct Rep {
    len: u64,
    /// The bytes are a `.gz` sibling's.
    encoded: bool,
    etag: HeaderValue,
    ctype: HeaderValue,
    last_modified: Option<HeaderValue>,
    modified: Option<u64>,
    source: Source,
}

/// The answer for `rep` to `req`: `304` / `412` by the preconditions,
/// `416` or `206` by the ranges, else the whole file.
fn respond(req: &OriginRequest<'_>, asks: &Asks, rep: Rep) -> Response<Body> {
    let Rep {
        len,
        encoded,
        etag,
        ctype,
        last_modified,
        modified,
        source,
    } = rep;
    let headers = req.request().headers();
    let method = req.request().method();
    let verdict = if asks.conditions {
        preconditions(headers, &etag, modified)
    } else {
        Ok(true)
    };
    let mut r = match verdict {
        Err(r) => *r,
        Ok(range) => {
            let ranges = match headers.get(header::RANGE).filter(|_| asks.range) {
                // Not of compressed bytes: nginx does not either, and a
                // client resuming a download wants the file's bytes.
                Some(v) if range && method == Method::GET && !encoded => {
                    range::parse(v.as_bytes(), len)
                }
                _ => Ranges::Whole,
            };
            match ranges {
                Ranges::Unsatisfiable => return unsatisfiable(len),
                Ranges::Whole => {
                    let body = match source {
                        Source::Mem(b) => full(b),
                        Source::File(f) => {
                            let all = Piece::File { at: 0, len };
                            FileBody::new(Some(f), VecDeque::from([all])).boxed_unsync()
                        }
                    };
                    let mut r = Response::new(body);
                    r.headers_mut().insert(header::CONTENT_TYPE, ctype);
                    r
                }
                Ranges::Parts(parts) => partial(source, &parts, len, ctype),
            }
        }
    };
    if r.status() == StatusCode::PRECONDITION_FAILED {
        return r;
    }
    validators_on(&mut r, etag, last_modified);
    if r.status() == StatusCode::OK && !encoded {
        r.headers_mut()
            .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if encoded {
        let h = r.headers_mut();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    r
}

/// [`Files::answer`] for files that `ops` has: the same answers, without
/// the disk's cache and archives.
fn answer_through(req: &OriginRequest<'_>, ops: &dyn FileOps, mut path: PathBuf) -> Response<Body> {
    let rest = req.path_in_mount();
    let failed = |e: std::io::Error, path: &Path| match e.kind() {
        std::io::ErrorKind::NotFound => not_found(),
        std::io::ErrorKind::PermissionDenied => text(StatusCode::FORBIDDEN, "forbidden"),
        _ => {
            tracing::warn!(path = %path.display(), error = %e, "file operations failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "file error")
        }
    };
    let mut stat = match ops.stat(&path) {
        Ok(s) => s,
        Err(e) => return failed(e, &path),
    };
    if stat.is_dir {
        if !rest.ends_with('/') {
            return into_directory(req);
        }
        path.push(req.default_document());
        stat = match ops.stat(&path) {
            Ok(s) if !s.is_dir => s,
            Ok(_) => return not_found(),
            Err(e) => return failed(e, &path),
        };
    }
    let headers = req.request().headers();
    let asks = Asks::of(headers);
    // A pre-compressed sibling (`name.gz`) for clients that take gzip.
    let gz = if asks.encoding && accepts_gzip(headers) {
        gz_path(&path).and_then(|gz| match ops.stat(&gz) {
            Ok(s) if !s.is_dir => Some((gz, s)),
            _ => None,
        })
    } else {
        None
    };
    let encoded = gz.is_some();
    let (from, stat) = gz.unwrap_or_else(|| (path.clone(), stat));
    let file = match ops.open(&from) {
        Ok(f) => f,
        Err(e) => return failed(e, &from),
    };
    let modified = stat.modified.and_then(conditional::seconds);
    respond(
        req,
        &asks,
        Rep {
            len: stat.len,
            encoded,
            etag: etag_of_stat(&stat),
            ctype: content_type(req, &path),
            last_modified: modified.map(conditional::last_modified),
            modified,
            source: Source::File(file),
        },
    )
}

/// The `ETag` of what [`FileOps::stat`] said: modification time, length,
/// and the version when there is one.
fn etag_of_stat(s: &FileStat) -> HeaderValue {
    let mtime = s
        .modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    etag(mtime, s.len, s.version)
}

/// Which of the fields a file answer depends on a request has, found in one
/// pass over its header names (most requests have none of them).
struct Asks {
    /// `If-*`.
    conditions: bool,
    range: bool,
    encoding: bool,
}

impl Asks {
    fn of(h: &http::HeaderMap) -> Asks {
        let mut a = Asks {
            conditions: false,
            range: false,
            encoding: false,
        };
        for k in h.keys() {
            let k = k.as_str();
            a.conditions |= k.starts_with("if-");
            a.range |= k == "range";
            a.encoding |= k == "accept-encoding";
        }
        a
    }
}

/// Applies a request's preconditions to a file version: `Ok` with whether
/// a `Range` may apply, or `Err` with the `304` / `412` answer.
fn preconditions(
    headers: &http::HeaderMap,
    etag: &HeaderValue,
    modified: Option<u64>,
) -> Result<bool, Box<Response<Body>>> {
    match conditional::evaluate(headers, true, &Validators { etag, modified }) {
        Verdict::Proceed { range } => Ok(range),
        Verdict::NotModified => {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            Err(Box::new(r))
        }
        Verdict::Failed => Err(Box::new(text(
            StatusCode::PRECONDITION_FAILED,
            "precondition failed",
        ))),
    }
}

/// Puts a version's `ETag` and `Last-Modified` on its answer.
fn validators_on(r: &mut Response<Body>, etag: HeaderValue, last_modified: Option<HeaderValue>) {
    let h = r.headers_mut();
    h.insert(header::ETAG, etag);
    if let Some(lm) = last_modified {
        h.insert(header::LAST_MODIFIED, lm);
    }
}

/// A member of a zip archive (lws' `fops-zip`), with its validators and
/// preconditions; no ranges.
fn member_of(req: &OriginRequest<'_>, archive: &Path, member: &str, dir: bool) -> Response<Body> {
    let headers = req.request().headers();
    let types = |ext: &str| content_type_ext(req, ext);
    let ask = zip::Asked {
        headers,
        default_doc: req.default_document(),
        dir,
        content_type: &types,
    };
    let (rep, file) = match zip::find(archive, member, &ask, version_of) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let mut r = match preconditions(headers, &rep.etag, rep.modified) {
        Err(r) if r.status() == StatusCode::PRECONDITION_FAILED => return *r,
        Err(r) => *r,
        Ok(_) => {
            let mut r = Response::new(rep.body(file));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, rep.content_type.clone());
            r
        }
    };
    let h = r.headers_mut();
    if rep.gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if rep.varies {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    validators_on(&mut r, rep.etag.clone(), rep.last_modified.clone());
    r
}

/// `name.gz` beside `path`, when it is a file.
fn gzip_sibling(path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    let gz = gz_path(path)?;
    let meta = std::fs::metadata(&gz).ok()?;
    meta.is_file().then_some((gz, meta))
}

/// `name.gz` beside `path`.
fn gz_path(path: &Path) -> Option<PathBuf> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".gz");
    Some(path.with_file_name(name))
}

/// Where a file response's bytes come from: the thread's cache or the file.
enum Source {
    Mem(Bytes),
    File(Box<dyn FileRead>),
}

impl Source {
    fn piece(&self, (a, b): (u64, u64)) -> Piece {
        match self {
            Source::Mem(m) => {
                // Ranges are of the stat'ed length, which the bytes have.
                let end = m.len();
                Piece::Mem(m.slice((a as usize).min(end)..(b as usize).min(end)))
            }
            Source::File(_) => Piece::File { at: a, len: b - a },
        }
    }

    fn into_file(self) -> Option<Box<dyn FileRead>> {
        match self {
            Source::Mem(_) => None,
            Source::File(f) => Some(f),
        }
    }
}

/// `416` for a representation of `len` bytes.
fn unsatisfiable(len: u64) -> Response<Body> {
    let mut r = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

/// `206` with one range, or several as `multipart/byteranges`.
fn partial(source: Source, parts: &[(u64, u64)], len: u64, ctype: HeaderValue) -> Response<Body> {
    let content_range = |(a, b): (u64, u64)| format!("bytes {a}-{}/{len}", b - 1);
    let (pieces, ctype, single) = if let [one] = parts {
        (
            VecDeque::from([source.piece(*one)]),
            ctype,
            Some(content_range(*one)),
        )
    } else {
        let boundary = boundary();
        let t = ctype.to_str().unwrap_or("application/octet-stream");
        let mut pieces = VecDeque::with_capacity(parts.len() * 2 + 1);
        for (i, &p) in parts.iter().enumerate() {
            let lead = if i == 0 { "" } else { "\r\n" };
            let head = format!(
                "{lead}--{boundary}\r\nContent-Type: {t}\r\nContent-Range: {}\r\n\r\n",
                content_range(p)
            );
            pieces.push_back(Piece::Mem(Bytes::from(head)));
            pieces.push_back(source.piece(p));
        }
        pieces.push_back(Piece::Mem(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
        let mt = HeaderValue::from_str(&format!("multipart/byteranges; boundary={boundary}"))
            .unwrap_or_else(|_| HeaderValue::from_static("multipart/byteranges"));
        (pieces, mt, None)
    };
    let mut r = Response::new(FileBody::new(source.into_file(), pieces).boxed_unsync());
    *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, ctype);
    if let Some(cr) = single.and_then(|s| HeaderValue::from_str(&s).ok()) {
        h.insert(header::CONTENT_RANGE, cr);
    }
    r
}

/// A multipart boundary: 24 random hex digits, so no file can be written
/// to contain the boundary of its own answer.
fn boundary() -> String {
    random_hex::<12>()
}

/// `N` random bytes as hex digits: from the system's random source, or a
/// counter if it fails (it does not on Linux).
pub(super) fn random_hex<const N: usize>() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = COUNT
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes();
        for (d, s) in b.iter_mut().zip(n) {
            *d = s;
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Origin for Files {
    fn serve<'a>(&'a self, req: OriginRequest<'a>) -> BoxFuture<'a, Response<Body>> {
        Box::pin(std::future::ready(self.answer(&req)))
    }
}

/// `405` naming the methods a file origin answers.
pub(crate) fn method_not_allowed() -> Response<Body> {
    let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// Identity of a file's version: modification time, size, inode.
type Version = (u128, u64, u64);

fn version_of(meta: &std::fs::Metadata) -> Version {
    use std::os::unix::fs::MetadataExt;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (mtime, meta.len(), meta.ino())
}

fn etag_of(v: Version) -> HeaderValue {
    etag(v.0, v.1, 0)
}

/// `"mtime-len"`, or `"mtime-len-version"` when there is a version, in hex.
fn etag(mtime: u128, len: u64, version: u64) -> HeaderValue {
    let tag = match version {
        0 => format!("\"{mtime:x}-{len:x}\""),
        v => format!("\"{mtime:x}-{len:x}-{v:x}\""),
    };
    // Hex digits and quotes only: always a valid header value.
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// A file's content and headers, as served.
#[derive(Clone)]
struct CachedFile {
    /// Identity of the version read: modification time, size, inode.
    version: Version,
    body: Bytes,
    etag: HeaderValue,
    content_type: HeaderValue,
    /// `Last-Modified`, made once.
    last_modified: Option<HeaderValue>,
}

/// Files up to this size are kept in the service thread's cache.
const CACHE_FILE_MAX: u64 = 2 << 20;
/// Bytes of file content a service thread keeps at most.
const CACHE_TOTAL_MAX: usize = 32 << 20;

#[derive(Default)]
struct FileCache {
    /// By mount, then path.
    map: std::collections::HashMap<u64, std::collections::HashMap<PathBuf, CachedFile>>,
    bytes: usize,
}

thread_local! {
    /// Per service thread: what was read, revalidated by every request's
    /// `stat` (a changed modification time, size or inode reads the file
    /// again), so a request for a cached file costs one system call. Files
    /// modified in the last two seconds are read every time.
    static FILE_CACHE: std::cell::RefCell<FileCache> = std::cell::RefCell::default();
}

/// The file at `path` (typed as `type_of`) of this version, from the thread's cache or read
/// now (and kept when it has settled); `Err` when it cannot be read.
fn cached_file(
    req: &OriginRequest<'_>,
    path: &Path,
    type_of: &Path,
    meta: &std::fs::Metadata,
    version: Version,
) -> Result<CachedFile, ()> {
    let hit = FILE_CACHE.with(|c| {
        let c = c.borrow();
        // Looked up by borrowed parts: no key is built for a hit.
        c.map
            .get(&req.mount_id())
            .and_then(|m| m.get(path))
            .filter(|f| f.version == version)
            .cloned()
    });
    if let Some(f) = hit {
        return Ok(f);
    }
    let file = std::fs::File::open(path).map_err(|_| ())?;
    let mut data = Vec::with_capacity(meta.len() as usize);
    // One byte more than stat'ed tells a file that grew from one that did not.
    let mut limited = std::io::Read::take(&file, meta.len() + 1);
    std::io::Read::read_to_end(&mut limited, &mut data).map_err(|_| ())?;
    if data.len() as u64 != meta.len() {
        return Err(());
    }
    let f = CachedFile {
        version,
        body: Bytes::from(data),
        etag: etag_of(version),
        content_type: content_type(req, type_of),
        last_modified: meta
            .modified()
            .ok()
            .and_then(conditional::seconds)
            .map(conditional::last_modified),
    };
    // A file changed in the last two seconds could change again within the
    // file system's timestamp granularity without its version changing
    // (same size, same modification time): such files are not kept until
    // they have been still for a while (git's "racily clean" rule).
    let settled = meta
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= std::time::Duration::from_secs(2));
    if settled && meta.len() <= CACHE_FILE_MAX && f.body.len() as u64 == meta.len() {
        FILE_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            let mount = req.mount_id();
            if let Some(old) = c.map.get_mut(&mount).and_then(|m| m.remove(path)) {
                c.bytes -= old.body.len();
                sendfile::unregister(&old.body);
            }
            if c.bytes + f.body.len() > CACHE_TOTAL_MAX {
                for old in c.map.drain().flat_map(|(_, m)| m.into_values()) {
                    sendfile::unregister(&old.body);
                }
                c.bytes = 0;
            }
            c.bytes += f.body.len();
            // Large files go out from the file on plain TCP, when it is
            // still the version read (it is checked again before each send).
            if let Ok(m) = file.metadata() {
                if version_of(&m) == version {
                    sendfile::register(&f.body, file, &m);
                }
            }
            c.map
                .entry(mount)
                .or_default()
                .insert(path.to_path_buf(), f.clone());
            Ok(f)
        })
    } else {
        Ok(f)
    }
}

fn content_type(req: &OriginRequest<'_>, path: &Path) -> HeaderValue {
    content_type_ext(req, path.extension().and_then(|e| e.to_str()).unwrap_or(""))
}

/// The `Content-Type` of files ending in `.ext`: the mount's, else the table's.
fn content_type_ext(req: &OriginRequest<'_>, ext: &str) -> HeaderValue {
    if let Some(v) = req.mimetype(ext) {
        return v.clone();
    }
    // mime_guess' table is static text: no copy, no parse.
    HeaderValue::from_static(
        mime_guess::from_ext(ext)
            .first_raw()
            .unwrap_or("application/octet-stream"),
    )
}

/// Maps a URL path into `root`, refusing anything that could leave it.
pub(crate) fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for c in Path::new(&decoded).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(percent_decode_bytes(s.as_bytes(), false)?).ok()
}

/// `%XX` escapes replaced by their bytes (and `+` by a space when
/// `plus_is_space`, as in form bodies); `None` for a broken escape.
pub(super) fn percent_decode_bytes(b: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' && plus_is_space {
            out.push(b' ');
            i += 1;
        } else if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_traversal() {
        let root = Path::new("/srv/www");
        assert_eq!(
            resolve(root, "/a/b.html"),
            Some(PathBuf::from("/srv/www/a/b.html"))
        );
        assert_eq!(resolve(root, "/"), Some(PathBuf::from("/srv/www")));
        assert_eq!(
            resolve(root, "/a/%20b"),
            Some(PathBuf::from("/srv/www/a/ b"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/etc"), None);
        assert_eq!(resolve(root, "/a%00b"), None);
        assert_eq!(resolve(root, "/a%5c..%5cb"), None);
        assert_eq!(resolve(root, "/%zz"), None);
    }
}
