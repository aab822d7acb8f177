//! Files of a directory mount: traversal-proof paths, the MIME table, ETags
//! and conditional requests, and the per-thread cache of small files.

use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::mount::MountRt;
use super::response::{full, text, Body};
use super::serve::into_dir;

/// A file of a directory mount; `None`: not found.
pub(super) fn file(
    m: &MountRt,
    root: &Path,
    req_path: &str,
    rest: &str,
    query: Option<&str>,
    if_none_match: Option<&HeaderValue>,
) -> Option<Response<Body>> {
    let Some(mut path) = resolve(root, rest) else {
        return Some(text(StatusCode::BAD_REQUEST, "bad path"));
    };
    let mut meta = std::fs::metadata(&path).ok()?;
    if meta.is_dir() {
        if !rest.ends_with('/') {
            return Some(into_dir(req_path, query));
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
}
