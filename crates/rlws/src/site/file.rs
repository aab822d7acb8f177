//! Files of a directory mount: traversal-proof paths, the MIME table, ETags
//! and conditional requests, and the per-thread cache of small files.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use http::Method;
use http_body_util::BodyExt;

use super::origin::{BoxFuture, Origin, OriginRequest};
use super::redirect::into_directory;
use super::response::{full, not_found, text, Body};
use crate::runtime::sendfile;

/// Files under a directory (lwsws' `file://` origins): the mount's default
/// document for directories, ETags and `If-None-Match`, the MIME table with
/// the mount's own types first, and paths that cannot leave the directory.
///
/// Files up to 2 MiB are kept in a per-thread cache revalidated by one
/// `stat` per request; larger ones are streamed from the file in 256 KiB
/// pieces as the client takes them, never read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "LWSMPRO_FILE")]
pub struct Files {
    root: PathBuf,
}

impl Files {
    /// Files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Files { root: root.into() }
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
        let Ok(mut meta) = std::fs::metadata(&path) else {
            return not_found();
        };
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
        let version = version_of(&meta);
        // A cached file brings its validator and type; others get them made.
        let cached =
            (meta.len() <= CACHE_FILE_MAX).then(|| cached_file(req, &path, &meta, version));
        let (etag, ctype) = match &cached {
            Some(Ok(f)) => (f.etag.clone(), f.content_type.clone()),
            Some(Err(())) => return not_found(),
            None => (etag_of(version), content_type(req, &path)),
        };
        let inm = req.request().headers().get(header::IF_NONE_MATCH);
        if inm.is_some_and(|v| etag_matches(v, &etag)) {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r.headers_mut().insert(header::ETAG, etag);
            return r;
        }
        let body = match cached {
            Some(Ok(f)) => full(f.body),
            _ => match std::fs::File::open(&path) {
                Ok(f) => FileBody::new(f, meta.len()).boxed_unsync(),
                Err(_) => return not_found(),
            },
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(header::ETAG, etag);
        h.insert(header::CONTENT_TYPE, ctype);
        r
    }
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
    // Hex digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{:x}-{:x}\"", v.0, v.1))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn etag_matches(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    if_none_match.to_str().is_ok_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t.as_bytes() == etag.as_bytes() || t == "*")
    })
}

/// A large file's body: read in pieces as hyper asks for them, so memory
/// stays at one piece per connection and a slow client slows the reads.
struct FileBody {
    file: std::fs::File,
    remaining: u64,
}

/// Bytes read per piece of a streamed file.
const PIECE: u64 = 256 * 1024;

impl FileBody {
    fn new(file: std::fs::File, len: u64) -> Self {
        FileBody {
            file,
            remaining: len,
        }
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use std::io::Read;
        if self.remaining == 0 {
            return std::task::Poll::Ready(None);
        }
        let want = self.remaining.min(PIECE);
        // Read into fresh capacity: the file fills it, nothing zeroes it first.
        let mut buf = Vec::with_capacity(want as usize);
        let res = match (&mut self.file).take(want).read_to_end(&mut buf) {
            // The file shrank under us: end the body short (the length sent
            // no longer holds, and the client sees the connection end).
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            )),
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(http_body::Frame::data(Bytes::from(buf)))
            }
            Err(e) => Err(e),
        };
        std::task::Poll::Ready(Some(res))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// A file's content and headers, as served.
#[derive(Clone)]
struct CachedFile {
    /// Identity of the version read: modification time, size, inode.
    version: Version,
    body: Bytes,
    etag: HeaderValue,
    content_type: HeaderValue,
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

/// The file at `path` of this version, from the thread's cache or read
/// now (and kept when it has settled); `Err` when it cannot be read.
fn cached_file(
    req: &OriginRequest<'_>,
    path: &Path,
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
    let mut file = std::fs::File::open(path).map_err(|_| ())?;
    let mut data = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut file, &mut data).map_err(|_| ())?;
    let f = CachedFile {
        version,
        body: Bytes::from(data),
        etag: etag_of(version),
        content_type: content_type(req, path),
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
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
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
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
