//! The socket side of a record in a table: plain TCP; a server's TLS
//! over TCP in rlws' own records; or a client's TLS over TCP through
//! rustls' connection (its records read from and written to the same
//! non-blocking socket the poller watches).

use std::io::{self, Read, Write};

use super::core::{Out, Sent};
use super::writer::DirectWrite;
use crate::tls::{Alert, RecordError, Sealed};

/// What a record reads from and writes to.
pub(super) trait RecSock: Sized + 'static {
    /// Set in the keys of this transport's table, so that the poller's
    /// events find the right table.
    const KEY_TAG: u32;
    /// The writer the connection's core sends through.
    type Out<'a>: Out
    where
        Self: 'a;

    /// The TCP socket (for the poller and for shutting it down).
    fn tcp(&mut self) -> &mut mio::net::TcpStream;

    /// Reads the connection's next bytes into `buf` (0: the peer's end).
    /// Clears `readable` once both the socket and the transport's own
    /// buffers are empty.
    fn read(&mut self, buf: &mut [u8], readable: &mut bool) -> io::Result<usize>;

    /// The writer for `settle`; it clears `writable` when the socket is full.
    fn out<'a>(&'a mut self, writable: &'a mut bool) -> Self::Out<'a>;

    /// Takes bytes of what is left to send after the connection closed.
    fn write_rest(&mut self, rest: &[u8]) -> io::Result<usize>;

    /// After the rest: pushes out what the transport holds (TLS: its
    /// close_notify and records). `Ok(false)`: the socket is full.
    fn finish(&mut self) -> io::Result<bool>;

    /// True while the transport holds bytes to write.
    fn holds_output(&self) -> bool;

    /// Between messages, from the sweeper: gives back what the transport
    /// needs only while busy; true if that was a TLS key schedule.
    fn release(&mut self) -> bool {
        false
    }
}

/// Plain TCP.
pub(super) struct Plain(pub(super) mio::net::TcpStream);

impl RecSock for Plain {
    const KEY_TAG: u32 = 0;
    type Out<'a> = PlainOut<'a>;

    fn tcp(&mut self) -> &mut mio::net::TcpStream {
        &mut self.0
    }

    fn read(&mut self, buf: &mut [u8], readable: &mut bool) -> io::Result<usize> {
        let res = recv(&self.0, buf);
        match &res {
            // A short read emptied the socket: the next data brings a new event.
            Ok(n) if *n < buf.len() => *readable = false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => *readable = false,
            _ => {}
        }
        res
    }

    fn out<'a>(&'a mut self, writable: &'a mut bool) -> PlainOut<'a> {
        PlainOut {
            sock: &self.0,
            writable,
        }
    }

    fn write_rest(&mut self, rest: &[u8]) -> io::Result<usize> {
        (&self.0).write(rest)
    }

    fn finish(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    fn holds_output(&self) -> bool {
        false
    }
}

/// `recv(2)` on the socket, as a plain system call: the C library's
/// wrapper is a thread-cancellation point, whose bookkeeping costs more
/// instructions than the call itself for a small WebSocket message, and
/// rlws never cancels threads.
fn recv(sock: &mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: the descriptor is the socket borrowed for the call, and
        // the kernel writes at most `buf.len()` bytes into `buf`, which is
        // borrowed mutably for it; no address is asked for (null, null).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                sock.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
                0,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            )
        };
        match usize::try_from(rc) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// `send(2)` with `MSG_NOSIGNAL`, as a plain system call (see [`recv`]).
fn send(sock: &mio::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is the socket borrowed for the call, and the
    // kernel reads at most `buf.len()` bytes from `buf`, borrowed for it;
    // no address is given (null, 0).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            sock.as_raw_fd(),
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    };
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// The plain socket as the core writes to it.
pub(super) struct PlainOut<'a> {
    sock: &'a mio::net::TcpStream,
    writable: &'a mut bool,
}

impl Out for PlainOut<'_> {
    fn send(&mut self, buf: &[u8]) -> Sent {
        if !*self.writable {
            return Sent::Blocked;
        }
        loop {
            return match send(self.sock, buf) {
                Ok(n) => Sent::Wrote(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *self.writable = false;
                    Sent::Blocked
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => Sent::Failed,
            };
        }
    }

    fn flush(&mut self) -> Sent {
        Sent::Wrote(0)
    }

    fn buffers(&self) -> bool {
        false
    }

    fn direct(&self) -> Option<&dyn DirectWrite> {
        Some(self.sock)
    }
}

