//! The driver of one WebSocket connection on its service thread: a pump
//! between the transport and the sans-IO [`rlws_ws::Connection`], calling
//! the protocol's callbacks (receive, writeable, timer, closed) with the
//! writeable and flow-control rules of [`super::Protocol`].

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use rlws_ws::{CloseCode, Config, Connection, Event, Role, State};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::cx::{Control, Cx};
use super::protocol::{Close, Protocol, Received, RxMode};
use super::signal::ConnSignal;
use super::slot::ProtoThread;
use super::writer::Writer;
use crate::runtime::{Kind, Tag, Transport};

/// Size of the per-thread read buffer shared by all connections of a thread.
const READ_BUF: usize = 64 * 1024;

thread_local! {
    static READ_BUFFER: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_BUF].into_boxed_slice());
}

pub(super) struct Conn<P: Protocol> {
    pt: Rc<ProtoThread<P>>,
    sig: Rc<ConnSignal>,
    session: Option<P::Session>,
    ctl: Control,
    io: Transport,
    /// Bytes handed to a buffering transport (TLS) and not yet flushed.
    unflushed: bool,
    /// The WebSocket itself: parsing, deflate, close handshake, send queue.
    conn: Connection,
    /// Bytes read while RX was paused, to process on resume.
    held: Vec<u8>,
    want_writeable: bool,
    eof: bool,
    timer: Option<Pin<Box<Sleep>>>,
    close_deadline: Option<Pin<Box<Sleep>>>,
    /// The deadline a callback set, and why.
    hard_deadline: Option<Pin<Box<Sleep>>>,
    timeout_reason: &'static str,
    /// A callback asked for the close (returned `Err(Close)`).
    closed_by_protocol: bool,
}

/// What woke the driver.
enum Wake {
    Flags(u8),
    /// This many bytes were read into the thread's read buffer (0: end of stream).
    Read(usize),
    Written,
    Timer,
    Deadline,
    TimedOut,
}

impl<P: Protocol> Conn<P> {
    pub(super) fn new(
        pt: Rc<ProtoThread<P>>,
        sig: Rc<ConnSignal>,
        session: P::Session,
        ctl: Control,
        io: Transport,
        role: Role,
    ) -> Self {
        let opts = pt.opts;
        let mut config = Config::default();
        config.max_message = opts.max_message;
        config.max_frame = opts.max_frame;
        config.reassemble = opts.rx_mode == RxMode::Messages;
        let mut conn = Connection::new(role, config);
        if let (Some(p), Some(cfg)) = (&ctl.deflate, &opts.deflate) {
            conn = conn.with_deflate(*p, cfg);
        }
        Conn {
            pt,
            sig,
            session: Some(session),
            ctl,
            io,
            unflushed: false,
            conn,
            held: Vec::new(),
            want_writeable: false,
            eof: false,
            timer: None,
            close_deadline: None,
            hard_deadline: None,
            timeout_reason: "",
            closed_by_protocol: false,
        }
    }

