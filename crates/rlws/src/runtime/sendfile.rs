//! File content sent from the file: a service thread's list of memory that
//! holds a file's bytes, and a TCP stream that, asked to write such memory,
//! has the kernel send the same bytes from the file (`sendfile(2)`), so they
//! are not copied from user space into the socket.
//!
//! The memory stays what is written when the file no longer matches what
//! was read (its size, modification time or inode changed) or when the
//! kernel cannot send from it: the bytes on the wire are always those that
//! were registered.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Memory smaller than this is written as it is: below it the system
/// calls around `sendfile` cost more than the copy saves.
const MIN_LEN: usize = 64 * 1024;

/// What identifies the version of a file that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Self {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

struct Region {
    file: Rc<File>,
    identity: Identity,
    /// The memory, kept alive so that its addresses cannot be reused for
    /// other bytes while they are listed.
    bytes: Bytes,
}

thread_local! {
    /// By start address.
    static REGIONS: RefCell<BTreeMap<usize, Region>> = const { RefCell::new(BTreeMap::new()) };
}

/// Lists `bytes` as the whole content of `file`, whose `fstat` is `meta`
/// (the caller has checked it is the version it read); `false` (and
/// nothing listed) when they are too small to gain from it, or the file's
/// size is not theirs.
pub(crate) fn register(bytes: &Bytes, file: File, meta: &std::fs::Metadata) -> bool {
    let identity = Identity::of(meta);
    if bytes.len() < MIN_LEN || identity.size != bytes.len() as u64 {
        return false;
    }
    REGIONS.with(|r| {
        r.borrow_mut().insert(
            bytes.as_ptr() as usize,
            Region {
                file: Rc::new(file),
                identity,
                bytes: bytes.clone(),
            },
        )
    });
    true
}

/// Takes `bytes` off the list (the memory is written as it is from now on).
pub(crate) fn unregister(bytes: &Bytes) {
    REGIONS.with(|r| r.borrow_mut().remove(&(bytes.as_ptr() as usize)));
}

/// How many regions this thread lists.
#[cfg(test)]
pub(crate) fn listed() -> usize {
    REGIONS.with(|r| r.borrow().len())
}

/// The file and offset whose bytes `buf` is, if it is listed memory.
fn lookup(buf: &[u8]) -> Option<(Rc<File>, u64, Identity)> {
    if buf.len() < MIN_LEN {
        return None;
    }
    let at = buf.as_ptr() as usize;
    REGIONS.with(|r| {
        let r = r.borrow();
        let (start, region) = r.range(..=at).next_back()?;
        let off = at - start;
        (off + buf.len() <= region.bytes.len())
            .then(|| (region.file.clone(), off as u64, region.identity))
    })
}

fn is_empty() -> bool {
    REGIONS.with(|r| r.borrow().is_empty())
}

/// A plain TCP stream whose writes of listed memory go out from the file.
#[derive(Debug)]
pub(crate) struct FileSendTcp(TcpStream);

impl FileSendTcp {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        FileSendTcp(tcp)
    }

    pub(crate) fn into_inner(self) -> TcpStream {
        self.0
    }

    /// Runs `f` once the socket is writable, again while it would block.
    fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_io(Interest::WRITABLE, &mut f) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    /// Writes `bufs` with `MSG_MORE`: the kernel holds them back to go out
    /// with the file bytes that follow.
    fn poll_send_more(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = self.0.as_raw_fd();
        self.poll_write_with(cx, || {
            // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix
            // (std guarantees it), the slices are borrowed for the call,
            // and the header names no address or control data.
            let rc = unsafe {
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = bufs.len();
                libc::sendmsg(fd, &msg, libc::MSG_MORE | libc::MSG_NOSIGNAL)
            };
            os_result(rc)
        })
    }

    /// Sends `buf`, which is `file`'s bytes from `off`, from the file; or
    /// writes it when the file changed or the kernel cannot.
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        file: &File,
        off: u64,
        identity: Identity,
    ) -> Poll<io::Result<usize>> {
        let same = file.metadata().is_ok_and(|m| Identity::of(&m) == identity);
        if !same {
            return Pin::new(&mut self.0).poll_write(cx, buf);
        }
        let (sock, src) = (self.0.as_raw_fd(), file.as_raw_fd());
        let sent = ready!(self.poll_write_with(cx, || {
            let Ok(mut offset) = libc::off_t::try_from(off) else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            // SAFETY: both descriptors belong to objects borrowed for the
            // call, and `offset` is a local the kernel updates.
            os_result(unsafe { libc::sendfile(sock, src, &mut offset, buf.len()) })
        }));
        match sent {
            // The file shrank since the check, or this file system cannot
            // be sent from: the memory goes instead.
            Ok(0) => Pin::new(&mut self.0).poll_write(cx, buf),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                Pin::new(&mut self.0).poll_write(cx, buf)
            }
            r => Poll::Ready(r),
        }
    }
}

