//! One raw connection's task: reads unless paused, hands bytes to
//! `receive`, calls `writeable` when asked and the last bytes have gone
//! out, keeps its deadline, and ends with `closed`.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::cx::{Asked, Remote};
use super::{Erased, Hangup, RawClosed, RawCx, RawPeer, RawProtocol, RawWriter};
use crate::runtime::{ConnId, Kind, LiveGuard, Stream, Tag, ThreadCore};

/// The byte stream under a raw connection.
pub(crate) type RawIo = Box<dyn Stream>;

/// A raw connection about to run on a service thread.
pub(crate) struct RawConn {
    pub(crate) io: RawIo,
    pub(crate) peer: RawPeer,
    pub(crate) id: ConnId,
    pub(crate) guard: LiveGuard,
    pub(crate) remote: Arc<Remote>,
    pub(crate) core: Rc<ThreadCore>,
}

/// Read buffer per connection.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) fn spawn<P: RawProtocol>(proto: Arc<Erased<P>>, conn: RawConn) {
    tokio::task::spawn_local(run(proto, conn));
}

async fn run<P: RawProtocol>(proto: Arc<Erased<P>>, conn: RawConn) {
    let RawConn {
        io,
        peer,
        id,
        guard,
        remote,
        core,
    } = conn;
    let _guard = guard;
    let _task = core.task_guard();
    let mut closing = core.closing();
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut asked = Asked::default();
    let mut cx = RawCx {
        id,
        peer: &peer,
        asked: &mut asked,
        remote: &remote,
    };
    let Ok(mut session) = proto.adopted(&mut cx) else {
        tracing::debug!(conn = %Tag(Kind::Raw, id.get()), %peer, "raw connection refused by its protocol");
        return;
    };
    tracing::debug!(conn = %Tag(Kind::Raw, id.get()), %peer, protocol = %proto.name(), "raw connection");
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out: Vec<u8> = Vec::new();
    let mut sent = 0usize;
    let mut deadline: Option<(&'static str, Instant)> = None;
    let why = loop {
        // What the last callback and other threads asked for.
        if let Some(t) = asked.timeout.take() {
            deadline = t.map(|(r, d)| (r, Instant::now() + d));
        }
        if remote.resume.swap(false, Ordering::AcqRel) {
            asked.paused = false;
        }
        if remote.writeable.swap(false, Ordering::AcqRel) {
            asked.writeable = true;
        }
        if remote.close.swap(false, Ordering::AcqRel) {
            asked.close = true;
        }
        if sent == out.len() {
            out.clear();
            sent = 0;
            if asked.close {
                break RawClosed::Hangup;
            }
            if asked.writeable {
                asked.writeable = false;
                let mut cx = RawCx {
                    id,
                    peer: &peer,
                    asked: &mut asked,
                    remote: &remote,
                };
                let mut w = RawWriter { out: &mut out };
                if proto.writeable(&mut cx, &mut session, &mut w) == Err(Hangup) {
                    break RawClosed::Hangup;
                }
                continue;
            }
        }
        if *closing.borrow() {
            break RawClosed::Shutdown;
        }
        let reading = !asked.paused;
        let writing = sent < out.len();
        let until = deadline.map(|(_, t)| t);
        tokio::select! {
            biased;
            _ = closing.changed() => break RawClosed::Shutdown,
            _ = async { tokio::time::sleep_until(until.unwrap_or_else(Instant::now)).await }, if until.is_some() => {
                let reason = deadline.map_or("timeout", |(r, _)| r);
                tracing::info!(conn = %Tag(Kind::Raw, id.get()), %peer, reason, "raw connection timed out");
                break RawClosed::Timeout(reason);
            }
            r = wr.write(&out[sent..]), if writing => match r {
                Ok(0) => break RawClosed::Error("write returned 0".into()),
                Ok(n) => {
                    sent += n;
                    if sent == out.len() {
                        if let Err(e) = wr.flush().await {
                            break RawClosed::Error(e.to_string());
                        }
                    }
                }
                Err(e) => break RawClosed::Error(e.to_string()),
            },
            r = rd.read(&mut buf), if reading => match r {
                Ok(0) => break RawClosed::PeerClosed,
                Ok(n) => {
                    let mut cx = RawCx {
                        id,
                        peer: &peer,
                        asked: &mut asked,
                        remote: &remote,
                    };
                    if proto.receive(&mut cx, &mut session, &buf[..n]) == Err(Hangup) {
                        break RawClosed::Hangup;
                    }
                }
                Err(e) => break RawClosed::Error(e.to_string()),
            },
            _ = remote.notify.notified() => {}
        }
    };
    if matches!(why, RawClosed::Hangup) {
        let _ = wr.shutdown().await;
    }
    tracing::debug!(conn = %Tag(Kind::Raw, id.get()), %peer, ?why, "raw connection closed");
    proto.closed(session, &why);
}