    /// Runs the connection to its end; true if one of its callbacks asked
    /// for the close.
    pub(super) async fn run(&mut self, leftover: Bytes) -> bool {
        self.io.set_nodelay();
        self.apply_control();
        if !leftover.is_empty() {
            let mut v = leftover.to_vec();
            self.process(&mut v);
        }
        // `leftover` may share the HTTP parser's whole read buffer: free it now,
        // not when the connection ends.
        drop(leftover);
        let mut busy = 0u32;
        loop {
            self.service();
            let open = self.conn.state() == State::Open;
            if !self.ctl.paused && !self.held.is_empty() && open {
                // RX was resumed by the connection's own callback: handle what was held back.
                let mut held = std::mem::take(&mut self.held);
                self.process(&mut held);
                continue;
            }
            let state = self.conn.state();
            if matches!(state, State::Closed | State::CloseReceived)
                || (self.eof && state != State::CloseSent)
            {
                break;
            }
            if self.eof && !self.has_output() {
                break;
            }
            let mut waited = false;
            let wake = poll_fn(|cx| {
                let f = self.sig.take();
                if f != 0 {
                    return Poll::Ready(Wake::Flags(f));
                }
                if self.has_output() && self.poll_output(cx).is_ready() {
                    return Poll::Ready(Wake::Written);
                }
                if !self.ctl.paused && !self.eof {
                    if let Poll::Ready(n) = self.poll_input(cx) {
                        return Poll::Ready(Wake::Read(n));
                    }
                }
                if let Some(t) = self.timer.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Wake::Timer);
                    }
                }
                if let Some(t) = self.close_deadline.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Wake::Deadline);
                    }
                }
                if let Some(t) = self.hard_deadline.as_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Wake::TimedOut);
                    }
                }
                let w = cx.waker();
                match self.sig.waker.take() {
                    Some(old) if old.will_wake(w) => self.sig.waker.set(Some(old)),
                    _ => self.sig.waker.set(Some(w.clone())),
                }
                waited = true;
                Poll::Pending
            })
            .await;
            match wake {
                Wake::Flags(f) => self.on_flags(f),
                Wake::Read(n) => self.on_read(n),
                Wake::Written => {}
                Wake::Timer => {
                    self.timer = None;
                    self.callback(|p, cx, s| p.timer(cx, s));
                }
                Wake::TimedOut => {
                    self.hard_deadline = None;
                    let reason = self.timeout_reason;
                    tracing::info!(conn = %Tag(Kind::Ws, self.sig.id), reason, "connection timed out: closing");
                    self.conn.abort();
                    break;
                }
                Wake::Deadline => {
                    self.conn.handle_timeout(std::time::Instant::now());
                    self.close_deadline = None;
                    if self.conn.state() == State::Closed {
                        break;
                    }
                }
            }
            // Never hog the thread: yield after a run of turns that never waited.
            busy = if waited { 0 } else { busy + 1 };
            if busy >= 32 {
                busy = 0;
                tokio::task::yield_now().await;
            }
        }
        // Boxed: the closing state (timeouts, buffers) is only needed at the
        // end, so idle connections do not carry it.
        Box::pin(self.finish()).await;
        self.closed_by_protocol
    }

    fn on_flags(&mut self, f: u8) {
        if f & ConnSignal::HANGUP != 0 {
            tracing::debug!(conn = %Tag(Kind::Ws, self.sig.id), "no pong: hanging up");
            self.conn.abort();
            return;
        }
        if f & ConnSignal::WRITEABLE != 0 {
            self.want_writeable = true;
        }
        if f & ConnSignal::RESUME_RX != 0 {
            self.ctl.paused = false;
        }
        if f & ConnSignal::PING != 0 && self.conn.state() == State::Open {
            let _ = self.conn.send_ping(b"rlws");
        }
        if f & ConnSignal::GOING_AWAY != 0 {
            self.start_close(CloseCode::GOING_AWAY, "server shutting down");
        }
    }

    /// Calls a session callback with a fresh `Cx`, then applies its result.
    fn callback(
        &mut self,
        f: impl FnOnce(&P, &mut Cx<'_, P>, &mut P::Session) -> Result<(), Close>,
    ) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if self.conn.state() != State::Open {
            return;
        }
        let res = self
            .pt
            .call(&self.sig, &mut self.ctl, |p, cx| f(p, cx, session));
        self.after_callback(res);
    }

    fn apply_control(&mut self) {
        if let Some(c) = self.ctl.compress.take() {
            if let Some(e) = c.enabled {
                self.conn.set_compression(e);
            }
            if let Some(l) = c.level {
                self.conn.set_compression_level(l);
            }
            if let Some(m) = c.min_size {
                self.conn.set_compression_min_size(m);
            }
        }
        let f = self.sig.flags.get();
        if f & ConnSignal::WRITEABLE != 0 {
            self.sig.flags.set(f & !ConnSignal::WRITEABLE);
            self.want_writeable = true;
        }
        match self.ctl.timeout.take() {
            None => {}
            Some(None) => self.hard_deadline = None,
            Some(Some((d, reason))) => {
                let at = Instant::now() + d;
                self.timeout_reason = reason;
                match self.hard_deadline.as_mut() {
                    Some(t) => t.as_mut().reset(at),
                    None => self.hard_deadline = Some(Box::pin(tokio::time::sleep_until(at))),
                }
            }
        }
        match self.ctl.timer.take() {
            None => {}
            Some(None) => self.timer = None,
            Some(Some(d)) => {
                let at = Instant::now() + d;
                match self.timer.as_mut() {
                    Some(t) => t.as_mut().reset(at),
                    None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
                }
            }
        }
    }

    /// Writeable callbacks and flushing.
    fn service(&mut self) {
        let mut rounds = 0;
        loop {
            if self.has_output() {
                self.flush();
            }
            if !(self.want_writeable && !self.has_output() && self.conn.state() == State::Open) {
                break;
            }
            rounds += 1;
            if rounds > 8 {
                // Let other connections run; come back on the next turn.
                self.sig.request(ConnSignal::WRITEABLE);
                self.want_writeable = false;
                if let Some(w) = self.sig.waker.take() {
                    w.wake();
                }
                break;
            }
            self.want_writeable = false;
            if self.session.is_none() {
                break;
            }
            self.writeable_callback();
        }
    }

    /// One [`Protocol::writeable`] callback.
    fn writeable_callback(&mut self) {
        let limit = self.pt.opts.write_buffer;
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let (conn, direct) = (&mut self.conn, self.io.direct());
        let res = self.pt.call(&self.sig, &mut self.ctl, |p, cx| {
            let mut w = Writer {
                conn,
                limit,
                direct,
            };
            p.writeable(cx, session, &mut w)
        });
        self.after_callback(res);
    }

    /// The peer is closing: a writeable callback that was asked for before
    /// its close arrived still runs, so what was answered goes out ahead of
    /// our close reply.
    fn last_writeable(&mut self) {
        self.apply_control();
        if self.want_writeable {
            self.want_writeable = false;
            self.writeable_callback();
        }
    }

    /// Bytes are waiting to go out (in the connection or inside the transport).
    fn has_output(&self) -> bool {
        self.conn.wants_transmit() || self.unflushed
    }

    /// Writes what can be written now, without waiting.
    fn flush(&mut self) {
        let mut cx = TaskCx::from_waker(Waker::noop());
        let _ = self.poll_output(&mut cx);
    }

    /// Writes the connection's queue and flushes the transport. Ready when
    /// everything is out (or the connection failed); Pending with the waker
    /// registered otherwise.
    fn poll_output(&mut self, cx: &mut TaskCx<'_>) -> Poll<()> {
        loop {
            let out = self.conn.poll_transmit();
            if out.is_empty() {
                break;
            }
            match Pin::new(&mut self.io).poll_write(cx, out) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    self.conn.advance(n);
                    if self.io.buffers_writes() {
                        self.unflushed = true;
                    }
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => {
                    self.write_failed();
                    return Poll::Ready(());
                }
            }
        }
        if self.unflushed {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(_)) => {
                    self.write_failed();
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    fn write_failed(&mut self) {
        self.eof = true;
        self.conn.abort();
        self.unflushed = false;
    }

    fn start_close(&mut self, code: CloseCode, reason: &str) {
        if self.conn.state() != State::Open {
            return;
        }
        let _ = self.conn.close(code, reason, std::time::Instant::now());
        if let Some(at) = self.conn.poll_timeout() {
            self.close_deadline = Some(Box::pin(tokio::time::sleep_until(at.into())));
        }
    }

    /// Reads into the thread's read buffer. Ready with the byte count (0 at
    /// the end of the stream or on an error).
    fn poll_input(&mut self, cx: &mut TaskCx<'_>) -> Poll<usize> {
        READ_BUFFER.with(|b| {
            let Ok(mut buf) = b.try_borrow_mut() else {
                return Poll::Pending;
            };
            let mut rb = ReadBuf::new(&mut buf[..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(rb.filled().len()),
                Poll::Ready(Err(_)) => Poll::Ready(0),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Handles `n` bytes that [`Conn::poll_input`] left in the read buffer.
    fn on_read(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
            return;
        }
        self.sig.last_rx.set(self.pt.clock.now());
        self.sig.ping_sent.set(0);
        READ_BUFFER.with(|b| {
            if let Ok(mut buf) = b.try_borrow_mut() {
                self.process(&mut buf[..n]);
            }
        });
    }

    /// Parses and dispatches `buf`. If RX gets paused midway, keeps the rest.
    fn process(&mut self, buf: &mut [u8]) {
        let mut pos = 0;
        // A frame of zero length at the end comes with its header, so
        // nothing is left once every byte is used.
        while pos < buf.len() {
            if self.ctl.paused {
                self.held.extend_from_slice(&buf[pos..]);
                return;
            }
            // Reading data never changes the state, so this holds for a Data event.
            let open = self.conn.state() == State::Open;
            let (n, ev) = match self.conn.read(&mut buf[pos..]) {
                Ok(r) => r,
                Err(e) => {
                    // The connection queued its close with the error's code.
                    tracing::debug!(conn = %Tag(Kind::Ws, self.sig.id), error = %e, "websocket protocol error");
                    return;
                }
            };
            pos += n;
            match ev {
                None if n == 0 => return,
                None | Some(Event::Ping(_) | Event::Pong(_)) => {}
                // Once our close is out, what the peer still sends is dropped (as lws does).
                Some(Event::Data(_)) if !open => {}
                Some(Event::Data(msg)) => {
                    let res = deliver(&self.pt, &self.sig, &mut self.ctl, &mut self.session, msg);
                    self.after_callback(res);
                }
                Some(Event::Close { code, reason }) => {
                    tracing::debug!(conn = %Tag(Kind::Ws, self.sig.id), ?code, reason, "peer closed");
                    if self.conn.state() == State::CloseReceived {
                        self.last_writeable();
                    }
                    return;
                }
            }
        }
    }

    fn after_callback(&mut self, res: Result<(), Close>) {
        self.apply_control();
        if let Err(c) = res {
            self.closed_by_protocol |= self.conn.state() == State::Open;
            self.start_close(c.code, &c.reason);
        }
    }

    /// Flushes the rest, closes the TCP connection cleanly, and reports `closed`.
    async fn finish(&mut self) {
        self.pt.remove(&self.sig);
        self.pt.shared.conn_closed(self.pt.tsi, self.sig.reg.get());
        if let Some(session) = self.session.take() {
            let code = self.conn.peer_close_code();
            self.pt.call(&self.sig, &mut Control::default(), |p, cx| {
                p.closed(cx, session, code)
            });
        }
        let io = &mut self.io;
        let out = self.conn.poll_transmit();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if !out.is_empty() {
                io.write_all(out).await?;
            }
            io.flush().await?;
            io.shutdown().await?;
            // Read to EOF so unread input does not turn our close into a reset.
            let mut scratch = [0u8; 512];
            while io.read(&mut scratch).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
    }
}

/// Calls `receive` (a free function so the parser's borrow of the connection can stay alive).
fn deliver<P: Protocol>(
    pt: &Rc<ProtoThread<P>>,
    sig: &Rc<ConnSignal>,
    ctl: &mut Control,
    session: &mut Option<P::Session>,
    msg: Received<'_>,
) -> Result<(), Close> {
    let Some(session) = session.as_mut() else {
        return Ok(());
    };
    pt.call(sig, ctl, |p, cx| p.receive(cx, session, msg))
}
