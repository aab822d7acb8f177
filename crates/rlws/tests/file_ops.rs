//! `Files::with_ops`: files from a `FileOps` of the user's own (lws'
//! `lws_plat_file_ops`), with everything HTTP does with files, and the
//! disk's own operations (`Disk`) wrapped to change what they do.

mod common;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{ask, serve_mounts, tempdir};
use rlws::{Disk, FileOps, FileRead, FileStat, Files, Mount};

/// A file's content and version.
type Held = (Arc<[u8]>, u64);

/// Files held in memory, with a version number each.
#[derive(Debug, Default)]
struct Store {
    files: Mutex<HashMap<PathBuf, Held>>,
    opened: Mutex<Vec<PathBuf>>,
}

/// The store as a `FileOps` (the test keeps the other handle).
#[derive(Debug, Clone)]
struct Memory(Arc<Store>);

/// Every file of the store was modified then.
fn when() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

impl Memory {
    fn put(&self, path: &str, data: &[u8], version: u64) {
        self.0
            .files
            .lock()
            .unwrap()
            .insert(PathBuf::from(path), (Arc::from(data), version));
    }
}

struct MemFile(Arc<[u8]>);

impl FileRead for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let from = (offset as usize).min(self.0.len());
        // Short reads, as a real store may give: at most 100 000 bytes.
        let n = buf.len().min(self.0.len() - from).min(100_000);
        buf[..n].copy_from_slice(&self.0[from..from + n]);
        Ok(n)
    }
}

