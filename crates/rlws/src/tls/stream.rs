//! A server's TLS connection as a byte stream for hyper: the handshake
//! through rustls ([`accept`]), then rlws' own records ([`Sealed`]) over
//! the socket. A WebSocket upgrade takes it apart ([`SealedStream::into_parts`])
//! so that the thread's table carries on with the same keys.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::accept::{Accepting, Agreed, Step};
use super::hello::{self, Hello};
use super::record::{Alert, RecordError, Sealed, MAX_PLAIN};

/// Sealed output past which a write waits for the socket.
const HIGH_WATER: usize = 64 * 1024;
/// What one write takes at most (four full records).
const WRITE_CHUNK: usize = 4 * MAX_PLAIN;
/// Pieces one vectored write takes at most.
const MAX_SLICES: usize = 32;
/// The first size of the input buffer.
const FIRST_READ: usize = 4096;

/// Reads the ClientHello, lets `choose` pick the configuration by its
/// server name, and runs the handshake.
pub(crate) async fn accept<S, T>(
    mut io: S,
    choose: impl FnOnce(Option<&str>) -> io::Result<(Arc<rustls::ServerConfig>, T)>,
) -> io::Result<(SealedStream<S>, T)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut input = Vec::with_capacity(FIRST_READ);
    // The hello is read again only once a record of it came whole.
    let mut need = 5;
    let name = loop {
        if input.len() >= need {
            match hello::read(&input) {
                Hello::Whole { server_name } => break server_name,
                Hello::Invalid => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not a TLS ClientHello (or too large)",
                    ))
                }
                Hello::Partial(n) => need = n,
            }
        }
        input.reserve(need.saturating_sub(input.len()).max(64));
        if io.read_buf(&mut input).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let (cfg, chosen) = choose(name.as_deref())?;
    let mut hs = Accepting::new(cfg, input)?;
    loop {
        let step = hs.step();
        if !hs.output.is_empty() {
            io.write_all(&hs.output).await?;
            hs.output.clear();
        }
        match step? {
            Step::Done => break,
            Step::Read => {
                hs.input.reserve(FIRST_READ);
                if io.read_buf(&mut hs.input).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
    }
    io.flush().await?;
    let (sealed, agreed) = hs.finish()?;
    // What rustls opened with the client's last flight reads first, as
    // opened data in front of the records not opened yet.
    let mut input = std::mem::take(&mut hs.plain);
    let early = input.len();
    input.extend_from_slice(&hs.input);
    let s = SealedStream {
        io,
        sealed,
        agreed,
        filled: input.len(),
        input,
        plain: 0..early,
        opened_to: early,
        output: Vec::new(),
        out_at: 0,
        read_closed: false,
        shut: false,
        failed: false,
    };
    Ok((s, chosen))
}

/// A TLS connection after its handshake, protected by rlws' records.
pub(crate) struct SealedStream<S> {
    io: S,
    sealed: Sealed,
    agreed: Agreed,
    /// Received bytes: opened application data (`plain`) at the front,
    /// then records not yet opened from `opened_to` to `filled`.
    input: Vec<u8>,
    filled: usize,
    plain: std::ops::Range<usize>,
    opened_to: usize,
    /// Sealed records to send, from `out_at`.
    output: Vec<u8>,
    out_at: usize,
    /// The peer's close_notify (or its end of the stream) came.
    read_closed: bool,
    /// Our close_notify (or a fatal alert) is sealed.
    shut: bool,
    /// A bad record ended the connection.
    failed: bool,
}

/// What an upgrade takes out of a [`SealedStream`].
pub(crate) struct Parts<S> {
    pub(crate) io: S,
    pub(crate) sealed: Sealed,
    /// Application data received and not read yet.
    pub(crate) plain: Vec<u8>,
    /// The start of a record not received whole yet.
    pub(crate) partial: Vec<u8>,
    /// Sealed records not sent yet.
    pub(crate) output: Vec<u8>,
}

impl<S> SealedStream<S> {
    /// The protocol the client and server agreed by ALPN.
    pub(crate) fn alpn(&self) -> Option<&[u8]> {
        self.agreed.alpn.as_deref()
    }

    /// Opens what whole records the input holds, when all opened data has
    /// been read.
    fn open_input(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the TLS connection failed",
            ));
        }
        if !self.plain.is_empty() || self.read_closed {
            return Ok(());
        }
        // The unopened rest to the front.
        self.input.copy_within(self.opened_to..self.filled, 0);
        self.filled -= self.opened_to;
        self.opened_to = 0;
        self.plain = 0..0;
        if self.filled == 0 {
            return Ok(());
        }
        match self.sealed.open(&mut self.input[..self.filled]) {
            Ok(o) => {
                self.plain = 0..o.plain;
                self.opened_to = o.used;
                self.read_closed = o.closed;
                Ok(())
            }
            Err(e) => {
                // Tell the peer why, as far as the socket takes it; after
                // a fatal alert nothing more is sealed or read.
                if let RecordError::Send(a) = e {
                    let _ = self.sealed.seal_alert(a, &mut self.output);
                }
                self.read_closed = true;
                self.shut = true;
                self.failed = true;
                self.filled = 0;
                Err(e.into())
            }
        }
    }

    /// Takes the stream apart for a WebSocket on the thread's table; the
    /// records received whole are opened first.
    pub(crate) fn into_parts(mut self) -> io::Result<Parts<S>> {
        let mut plain = self.input[self.plain.clone()].to_vec();
        self.plain = 0..0;
        // One call opens every whole record there is.
        self.open_input()?;
        plain.extend_from_slice(&self.input[self.plain.clone()]);
        let partial = self.input[self.opened_to..self.filled].to_vec();
        let output = self.output.split_off(self.out_at);
        Ok(Parts {
            io: self.io,
            sealed: self.sealed,
            plain,
            partial,
            output,
        })
    }
}

