//! Mounts: what a vhost serves under a URL path (lwsws' `mounts`).
//!
//! A request is served by the mount with the longest mountpoint that is a
//! whole-segment prefix of its path (`/docs` serves `/docs` and `/docs/a`,
//! not `/docsx`). Files are read on the service thread, as lws does: reads of
//! cached pages cost less than a hop to a blocking pool.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};

use crate::assets;
use crate::http::{full, server_header, Body};

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Files under a directory (lwsws `file://`).
    Dir(PathBuf),
    /// The built-in test site, embedded in the binary.
    Embedded,
    /// A `301` redirect to this URL (lwsws `>https://...`).
    Redirect(String),
}

/// One mount of a vhost.
#[derive(Debug, Clone)]
pub struct Mount {
    pub(crate) mountpoint: String,
    pub(crate) origin: Origin,
    pub(crate) default_doc: String,
    pub(crate) cache_max_age: u32,
    pub(crate) cache_reuse: bool,
    pub(crate) cache_revalidate: bool,
    pub(crate) cache_intermediaries: bool,
    pub(crate) cache_no: bool,
    pub(crate) mimetypes: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) no_ws_upgrades: bool,
    pub(crate) append_path: bool,
}

impl Mount {
    /// Serves `origin` under `mountpoint` (a URL path such as `/` or `/docs`).
    pub fn new(mountpoint: &str, origin: Origin) -> Self {
        // Stored without the trailing slash; `/` is stored empty.
        let mut mp = mountpoint.trim_end_matches('/').to_string();
        if !mp.is_empty() && !mp.starts_with('/') {
            mp.insert(0, '/');
        }
        Mount {
            mountpoint: mp,
            origin,
            default_doc: "index.html".into(),
            cache_max_age: 0,
            cache_reuse: true,
            cache_revalidate: false,
            cache_intermediaries: false,
            cache_no: false,
            mimetypes: Vec::new(),
            headers: Vec::new(),
            no_ws_upgrades: false,
            append_path: false,
        }
    }

    /// Files from directory `dir` under `mountpoint`.
    pub fn dir(mountpoint: &str, dir: impl Into<PathBuf>) -> Self {
        Mount::new(mountpoint, Origin::Dir(dir.into()))
    }

    /// A `301` redirect of everything under `mountpoint` to `url`.
    pub fn redirect(mountpoint: &str, url: &str) -> Self {
        Mount::new(mountpoint, Origin::Redirect(url.into()))
    }

    /// The file served for a directory (default `index.html`).
    pub fn default_doc(mut self, name: &str) -> Self {
        self.default_doc = name.trim_start_matches('/').into();
        self
    }

    /// `Cache-Control: max-age=N` on files (0: no `Cache-Control`).
    pub fn cache_max_age(mut self, secs: u32) -> Self {
        self.cache_max_age = secs;
        self
    }

    /// Whether clients may keep what they get (off: `no-store`). Default on.
    pub fn cache_reuse(mut self, on: bool) -> Self {
        self.cache_reuse = on;
        self
    }

    /// Adds `must-revalidate` to the `max-age`.
    pub fn cache_revalidate(mut self, on: bool) -> Self {
        self.cache_revalidate = on;
        self
    }

    /// Lets shared caches keep files (`public` instead of `private`).
    pub fn cache_intermediaries(mut self, on: bool) -> Self {
        self.cache_intermediaries = on;
        self
    }

    /// `Cache-Control: no-store` on everything.
    pub fn cache_no(mut self, on: bool) -> Self {
        self.cache_no = on;
        self
    }

    /// The `Content-Type` for files ending in `ext` (`.zip` or `zip`),
    /// before the built-in table.
    pub fn mimetype(mut self, ext: &str, mime: &str) -> Self {
        self.mimetypes.push((
            ext.trim_start_matches('.').to_ascii_lowercase(),
            mime.into(),
        ));
        self
    }

    /// Adds a header to this mount's responses.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Refuses WebSocket upgrades under this mount (`403`).
    pub fn no_ws_upgrades(mut self, on: bool) -> Self {
        self.no_ws_upgrades = on;
        self
    }

    /// For redirects: append the path below the mountpoint (and the query)
    /// to the target URL instead of sending every request to the URL itself.
    pub fn append_path(mut self, on: bool) -> Self {
        self.append_path = on;
        self
    }

    /// The mountpoint, without a trailing `/` (except `/` itself).
    pub fn mountpoint(&self) -> &str {
        if self.mountpoint.is_empty() {
            "/"
        } else {
            &self.mountpoint
        }
    }
}

/// A mount as the service threads use it.
pub(crate) struct MountRt {
    /// Unique in the process: keys this mount's entries in the file cache.
    id: u64,
    /// Without a trailing `/`; empty for `/`.
    mountpoint: String,
    origin: Origin,
    default_doc: String,
    cache_control: Option<HeaderValue>,
    mimetypes: Vec<(String, HeaderValue)>,
    headers: HeaderMap,
    pub(crate) no_ws_upgrades: bool,
    append_path: bool,
}

