//! A WebSocket connection run as a task of its own, for streams a
//! service thread's tables do not take (HTTP/2 streams, client TLS, test
//! pipes, threads without a poller): the
//! [`Core`] over an `AsyncRead + AsyncWrite` transport, with one sleep for
//! its earliest deadline.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

use super::core::{Core, Out, Sent, READ_BUFFER};
use super::protocol::Protocol;
use super::signal::TaskSignal;
use super::slot::ProtoThread;
use super::writer::DirectWrite;
use crate::runtime::Transport;

/// The transport and a task context, as the core writes to it.
struct TaskOut<'a, 'b> {
    io: &'a mut Transport,
    cx: &'a mut TaskCx<'b>,
}

impl Out for TaskOut<'_, '_> {
    fn send(&mut self, buf: &[u8]) -> Sent {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(Ok(n)) => Sent::Wrote(n),
            Poll::Ready(Err(_)) => Sent::Failed,
            Poll::Pending => Sent::Blocked,
        }
    }

    fn flush(&mut self) -> Sent {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(Ok(())) => Sent::Wrote(0),
            Poll::Ready(Err(_)) => Sent::Failed,
            Poll::Pending => Sent::Blocked,
        }
    }

    fn buffers(&self) -> bool {
        self.io.buffers_writes()
    }

    fn direct(&self) -> Option<&dyn DirectWrite> {
        self.io.direct().map(|s| s as &dyn DirectWrite)
    }
}

/// Runs a connection as a task to its end; true if one of its callbacks
/// asked for the close.
pub(super) async fn run<P: Protocol>(
    pt: Rc<ProtoThread<P>>,
    sig: Rc<TaskSignal>,
    mut core: Core<P>,
    mut io: Transport,
    leftover: bytes::Bytes,
) -> bool {
    io.set_nodelay();
    core.start(&pt, &sig.sig, &leftover);
    // `leftover` may share the HTTP parser's whole read buffer: free it now,
    // not when the connection ends.
    drop(leftover);
    let mut sleep: Option<Pin<Box<Sleep>>> = None;
    let mut busy = 0u32;
    loop {
        let owed = {
            let mut cx = TaskCx::from_waker(Waker::noop());
            let mut out = TaskOut {
                io: &mut io,
                cx: &mut cx,
            };
            core.settle(&pt, &sig.sig, &mut out)
        };
        if core.over() {
            break;
        }
        match core.deadline() {
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                match sleep.as_mut() {
                    Some(s) if s.deadline() == at => {}
                    Some(s) => s.as_mut().reset(at),
                    None => sleep = Some(Box::pin(tokio::time::sleep_until(at))),
                }
            }
            None => sleep = None,
        }
        let mut waited = false;
        poll_fn(|cx| {
            if owed || sig.sig.flags.get() != 0 {
                return Poll::Ready(());
            }
            if core.has_output() {
                let mut out = TaskOut { io: &mut io, cx };
                if core.transmit(&mut out) {
                    return Poll::Ready(());
                }
            }
            if core.reading() {
                let read = READ_BUFFER.with(|b| {
                    let Ok(mut buf) = b.try_borrow_mut() else {
                        return Poll::Pending;
                    };
                    let mut rb = ReadBuf::new(&mut buf[..]);
                    match Pin::new(&mut io).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            core.on_read(&pt, &sig.sig, &mut buf[..n]);
                            Poll::Ready(())
                        }
                        Poll::Ready(Err(_)) => {
                            core.on_eof();
                            Poll::Ready(())
                        }
                        Poll::Pending => Poll::Pending,
                    }
                });
                if read.is_ready() {
                    return Poll::Ready(());
                }
            }
            if let Some(s) = sleep.as_mut() {
                if s.as_mut().poll(cx).is_ready() {
                    sleep = None;
                    core.on_time(&pt, &sig.sig, std::time::Instant::now());
                    return Poll::Ready(());
                }
            }
            let w = cx.waker();
            match sig.waker.take() {
                Some(old) if old.will_wake(w) => sig.waker.set(Some(old)),
                _ => sig.waker.set(Some(w.clone())),
            }
            waited = true;
            Poll::Pending
        })
        .await;
        let f = sig.sig.take();
        if f != 0 {
            core.on_flags(&sig.sig, f);
        }
        // Never hog the thread: yield after a run of turns that never waited.
        busy = if waited { 0 } else { busy + 1 };
        if busy >= 32 || owed {
            busy = 0;
            tokio::task::yield_now().await;
        }
    }
    pt.remove(&sig);
    core.finish(&pt, &sig.sig);
    // Boxed: the closing state (timeouts, buffers) is only needed at the
    // end, so idle connections do not carry it.
    Box::pin(linger(&mut core, &mut io)).await;
    core.closed_by_protocol()
}

/// Flushes the rest, closes the stream cleanly, and reads to its end (for
/// at most 5 s) so that unread input does not turn the close into a reset.
async fn linger<P: Protocol>(core: &mut Core<P>, io: &mut Transport) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let rest = core.rest();
            if rest.is_empty() {
                break;
            }
            let n = io.write(rest).await?;
            if n == 0 {
                break;
            }
            core.advance(n);
        }
        io.flush().await?;
        io.shutdown().await?;
        let mut scratch = [0u8; 512];
        while io.read(&mut scratch).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}