impl<S: AsyncWrite + Unpin> SealedStream<S> {
    /// Writes sealed output until none is left or the socket is full.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.output.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.output[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        self.out_at = 0;
        if self.output.capacity() > HIGH_WATER {
            // Large bursts do not leave their buffer with an idle connection.
            self.output = Vec::new();
        } else {
            self.output.clear();
        }
        Poll::Ready(Ok(()))
    }

    /// Seals what of `bufs` one write takes.
    fn seal_some(&mut self, cx: &mut Context<'_>, bufs: &[&[u8]]) -> Poll<io::Result<usize>> {
        if self.shut {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.output.len() - self.out_at >= HIGH_WATER {
            ready!(self.poll_send(cx))?;
        }
        // At most MAX_SLICES pieces and WRITE_CHUNK bytes, on the stack.
        let mut take: [&[u8]; MAX_SLICES] = [&[]; MAX_SLICES];
        let mut count = 0;
        let mut n = 0;
        for b in bufs.iter().take(MAX_SLICES) {
            if n == WRITE_CHUNK {
                break;
            }
            let k = b.len().min(WRITE_CHUNK - n);
            take[count] = &b[..k];
            count += 1;
            n += k;
        }
        let take = &take[..count];
        self.sealed
            .seal(take, &mut self.output)
            .map_err(|a| io::Error::other(format!("cannot seal a TLS record ({a:?})")))?;
        // Out now if the socket takes it; else on the flush to come.
        if let Poll::Ready(Err(e)) = self.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SealedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.plain.is_empty() {
                let n = this.plain.len().min(buf.remaining());
                let from = this.plain.start;
                buf.put_slice(&this.input[from..from + n]);
                this.plain.start += n;
                return Poll::Ready(Ok(()));
            }
            let opened = this.open_input();
            if this.out_at < this.output.len() {
                // The alert for a bad record: out as far as the socket
                // takes it.
                if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            opened?;
            if !this.plain.is_empty() {
                continue;
            }
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            // Room for the rest of the record begun, and more.
            let need = match this.input.get(..5) {
                Some(h) if this.filled >= 5 => 5 + usize::from(u16::from_be_bytes([h[3], h[4]])),
                _ => 0,
            };
            let room = need.max(this.filled + FIRST_READ);
            if this.input.len() < room {
                this.input.resize(room, 0);
            }
            let mut rb = ReadBuf::new(&mut this.input[this.filled..]);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                this.read_closed = true;
                if this.filled > 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed in the middle of a TLS record",
                    )));
                }
                return Poll::Ready(Ok(()));
            }
            this.filled += n;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SealedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().seal_some(cx, &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut slices: [&[u8]; MAX_SLICES] = [&[]; MAX_SLICES];
        let count = bufs.len().min(MAX_SLICES);
        for (s, b) in slices.iter_mut().zip(bufs) {
            *s = b;
        }
        self.get_mut().seal_some(cx, &slices[..count])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut {
            this.shut = true;
            this.sealed
                .seal_alert(Alert::CloseNotify, &mut this.output)
                .map_err(|a| io::Error::other(format!("cannot seal a TLS alert ({a:?})")))?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