/// A system call's return value as a count, or the error it set.
fn os_result(rc: isize) -> io::Result<usize> {
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

impl AsyncRead for FileSendTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for FileSendTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if is_empty() {
            return Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        }
        let found = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| lookup(b).map(|hit| (i, hit)));
        match found {
            None => Pin::new(&mut self.0).poll_write_vectored(cx, bufs),
            // What comes before the file's bytes goes first, held back to
            // share a segment with them.
            Some((i, _)) if bufs[..i].iter().any(|b| !b.is_empty()) => {
                self.poll_send_more(cx, &bufs[..i])
            }
            Some((i, (file, off, identity))) => {
                self.poll_send_file(cx, &bufs[i], &file, off, identity)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the writer wrapped, the reader plain.
    async fn pair() -> (FileSendTcp, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        (FileSendTcp::new(a.unwrap()), b.unwrap().0)
    }

    fn temp_file(name: &str, content: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rlws-sendfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Rewrites the file in place with `content` (same length), then sets
    /// its modification time back, so its identity is what was read.
    fn rewrite_keeping_identity(p: &std::path::Path, content: &[u8]) {
        let before = std::fs::metadata(p).unwrap().modified().unwrap();
        let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.write_all(content).unwrap();
        f.set_modified(before).unwrap();
    }

    /// Writes `head` then `body` as hyper does (one vectored write, then
    /// what is left), and returns what the peer read.
    async fn send(head: &[u8], body: &Bytes) -> Vec<u8> {
        let (mut w, mut r) = pair().await;
        let total = head.len() + body.len();
        let reader = async move {
            let mut got = vec![0u8; total];
            r.read_exact(&mut got).await.unwrap();
            got
        };
        let writer = async move {
            let (mut h, mut b) = (head, &body[..]);
            while !h.is_empty() || !b.is_empty() {
                let n = w
                    .write_vectored(&[IoSlice::new(h), IoSlice::new(b)])
                    .await
                    .unwrap();
                let from_head = n.min(h.len());
                h = &h[from_head..];
                b = &b[n - from_head..];
            }
        };
        let both = async { tokio::join!(reader, writer).0 };
        tokio::time::timeout(std::time::Duration::from_secs(20), both)
            .await
            .expect("the transfer did not finish in 20 s")
    }

    /// Lists `body` as the file at `p`.
    fn register_file(body: &Bytes, p: &std::path::Path) -> bool {
        let f = File::open(p).unwrap();
        let meta = f.metadata().unwrap();
        register(body, f, &meta)
    }

    fn content(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[tokio::test]
    async fn listed_memory_goes_out_from_the_file() {
        let len = 3 * MIN_LEN + 123;
        let p = temp_file("from-file", &content(len, 1));
        let body = Bytes::from(std::fs::read(&p).unwrap());
        assert!(register_file(&body, &p));
        // The file now holds other bytes under the same identity: what the
        // peer reads tells which of the two was sent.
        let other = content(len, 2);
        rewrite_keeping_identity(&p, &other);
        let got = send(b"HTTP/1.1 200 OK\r\n\r\n", &body).await;
        assert_eq!(&got[..19], b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(
            got[19..] == other[..],
            "the bytes did not come from the file"
        );
        // A slice of the memory is sent from its offset in the file.
        let got = send(b"", &body.slice(MIN_LEN + 7..)).await;
        assert!(got[..] == other[MIN_LEN + 7..]);
        unregister(&body);
        assert_eq!(listed(), 0);
        let got = send(b"", &body).await;
        assert!(got[..] == body[..], "unlisted memory is written as it is");
    }

    #[tokio::test]
    async fn a_changed_file_sends_the_memory() {
        let len = 2 * MIN_LEN;
        let p = temp_file("changed", &content(len, 3));
        let body = Bytes::from(std::fs::read(&p).unwrap());
        assert!(register_file(&body, &p));
        // Changed in place with a new modification time, then shrunk.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .write_all(&content(len, 4))
            .unwrap();
        assert!(send(b"x", &body).await[1..] == body[..]);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(10)
            .unwrap();
        assert!(send(b"", &body).await[..] == body[..]);
        unregister(&body);
    }

    #[tokio::test]
    async fn small_or_mismatched_memory_is_not_listed() {
        let p = temp_file("small", &content(MIN_LEN - 1, 5));
        let body = Bytes::from(std::fs::read(&p).unwrap());
        assert!(!register_file(&body, &p));
        let p = temp_file("other-size", &content(MIN_LEN * 2, 6));
        let wrong = Bytes::from(content(MIN_LEN * 2 + 1, 6));
        assert!(!register_file(&wrong, &p));
        assert_eq!(listed(), 0);
    }
}
