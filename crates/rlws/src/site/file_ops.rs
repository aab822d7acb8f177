//! [`FileOps`]: where a [`super::Files`] origin gets its files from (lws'
//! `lws_plat_file_ops`), for files that are not plain files on a disk, or to
//! wrap the disk ([`Disk`]) and change what it does.

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// What [`FileOps::stat`] says of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// A directory: the mount's default document in it is served.
    pub is_dir: bool,
    /// The length in bytes (of a file).
    pub len: u64,
    /// Last modification, if known: `Last-Modified`, `If-Modified-Since`.
    pub modified: Option<SystemTime>,
    /// Anything that changes whenever the content does, beyond its length
    /// and modification time (a generation number, a hash); 0 when those
    /// two are enough. It goes into the `ETag`.
    pub version: u64,
}

/// An open file: read `buf.len()` bytes at most, from `offset`.
pub trait FileRead: Send + 'static {
    /// Reads at `offset`; `Ok(0)` at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl FileRead for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

/// Where a [`super::Files`] origin reads files (lws' `lws_plat_file_ops`).
///
/// Its methods run on the connection's service thread, like lws' file
/// callbacks: a slow store stalls that thread's other connections.
///
/// Paths are the mount's root joined with the request's path below the
/// mountpoint, already checked: no `.` or `..` segment, no NUL. Errors
/// answer the request: `NotFound` with `404`, `PermissionDenied` with
/// `403`, any other with `500` (and a log line).
///
/// Files with these operations get everything HTTP does with files:
/// default documents, `ETag` and `Last-Modified` with conditional requests,
/// ranges, `name.gz` siblings and the mount's MIME types. The per-thread
/// cache, `sendfile` and paths through `.zip` archives are for plain files
/// on a disk, which [`super::Files::new`] serves without a `FileOps`.
#[doc(alias = "lws_plat_file_ops")]
#[doc(alias = "lws_fops")]
pub trait FileOps: Debug + Send + Sync + 'static {
    /// What is at `path`.
    fn stat(&self, path: &Path) -> io::Result<FileStat>;

    /// Opens the file at `path` for reading.
    fn open(&self, path: &Path) -> io::Result<Box<dyn FileRead>>;
}

/// The operating system's files (`std::fs`): what [`FileOps`] of your own
/// can wrap, to change some of what it does and pass the rest on.
#[derive(Debug, Default, Clone, Copy)]
pub struct Disk;

impl FileOps for Disk {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        if !m.is_file() && !m.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "neither a file nor a directory",
            ));
        }
        Ok(FileStat {
            is_dir: m.is_dir(),
            len: m.len(),
            modified: m.modified().ok(),
            version: m.ino(),
        })
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn FileRead>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }
}
