//! A file descriptor that is not a socket (pipe, FIFO, tty) as an async
//! byte stream, on the service thread's reactor.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An adopted descriptor, non-blocking, registered with the reactor.
pub(crate) struct FdStream {
    fd: AsyncFd<File>,
}

impl FdStream {
    /// Makes `fd` non-blocking and registers it; fails for descriptors the
    /// reactor cannot wait on (regular files).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<FdStream> {
        set_nonblocking(&fd)?;
        let file = File::from(fd);
        // SAFETY: `file` owns its descriptor, and the AsyncFd owns `file`
        // until it is dropped: nothing else can close or replace the
        // descriptor meanwhile, and `as_raw_fd` always returns the same
        // number. Tested by tests/raw.rs (FIFOs and pipes adopted).
        let fd = unsafe { AsyncFd::register(file)? };
        Ok(FdStream { fd })
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is an open descriptor owned by `fd` for the duration of
    // both calls; F_GETFL / F_SETFL take and return plain integers and
    // touch no memory of ours. Tested by tests/raw.rs (a FIFO adopted
    // after being opened blocking).
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|f| {
                let mut file: &File = f.get_ref();
                file.read(unfilled)
            }) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|f| {
                let mut file: &File = f.get_ref();
                file.write(data)
            }) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