impl FileOps for Memory {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        let name = path.to_string_lossy();
        if name.ends_with("/secret") {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "no"));
        }
        if name.ends_with("/broken") {
            return Err(io::Error::other("the store is down"));
        }
        let files = self.0.files.lock().unwrap();
        if let Some((data, version)) = files.get(path) {
            return Ok(FileStat {
                is_dir: false,
                len: data.len() as u64,
                modified: Some(when()),
                version: *version,
            });
        }
        if files.keys().any(|k| k.starts_with(path)) {
            return Ok(FileStat {
                is_dir: true,
                len: 0,
                modified: None,
                version: 0,
            });
        }
        Err(io::ErrorKind::NotFound.into())
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FileRead>> {
        self.0.opened.lock().unwrap().push(path.to_path_buf());
        let files = self.0.files.lock().unwrap();
        let (data, _) = files.get(path).ok_or(io::ErrorKind::NotFound)?;
        Ok(Box::new(MemFile(data.clone())))
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[tokio::test]
async fn files_from_a_store_of_ones_own_get_everything_files_do() {
    let store = Memory(Arc::default());
    store.put("/site/index.html", b"<p>home</p>", 1);
    store.put("/site/docs/a.txt", b"0123456789", 1);
    store.put("/site/app.js", b"let x = 1;", 1);
    store.put("/site/app.js.gz", b"\x1f\x8bpretend-gzip", 1);
    let big = pattern(600_000);
    store.put("/site/big.bin", &big, 1);
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/",
        Files::with_ops("/site", store.clone()),
    )]);

    // The default document, its type, validators and Accept-Ranges.
    let home = ask(addr, "GET", "/", &[]).await;
    assert_eq!(home.status, 200);
    assert_eq!(home.body, b"<p>home</p>");
    assert_eq!(home.header("content-type"), Some("text/html"));
    assert_eq!(home.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        home.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    let etag = home.header("etag").expect("an ETag").to_string();

    // Conditional requests.
    let again = ask(addr, "GET", "/", &[("If-None-Match", &etag)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));
    let since = ask(
        addr,
        "GET",
        "/",
        &[("If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT")],
    )
    .await;
    assert_eq!(since.status, 304);
    // A new version (same length and time) is a new ETag.
    store.put("/site/index.html", b"<p>HOME</p>", 2);
    let changed = ask(addr, "GET", "/", &[("If-None-Match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, b"<p>HOME</p>");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));

    // A directory without its slash, and one without a default document.
    let docs = ask(addr, "GET", "/docs", &[]).await;
    assert_eq!(docs.status, 301);
    assert_eq!(docs.header("location"), Some("/docs/"));
    assert_eq!(ask(addr, "GET", "/docs/", &[]).await.status, 404);

    // Ranges, one and several.
    let one = ask(addr, "GET", "/docs/a.txt", &[("Range", "bytes=2-5")]).await;
    assert_eq!(one.status, 206);
    assert_eq!(one.body, b"2345");
    assert_eq!(one.header("content-range"), Some("bytes 2-5/10"));
    let two = ask(addr, "GET", "/docs/a.txt", &[("Range", "bytes=0-0,-2")]).await;
    assert_eq!(two.status, 206);
    let parts = two.parts();
    assert_eq!(parts.len(), 2, "{two:?}");
    assert_eq!(parts[0].2, b"0");
    assert_eq!(parts[1].2, b"89");
    let none = ask(addr, "GET", "/docs/a.txt", &[("Range", "bytes=50-")]).await;
    assert_eq!(none.status, 416);

    // The gzip sibling for clients that take it, the file for others.
    let gz = ask(addr, "GET", "/app.js", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert_eq!(gz.header("content-type"), Some("text/javascript"));
    assert_eq!(gz.body, b"\x1f\x8bpretend-gzip");
    let plain = ask(addr, "GET", "/app.js", &[]).await;
    assert_eq!(plain.body, b"let x = 1;");
    assert_eq!(plain.header("content-encoding"), None);

    // A large file comes in pieces, whole and as a range near its end.
    let all = ask(addr, "GET", "/big.bin", &[]).await;
    assert_eq!(all.status, 200);
    assert!(all.body == big, "the whole file");
    let tail = ask(addr, "GET", "/big.bin", &[("Range", "bytes=599990-")]).await;
    assert_eq!(tail.body, &big[599_990..]);

    // HEAD: the length, no body.
    let head = ask(addr, "HEAD", "/big.bin", &[]).await;
    assert_eq!(head.header("content-length"), Some("600000"));
    assert!(head.body.is_empty());

    // The store's errors.
    assert_eq!(ask(addr, "GET", "/missing", &[]).await.status, 404);
    assert_eq!(ask(addr, "GET", "/secret", &[]).await.status, 403);
    assert_eq!(ask(addr, "GET", "/broken", &[]).await.status, 500);
    // Paths that would leave the root never reach the store.
    assert_eq!(ask(addr, "GET", "/docs/../../etc", &[]).await.status, 400);
    let opened = store.0.opened.lock().unwrap().clone();
    assert!(opened.iter().all(|p| p.starts_with("/site")), "{opened:?}");
    assert!(opened.contains(&PathBuf::from("/site/app.js.gz")));
}

/// The disk's operations, refusing key files and noting what is opened.
#[derive(Debug, Clone, Default)]
struct Audited {
    opened: Arc<Mutex<Vec<PathBuf>>>,
}

impl FileOps for Audited {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        if path.extension().is_some_and(|e| e == "key") {
            return Err(io::ErrorKind::PermissionDenied.into());
        }
        Disk.stat(path)
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FileRead>> {
        self.opened.lock().unwrap().push(path.to_path_buf());
        Disk.open(path)
    }
}

#[tokio::test]
async fn the_disk_wrapped_by_operations_of_ones_own() {
    let dir = tempdir("file-ops-disk");
    let big = pattern(3 << 20);
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("server.key"), b"private").unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/index.html"), b"sub page").unwrap();
    let audited = Audited::default();
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/",
        Files::with_ops(&dir, audited.clone()),
    )]);
    let all = ask(addr, "GET", "/big.bin", &[]).await;
    assert_eq!(all.status, 200);
    assert!(all.body == big);
    let part = ask(
        addr,
        "GET",
        "/big.bin",
        &[("Range", "bytes=3145000-3145727")],
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &big[3_145_000..]);
    assert_eq!(ask(addr, "GET", "/server.key", &[]).await.status, 403);
    let sub = ask(addr, "GET", "/sub/", &[]).await;
    assert_eq!((sub.status, sub.body.as_slice()), (200, &b"sub page"[..]));
    let opened = audited.opened.lock().unwrap().clone();
    assert_eq!(
        opened,
        vec![
            dir.join("big.bin"),
            dir.join("big.bin"),
            dir.join("sub/index.html")
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}