impl MountRt {
    pub(crate) fn new(m: &Mount, vhost: &str) -> Result<Self, String> {
        let what = || format!("vhost {vhost}: mount {}", m.mountpoint());
        let cc = if m.cache_no || !m.cache_reuse {
            Some("no-store".to_string())
        } else if m.cache_max_age > 0 {
            Some(format!(
                "max-age={}, {}{}",
                m.cache_max_age,
                if m.cache_intermediaries {
                    "public"
                } else {
                    "private"
                },
                if m.cache_revalidate {
                    ", must-revalidate"
                } else {
                    ""
                }
            ))
        } else {
            None
        };
        let cache_control = cc
            .map(|c| HeaderValue::from_str(&c))
            .transpose()
            .map_err(|e| format!("{}: {e}", what()))?;
        let mut mimetypes = Vec::new();
        for (ext, mime) in &m.mimetypes {
            let v = HeaderValue::from_str(mime)
                .map_err(|_| format!("{}: bad mimetype {mime:?} for .{ext}", what()))?;
            mimetypes.push((ext.clone(), v));
        }
        if m.default_doc.is_empty() || m.default_doc.contains("..") {
            return Err(format!("{}: bad default {:?}", what(), m.default_doc));
        }
        if let Origin::Redirect(u) = &m.origin {
            HeaderValue::from_str(u).map_err(|_| format!("{}: bad redirect URL {u:?}", what()))?;
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(MountRt {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            mountpoint: m.mountpoint.clone(),
            origin: m.origin.clone(),
            default_doc: m.default_doc.clone(),
            cache_control,
            mimetypes,
            headers: crate::vhost::header_map(&format!("{vhost} {}", m.mountpoint()), &m.headers)?,
            no_ws_upgrades: m.no_ws_upgrades,
            append_path: m.append_path,
        })
    }
}

/// The mount serving `path` and the part of the path below its mountpoint
/// (empty, or starting with `/`).
pub(crate) fn find<'a>(mounts: &'a [MountRt], path: &'a str) -> Option<(&'a MountRt, &'a str)> {
    mounts
        .iter()
        .filter_map(|m| {
            let rest = path.strip_prefix(m.mountpoint.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        })
        .max_by_key(|(m, _)| m.mountpoint.len())
}

/// Serves `req_path` (with `query`) from the vhost's mounts; `None` when no
/// mount covers it.
pub(crate) fn serve(
    core: &crate::context::ThreadCore,
    mounts: &[MountRt],
    method: &Method,
    req_path: &str,
    query: Option<&str>,
    if_none_match: Option<&HeaderValue>,
) -> Option<Response<Body>> {
    let (m, rest) = find(mounts, req_path)?;
    let mut resp = match &m.origin {
        Origin::Redirect(to) => {
            let mut target = to.clone();
            if m.append_path {
                let tail = rest.trim_start_matches('/');
                if !tail.is_empty() {
                    if !target.ends_with('/') {
                        target.push('/');
                    }
                    target.push_str(tail);
                }
                if let Some(q) = query {
                    target.push('?');
                    target.push_str(q);
                }
            }
            redirect(core, StatusCode::MOVED_PERMANENTLY, &target)
        }
        _ if method != Method::GET && method != Method::HEAD => {
            let mut r =
                crate::http::simple(core, StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        // The mount's directory itself: send the client into it, so
        // relative links resolve below the mountpoint.
        _ if rest.is_empty() => into_dir(core, req_path, query),
        Origin::Embedded => {
            let name = if rest.ends_with('/') {
                format!("{rest}{}", m.default_doc)
            } else {
                rest.to_string()
            };
            match assets::get(&name) {
                Some((body, mime)) => {
                    let mut r = Response::new(full(Bytes::from_static(body)));
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
                    server_header(core, r.headers_mut());
                    r
                }
                None => return Some(not_found(core)),
            }
        }
        Origin::Dir(root) => match file(core, m, root, req_path, rest, query, if_none_match) {
            Some(r) => r,
            None => return Some(not_found(core)),
        },
    };
    let content = resp_is_content(resp.status());
    let h = resp.headers_mut();
    if content {
        if let Some(cc) = &m.cache_control {
            h.insert(header::CACHE_CONTROL, cc.clone());
        }
    }
    for (k, v) in &m.headers {
        h.append(k, v.clone());
    }
    Some(resp)
}

fn resp_is_content(s: StatusCode) -> bool {
    s == StatusCode::OK || s == StatusCode::NOT_MODIFIED
}

fn redirect(core: &crate::context::ThreadCore, status: StatusCode, to: &str) -> Response<Body> {
    let mut r = crate::http::simple(core, status, to);
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `301` to a directory's path with the trailing slash (and the query).
fn into_dir(
    core: &crate::context::ThreadCore,
    req_path: &str,
    query: Option<&str>,
) -> Response<Body> {
    let to = match query {
        Some(q) => format!("{req_path}/?{q}"),
        None => format!("{req_path}/"),
    };
    redirect(core, StatusCode::MOVED_PERMANENTLY, &to)
}

/// The built-in 404 page.
pub(crate) fn not_found(core: &crate::context::ThreadCore) -> Response<Body> {
    let (body, mime) = assets::get("/404.html").unwrap_or((b"404 Not Found\n", "text/plain"));
    let mut r = Response::new(full(Bytes::from_static(body)));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    server_header(core, r.headers_mut());
    r
}

/// A file of a directory mount; `None`: not found.
fn file(
    core: &crate::context::ThreadCore,
    m: &MountRt,
    root: &Path,
    req_path: &str,
    rest: &str,
    query: Option<&str>,
    if_none_match: Option<&HeaderValue>,
) -> Option<Response<Body>> {
    let Some(mut path) = resolve(root, rest) else {
        return Some(crate::http::simple(
            core,
            StatusCode::BAD_REQUEST,
            "bad path",
        ));
    };
    let mut meta = std::fs::metadata(&path).ok()?;
    if meta.is_dir() {
        if !rest.ends_with('/') {
            return Some(into_dir(core, req_path, query));
        }
        path.push(&m.default_doc);
        meta = std::fs::metadata(&path).ok()?;
    }
    if !meta.is_file() {
        return None;
    }
    let f = cached_file(m, path, &meta)?;
    let matches = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t.as_bytes() == f.etag.as_bytes() || t == "*")
        });
    let mut r = if matches {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(full(f.body.clone()))
    };
    let h = r.headers_mut();
    h.insert(header::ETAG, f.etag.clone());
    if !matches {
        h.insert(header::CONTENT_TYPE, f.content_type.clone());
    }
    server_header(core, h);
    Some(r)
}

/// A file's content and headers, as served.
#[derive(Clone)]
struct CachedFile {
    /// Identity of the version read: modification time, size, inode.
    version: (u128, u64, u64),
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
    map: std::collections::HashMap<(u64, PathBuf), CachedFile>,
    bytes: usize,
}

thread_local! {
    /// Per service thread: what was read, revalidated by every request's
    /// `stat` (a changed modification time, size or inode reads the file
    /// again), so a request for a cached file costs one system call. Files
    /// modified in the last two seconds are read every time.
    static FILE_CACHE: std::cell::RefCell<FileCache> = std::cell::RefCell::default();
}

fn cached_file(m: &MountRt, path: PathBuf, meta: &std::fs::Metadata) -> Option<CachedFile> {
    use std::os::unix::fs::MetadataExt;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let version = (mtime, meta.len(), meta.ino());
    let key = (m.id, path);
    let hit = FILE_CACHE.with(|c| {
        c.borrow()
            .map
            .get(&key)
            .filter(|f| f.version == version)
            .cloned()
    });
    if hit.is_some() {
        return hit;
    }
    let data = std::fs::read(&key.1).ok()?;
    let etag = HeaderValue::from_str(&format!("\"{:x}-{:x}\"", mtime, meta.len())).ok()?;
    let f = CachedFile {
        version,
        body: Bytes::from(data),
        etag,
        content_type: content_type(m, &key.1),
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
            if let Some(old) = c.map.remove(&key) {
                c.bytes -= old.body.len();
            }
            if c.bytes + f.body.len() > CACHE_TOTAL_MAX {
                c.map.clear();
                c.bytes = 0;
            }
            c.bytes += f.body.len();
            c.map.insert(key, f.clone());
        });
    }
    Some(f)
}