/// TLS over TCP: the socket and the rustls connection whose handshake is
/// done (boxed: the record stays small for its table's page).
pub(super) struct Tls {
    tcp: mio::net::TcpStream,
    conn: Box<rustls::Connection>,
    /// close_notify was queued.
    closing: bool,
}

impl Tls {
    pub(super) fn new(tcp: mio::net::TcpStream, conn: rustls::Connection) -> Self {
        Tls {
            tcp,
            conn: Box::new(conn),
            closing: false,
        }
    }

    /// Writes TLS records until rustls holds none (`Ok(true)`) or the
    /// socket is full (`Ok(false)`).
    fn write_tls(&mut self) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl RecSock for Tls {
    const KEY_TAG: u32 = 1 << 31;
    type Out<'a> = TlsOut<'a, Tls>;

    fn tcp(&mut self) -> &mut mio::net::TcpStream {
        &mut self.tcp
    }

    fn read(&mut self, buf: &mut [u8], readable: &mut bool) -> io::Result<usize> {
        loop {
            // What rustls already decrypted comes first.
            match self.conn.reader().read(buf) {
                // 0: the peer's close_notify, after all its data.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.conn.read_tls(&mut self.tcp) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *readable = false;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the peer why (the alert rustls queued), as far as
                // the socket takes it.
                let _ = self.write_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    fn out<'a>(&'a mut self, writable: &'a mut bool) -> TlsOut<'a, Tls> {
        TlsOut {
            tls: self,
            writable,
        }
    }

    fn write_rest(&mut self, rest: &[u8]) -> io::Result<usize> {
        tls_write_rest(self, rest)
    }

    fn finish(&mut self) -> io::Result<bool> {
        tls_finish(self)
    }

    fn holds_output(&self) -> bool {
        self.conn.wants_write()
    }
}

/// A TLS transport as [`TlsOut`] drives it: plaintext taken into its
/// records, records pushed out to the socket.
pub(super) trait Records {
    /// Takes what of `buf` fits; `Ok(0)` when its output is full.
    fn take(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Writes records until none is left (`Ok(true)`) or the socket is
    /// full (`Ok(false)`).
    fn push_out(&mut self) -> io::Result<bool>;
    /// Queues close_notify, once.
    fn close_notify(&mut self) -> io::Result<()>;
}

/// A TLS connection as the core writes to it: plaintext into records,
/// records out to the socket on flush.
pub(super) struct TlsOut<'a, T> {
    tls: &'a mut T,
    writable: &'a mut bool,
}

impl<T: Records> Out for TlsOut<'_, T> {
    fn send(&mut self, buf: &[u8]) -> Sent {
        match self.tls.take(buf) {
            Ok(0) => {
                // The output is full: make room, then try once more.
                match self.flush() {
                    Sent::Wrote(_) => {}
                    other => return other,
                }
                match self.tls.take(buf) {
                    Ok(0) => Sent::Blocked,
                    Ok(n) => Sent::Wrote(n),
                    Err(_) => Sent::Failed,
                }
            }
            Ok(n) => Sent::Wrote(n),
            Err(_) => Sent::Failed,
        }
    }

    fn flush(&mut self) -> Sent {
        if !*self.writable {
            return Sent::Blocked;
        }
        match self.tls.push_out() {
            Ok(true) => Sent::Wrote(0),
            Ok(false) => {
                *self.writable = false;
                Sent::Blocked
            }
            Err(_) => Sent::Failed,
        }
    }

    fn buffers(&self) -> bool {
        true
    }

    fn direct(&self) -> Option<&dyn DirectWrite> {
        None
    }
}

/// `write_rest` of a TLS transport.
fn tls_write_rest<T: Records>(t: &mut T, rest: &[u8]) -> io::Result<usize> {
    let n = t.take(rest)?;
    if !t.push_out()? && n == 0 {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok(n)
}

/// `finish` of a TLS transport.
fn tls_finish<T: Records>(t: &mut T) -> io::Result<bool> {
    t.close_notify()?;
    t.push_out()
}

impl Records for Tls {
    fn take(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.writer().write(buf)
    }

    fn push_out(&mut self) -> io::Result<bool> {
        self.write_tls()
    }

    fn close_notify(&mut self) -> io::Result<()> {
        if !self.closing {
            self.closing = true;
            self.conn.send_close_notify();
        }
        Ok(())
    }
}

/// A server's TLS connection over TCP: rlws' own records with the keys of
/// the handshake (no rustls state, no buffers while idle).
pub(super) struct SealedTls {
    tcp: mio::net::TcpStream,
    sealed: Sealed,
    /// The start of a record not received whole yet.
    partial: Vec<u8>,
    /// Sealed records to send, from `out_at`.
    out: Vec<u8>,
    out_at: usize,
    /// close_notify was sealed.
    closing: bool,
}

/// Sealed output past which the core's writes wait for the socket.
const SEALED_HIGH_WATER: usize = 64 * 1024;

impl SealedTls {
    /// `partial` begins a record not received whole; `out` holds sealed
    /// records not sent yet.
    pub(super) fn new(
        tcp: mio::net::TcpStream,
        sealed: Sealed,
        partial: Vec<u8>,
        out: Vec<u8>,
    ) -> Self {
        SealedTls {
            tcp,
            sealed,
            partial,
            out,
            out_at: 0,
            closing: false,
        }
    }

    /// Writes sealed records until none is left (`Ok(true)`) or the
    /// socket is full (`Ok(false)`).
    fn send_out(&mut self) -> io::Result<bool> {
        while self.out_at < self.out.len() {
            match send(&self.tcp, &self.out[self.out_at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_at = 0;
        Ok(true)
    }

    /// Seals `buf`; `Ok(0)` when the sealed output is at its high water.
    fn seal(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() - self.out_at >= SEALED_HIGH_WATER {
            return Ok(0);
        }
        let n = buf.len().min(SEALED_HIGH_WATER);
        self.sealed
            .seal(&[&buf[..n]], &mut self.out)
            .map_err(|a| io::Error::other(format!("cannot seal a TLS record ({a:?})")))?;
        Ok(n)
    }
}

impl Records for SealedTls {
    fn take(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.seal(buf)
    }

    fn push_out(&mut self) -> io::Result<bool> {
        self.send_out()
    }

    fn close_notify(&mut self) -> io::Result<()> {
        if !self.closing {
            self.closing = true;
            self.sealed
                .seal_alert(Alert::CloseNotify, &mut self.out)
                .map_err(|a| io::Error::other(format!("cannot seal a TLS alert ({a:?})")))?;
        }
        Ok(())
    }
}

impl RecSock for SealedTls {
    /// The client TLS table's tag and one more bit.
    const KEY_TAG: u32 = (1 << 31) | (1 << 30);
    type Out<'a> = TlsOut<'a, SealedTls>;

    fn tcp(&mut self) -> &mut mio::net::TcpStream {
        &mut self.tcp
    }

    fn read(&mut self, buf: &mut [u8], readable: &mut bool) -> io::Result<usize> {
        loop {
            if self.sealed.peer_closed() {
                return Ok(0);
            }
            // The start of a record from the last read goes first.
            let have = self.partial.len();
            let Some(head) = buf.get_mut(..have) else {
                return Err(io::ErrorKind::InvalidData.into());
            };
            head.copy_from_slice(&self.partial);
            let n = match recv(&self.tcp, &mut buf[have..]) {
                Ok(0) if have > 0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed in the middle of a TLS record",
                    ))
                }
                Ok(0) => return Ok(0),
                Ok(n) => n,
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        *readable = false;
                    }
                    return Err(e);
                }
            };
            if have + n < buf.len() {
                *readable = false;
            }
            let total = have + n;
            let opened = self.sealed.open(&mut buf[..total]);
            let o = match opened {
                Ok(o) => o,
                Err(e) => {
                    if let RecordError::Send(a) = e {
                        // Tell the peer why, as far as the socket takes it.
                        if self.sealed.seal_alert(a, &mut self.out).is_ok() {
                            let _ = self.send_out();
                        }
                    }
                    return Err(e.into());
                }
            };
            // Kept only while a record is incomplete.
            if o.used < total {
                self.partial.clear();
                self.partial.extend_from_slice(&buf[o.used..total]);
            } else if !self.partial.is_empty() {
                self.partial = Vec::new();
            }
            if o.plain > 0 || o.closed {
                return Ok(o.plain);
            }
            if !*readable {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }

    fn out<'a>(&'a mut self, writable: &'a mut bool) -> TlsOut<'a, SealedTls> {
        TlsOut {
            tls: self,
            writable,
        }
    }

    fn write_rest(&mut self, rest: &[u8]) -> io::Result<usize> {
        tls_write_rest(self, rest)
    }

    fn finish(&mut self) -> io::Result<bool> {
        tls_finish(self)
    }

    fn holds_output(&self) -> bool {
        self.out_at < self.out.len()
    }

    fn release(&mut self) -> bool {
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = Vec::new();
        }
        self.sealed.release()
    }
}