fn content_type(m: &MountRt, path: &Path) -> HeaderValue {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some((_, v)) = m.mimetypes.iter().find(|(e, _)| *e == ext) {
        return v.clone();
    }
    let mime = mime_guess::from_ext(&ext).first_or_octet_stream();
    HeaderValue::from_str(mime.essence_str())
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
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

    #[test]
    fn longest_whole_segment_mountpoint_wins() {
        let mounts: Vec<MountRt> = [
            Mount::dir("/", "/a"),
            Mount::dir("/docs/", "/b"),
            Mount::dir("/docs/api", "/c"),
        ]
        .iter()
        .map(|m| MountRt::new(m, "t").unwrap())
        .collect();
        let root_of = |p: &str| {
            find(&mounts, p).map(|(m, rest)| match &m.origin {
                Origin::Dir(d) => (d.to_string_lossy().to_string(), rest.to_string()),
                o => panic!("{o:?}"),
            })
        };
        assert_eq!(root_of("/x"), Some(("/a".into(), "/x".into())));
        assert_eq!(root_of("/docs"), Some(("/b".into(), "".into())));
        assert_eq!(root_of("/docs/"), Some(("/b".into(), "/".into())));
        assert_eq!(root_of("/docsx"), Some(("/a".into(), "/docsx".into())));
        assert_eq!(root_of("/docs/api/v1"), Some(("/c".into(), "/v1".into())));
        assert_eq!(root_of("/docs/apix"), Some(("/b".into(), "/apix".into())));
        let only_docs = vec![MountRt::new(&Mount::dir("/docs", "/b"), "t").unwrap()];
        assert!(find(&only_docs, "/other").is_none());
    }
}
