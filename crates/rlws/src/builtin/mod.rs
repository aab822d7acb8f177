//! The built-in protocols of the test site, compatible with lws' test server
//! and test client.

use std::sync::Arc;
use std::time::Duration;

use rlws_ws::DataKind;

use crate::runtime::ThreadIndex;
use crate::ws::ring::{Ring, TailId};
mod post_demo;
mod site;

pub use post_demo::{PostDemo, PostSession};
pub use site::TestSite;

/// The built-in HTTP handler named `name` (the name of its lws protocol),
/// as the origin of a `callback://` mount: `protocol-post-demo`, and
/// `lws-openmetrics` (the metrics, [`crate::OpenMetrics`]).
pub fn http_handler(name: &str) -> Option<Arc<dyn crate::Origin>> {
    match name {
        "protocol-post-demo" => Some(Arc::new(crate::site::Callback::new(PostDemo))),
        "lws-openmetrics" => Some(Arc::new(crate::site::OpenMetrics)),
        _ => None,
    }
}

/// The per-vhost options (lws' "pvo", lwsws' `ws-protocols` entries) each
/// built-in protocol and HTTP handler reads, by its name.
const OPTIONS: &[(&str, &[&str])] = &[
    ("dumb-increment-protocol", &[]),
    ("lws-mirror-protocol", &[]),
    ("rlws-echo", &[]),
    ("lws-status", &[]),
    ("lws-server-status", &["update-ms"]),
    ("protocol-post-demo", &[]),
    ("lws-openmetrics", &[]),
];

/// Checks per-vhost option `key` = `value` of protocol `protocol`: `Err`
/// says why a built-in protocol would ignore it (it reads no such option,
/// or the value is not one it can use). Protocols that are not built in
/// may read any option: those are always `Ok`.
#[doc(alias = "lws_protocol_vhost_options")]
pub fn check_protocol_option(protocol: &str, key: &str, value: &str) -> Result<(), String> {
    let Some((_, known)) = OPTIONS.iter().find(|(n, _)| *n == protocol) else {
        return Ok(());
    };
    if !known.contains(&key) {
        return Err(match known {
            [] => format!("{protocol} reads no options"),
            k => format!(
                "{protocol} has no option \"{key}\" (it reads: {})",
                k.join(", ")
            ),
        });
    }
    match key {
        "update-ms" if value.trim().parse::<u64>().is_err() => Err(format!(
            "\"{value}\" is not a number of milliseconds (the default, 5000, is used)"
        )),
        _ => Ok(()),
    }
}

use crate::ws::{
    Close, Cx, DeflateConfig, Handshake, Protocol, ProtocolOptions, Received, ThreadCx, Writer,
};

/// `dumb-increment-protocol`: sends an incrementing number every 50 ms; the
/// text message `reset\n` restarts it from 0, `closeme\n` closes with 1001.
#[derive(Debug, Default)]
pub struct DumbIncrement;

/// Session of [`DumbIncrement`].
#[derive(Debug)]
pub struct DumbSession {
    number: u64,
}

const DUMB_PERIOD: Duration = Duration::from_millis(50);

impl Protocol for DumbIncrement {
    type Session = DumbSession;
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "dumb-increment-protocol"
    }

    fn options(&self) -> ProtocolOptions {
        ProtocolOptions {
            max_message: 1024,
            max_frame: 1024,
            // Negotiated (browsers see it) but the numbers are too short to be
            // worth compressing, so they go out plain. This also keeps lws' own
            // test client working: it accepts the extension for this protocol
            // but cannot inflate (its RX buffer is below the 128 bytes it needs).
            deflate: Some(DeflateConfig {
                min_size: 64,
                ..DeflateConfig::default()
            }),
            ..Default::default()
        }
    }

    fn thread_init(&self, _tsi: ThreadIndex) {}

    fn established(
        &self,
        cx: &mut Cx<'_, Self>,
        _hs: &Handshake<'_>,
    ) -> Result<DumbSession, Close> {
        cx.set_timer(DUMB_PERIOD);
        Ok(DumbSession { number: 0 })
    }

    fn receive(
        &self,
        _cx: &mut Cx<'_, Self>,
        s: &mut DumbSession,
        msg: Received<'_>,
    ) -> Result<(), Close> {
        match msg.data {
            b"reset\n" => s.number = 0,
            b"closeme\n" => return Err(Close::new(1001, "seeya")),
            _ => {}
        }
        Ok(())
    }

    fn timer(&self, cx: &mut Cx<'_, Self>, _s: &mut DumbSession) -> Result<(), Close> {
        cx.request_writeable();
        cx.set_timer(DUMB_PERIOD);
        Ok(())
    }

    fn writeable(
        &self,
        _cx: &mut Cx<'_, Self>,
        s: &mut DumbSession,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let mut buf = itoa_buf(s.number);
        if w.text(buf.as_str()).is_ok() {
            s.number += 1;
        }
        buf.clear();
        Ok(())
    }
}

fn itoa_buf(n: u64) -> String {
    n.to_string()
}

/// `lws-mirror-protocol`: every message is sent to every connection of the
/// same mirror instance (the sender too), through a per-thread [`Ring`] of
/// that instance, and to the other service threads by posting. The
/// instance is named by the query, `?mirror=NAME` (lws' test page); no
/// name is the default instance.
///
/// Flow control as in lws: when an instance's ring is full, its senders'
/// RX is paused until the slowest reader on the thread catches up. Messages
/// arriving from other threads are never refused; readers too slow for them
/// skip ahead instead, so memory stays bounded either way.
#[derive(Debug)]
pub struct Mirror {
    ring_size: usize,
}

impl Default for Mirror {
    fn default() -> Self {
        Mirror { ring_size: 128 }
    }
}

/// One mirror instance on a thread.
#[derive(Debug)]
struct MirrorInstance {
    ring: Ring<Arc<[u8]>>,
    senders_paused: bool,
    /// Its connections on this thread.
    members: usize,
}

/// Per-thread state of [`Mirror`]: its instances, by name.
#[derive(Debug, Default)]
pub struct MirrorThread {
    instances: std::collections::HashMap<Arc<str>, MirrorInstance>,
}

/// Session of [`Mirror`].
#[derive(Debug)]
pub struct MirrorSession {
    instance: Arc<str>,
    tail: TailId,
}

/// Longest mirror instance name (longer ones are cut).
const MIRROR_NAME_MAX: usize = 64;

/// The mirror instance a query names (`mirror=NAME`).
fn mirror_name(query: Option<&str>) -> Arc<str> {
    let name = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("mirror="))
        .unwrap_or("");
    let end = name
        .char_indices()
        .nth(MIRROR_NAME_MAX)
        .map_or(name.len(), |(i, _)| i);
    Arc::from(&name[..end])
}

impl Mirror {
    fn instance<'a>(&self, st: &'a mut MirrorThread, name: &Arc<str>) -> &'a mut MirrorInstance {
        st.instances
            .entry(name.clone())
            .or_insert_with(|| MirrorInstance {
                ring: Ring::new(self.ring_size),
                senders_paused: false,
                members: 0,
            })
    }
}

impl Protocol for Mirror {
    type Session = MirrorSession;
    type ThreadState = MirrorThread;
    /// A message and the instance it is for.
    type Event = (Arc<str>, Arc<[u8]>);

    fn name(&self) -> &str {
        "lws-mirror-protocol"
    }

    fn options(&self) -> ProtocolOptions {
        ProtocolOptions {
            max_message: 64 * 1024,
            max_frame: 64 * 1024,
            deflate: Some(DeflateConfig::default()),
            ..Default::default()
        }
    }

    fn thread_init(&self, _tsi: ThreadIndex) -> MirrorThread {
        MirrorThread::default()
    }

    fn established(
        &self,
        cx: &mut Cx<'_, Self>,
        hs: &Handshake<'_>,
    ) -> Result<MirrorSession, Close> {
        let instance = mirror_name(hs.query);
        let inst = self.instance(cx.thread_state(), &instance);
        inst.members += 1;
        Ok(MirrorSession {
            tail: inst.ring.add_tail(),
            instance,
        })
    }

    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut MirrorSession,
        msg: Received<'_>,
    ) -> Result<(), Close> {
        if msg.kind != DataKind::Text {
            return Ok(());
        }
        let item: Arc<[u8]> = Arc::from(msg.data);
        let inst = self.instance(cx.thread_state(), &s.instance);
        if inst.ring.push(item.clone()).is_err() {
            // Only reachable if RX was not paused in time; keep memory bounded.
            inst.ring.push_overwrite(item.clone());
        }
        if inst.ring.is_full() {
            inst.senders_paused = true;
            cx.pause_rx();
        }
        cx.request_writeable_all();
        if cx.thread_count() > 1 {
            cx.post_others((s.instance.clone(), item));
        }
        Ok(())
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut MirrorSession,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let inst = self.instance(cx.thread_state(), &s.instance);
        let mut freed = false;
        while let Some(m) = inst.ring.peek(s.tail) {
            if w.message(DataKind::Text, m).is_err() {
                break;
            }
            freed |= inst.ring.advance(s.tail);
        }
        let more = inst.ring.pending(s.tail) > 0;
        let resume = freed && inst.senders_paused && !inst.ring.is_full();
        if resume {
            inst.senders_paused = false;
        }
        if more {
            cx.request_writeable();
        }
        if resume {
            cx.resume_rx_all();
        }
        Ok(())
    }

    fn closed(&self, cx: &mut Cx<'_, Self>, s: MirrorSession, _code: Option<rlws_ws::CloseCode>) {
        let st = cx.thread_state();
        let Some(inst) = st.instances.get_mut(&s.instance) else {
            return;
        };
        inst.ring.remove_tail(s.tail);
        inst.members -= 1;
        let resume = inst.senders_paused && !inst.ring.is_full();
        if resume {
            inst.senders_paused = false;
        }
        if inst.members == 0 {
            // Its last connection on this thread: the instance goes.
            st.instances.remove(&s.instance);
        }
        if resume {
            cx.resume_rx_all();
        }
    }

    fn event(&self, cx: &mut ThreadCx<'_, Self>, (name, item): (Arc<str>, Arc<[u8]>)) {
        // Only instances with connections on this thread keep messages.
        if let Some(inst) = cx.thread_state().instances.get_mut(&name) {
            inst.ring.push_overwrite(item);
            cx.request_writeable_all();
        }
    }
}

/// `rlws-echo`: every message comes back unchanged (text as text, binary as
/// binary), up to 16 MiB. Used at `/echo` for conformance suites.
#[derive(Debug)]
pub struct Echo {
    max_message: u64,
}

impl Default for Echo {
    fn default() -> Self {
        Echo {
            max_message: 16 << 20,
        }
    }
}

/// Session of [`Echo`]: messages received and not yet sent back.
#[derive(Debug, Default)]
pub struct EchoSession {
    backlog: Backlog,
    paused: bool,
}

/// [`Echo`]'s state on a service thread: spare buffers, so that steady
/// echo traffic does not allocate per message and idle connections hold
/// none.
#[derive(Debug, Default)]
pub struct EchoThread {
    spare: Vec<Vec<u8>>,
}

/// Spare buffers kept per thread, and the largest kept.
const ECHO_SPARES: usize = 64;
const ECHO_SPARE_MAX: usize = 64 * 1024;

/// Messages waiting to be echoed, one after another in one buffer: a kind
/// byte, the length as 4 bytes little-endian, the bytes.
#[derive(Debug, Default)]
struct Backlog {
    buf: Vec<u8>,
    /// Where the first message starts in `buf`.
    pos: usize,
    /// Messages from `pos` on.
    count: u32,
}

/// Bytes of a message's entry before its data.
const ENTRY: usize = 5;

impl Backlog {
    /// Adds a message (at most 4 GiB; the protocol's limit is 16 MiB).
    #[inline(always)]
    fn push(&mut self, kind: DataKind, data: &[u8]) {
        let l = u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes();
        let kind = u8::from(kind == DataKind::Binary);
        self.buf.extend_from_slice(&[kind, l[0], l[1], l[2], l[3]]);
        self.buf.extend_from_slice(data);
        self.count += 1;
    }

    /// The first message.
    #[inline(always)]
    fn front(&self) -> Option<(DataKind, &[u8])> {
        let &[kind, a, b, c, d] = self.buf.get(self.pos..self.pos + ENTRY)? else {
            return None;
        };
        let start = self.pos + ENTRY;
        let data = self
            .buf
            .get(start..start + u32::from_le_bytes([a, b, c, d]) as usize)?;
        let kind = if kind == 1 {
            DataKind::Binary
        } else {
            DataKind::Text
        };
        Some((kind, data))
    }

    /// Drops the first message (it was sent); `len` is its length, as
    /// [`Backlog::front`] gave it.
    #[inline(always)]
    fn pop(&mut self, len: usize) {
        self.pos = (self.pos + ENTRY + len).min(self.buf.len());
        self.count = self.count.saturating_sub(1);
    }

    /// After sending: what was sent makes room, once it is most of the
    /// buffer (all of it: the buffer is empty again).
    fn tidy(&mut self) {
        if self.count == 0 {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.len() / 2 && self.pos >= 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Bytes of the messages waiting.
    #[inline(always)]
    fn bytes(&self) -> usize {
        self.buf.len() - self.pos
    }
}

/// Pause reading when this much is waiting to be echoed.
const ECHO_HIGH_WATER: usize = 1 << 20;

impl Protocol for Echo {
    type Session = EchoSession;
    type ThreadState = EchoThread;
    type Event = ();

    fn name(&self) -> &str {
        "rlws-echo"
    }

    fn options(&self) -> ProtocolOptions {
        ProtocolOptions {
            max_message: self.max_message,
            max_frame: self.max_message,
            deflate: Some(DeflateConfig::default()),
            ..Default::default()
        }
    }

    fn thread_init(&self, _tsi: ThreadIndex) -> EchoThread {
        EchoThread::default()
    }

    fn established(
        &self,
        _cx: &mut Cx<'_, Self>,
        _hs: &Handshake<'_>,
    ) -> Result<EchoSession, Close> {
        Ok(EchoSession::default())
    }

    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut EchoSession,
        msg: Received<'_>,
    ) -> Result<(), Close> {
        let ts = cx.thread_state();
        let q = &mut s.backlog;
        if q.buf.capacity() == 0 {
            if let Some(b) = ts.spare.pop() {
                q.buf = b;
            }
        }
        q.push(msg.kind, msg.data);
        if q.bytes() >= ECHO_HIGH_WATER || q.count >= 256 {
            s.paused = true;
            cx.pause_rx();
        }
        cx.request_writeable();
        Ok(())
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut EchoSession,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let q = &mut s.backlog;
        while let Some((kind, data)) = q.front() {
            if w.message(kind, data).is_err() {
                break;
            }
            let len = data.len();
            q.pop(len);
        }
        q.tidy();
        if q.count == 0 {
            // All sent: the buffer goes back to the thread (a large one
            // is dropped), so an idle connection holds none.
            let b = std::mem::take(&mut q.buf);
            let spare = &mut cx.thread_state().spare;
            if b.capacity() <= ECHO_SPARE_MAX && spare.len() < ECHO_SPARES {
                spare.push(b);
            }
        } else {
            cx.request_writeable();
        }
        if s.paused && q.bytes() < ECHO_HIGH_WATER / 2 && q.count < 128 {
            s.paused = false;
            cx.resume_rx();
        }
        Ok(())
    }
}

/// `lws-status`: a JSON list of the context's live WebSocket connections,
/// sent on connect and whenever it changes.
#[derive(Debug, Default)]
pub struct Status;

/// Session of [`Status`].
#[derive(Debug)]
pub struct StatusSession {
    sent_generation: Option<u64>,
    over_h2: bool,
}

const STATUS_POLL: Duration = Duration::from_millis(250);

impl Protocol for Status {
    type Session = StatusSession;
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "lws-status"
    }

    fn options(&self) -> ProtocolOptions {
        ProtocolOptions {
            max_message: 1024,
            max_frame: 1024,
            deflate: Some(DeflateConfig::default()),
            ..Default::default()
        }
    }

    fn thread_init(&self, _tsi: ThreadIndex) {}

    fn established(
        &self,
        cx: &mut Cx<'_, Self>,
        hs: &Handshake<'_>,
    ) -> Result<StatusSession, Close> {
        cx.request_writeable();
        cx.set_timer(STATUS_POLL);
        Ok(StatusSession {
            sent_generation: None,
            over_h2: hs.over_h2,
        })
    }

    fn receive(
        &self,
        _cx: &mut Cx<'_, Self>,
        _s: &mut StatusSession,
        _msg: Received<'_>,
    ) -> Result<(), Close> {
        Ok(())
    }

    fn timer(&self, cx: &mut Cx<'_, Self>, s: &mut StatusSession) -> Result<(), Close> {
        if s.sent_generation != Some(cx.connections_generation()) {
            cx.request_writeable();
        }
        cx.set_timer(STATUS_POLL);
        Ok(())
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut StatusSession,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let generation = cx.connections_generation();
        if s.sent_generation == Some(generation) {
            return Ok(());
        }
        let conns: Vec<serde_json::Value> = cx
            .connections()
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id.get(),
                    "peer": c.peer.to_string(),
                    "protocol": c.protocol,
                    "path": c.path,
                    "since_ms": c.since_ms,
                    "ua": c.user_agent,
                    "tsi": c.tsi.get(),
                })
            })
            .collect();
        // The fields lws' own test page reads.
        let lws_conns: Vec<serde_json::Value> = cx
            .connections()
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "peer": c.peer.ip().to_string(),
                    "time": (c.since_ms / 1000).to_string(),
                    "ua": c.user_agent,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "connections": conns,
            "server": concat!("rlws ", env!("CARGO_PKG_VERSION")),
            "threads": cx.thread_count(),
            "version": concat!("rlws ", env!("CARGO_PKG_VERSION")),
            "hostname": hostname(),
            "wss_over_h2": if s.over_h2 { "1" } else { "0" },
            "conns": lws_conns,
        });
        if w.text(&doc.to_string()).is_ok() {
            s.sent_generation = Some(generation);
        }
        Ok(())
    }
}

/// This machine's name (Linux keeps it in /proc).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// `lws-server-status`: the server's state as JSON (lws' `"i"` object:
/// version, host name, CPUs, uptime, load averages, platform; and the
/// WebSocket count), sent on connect and every 5 s, or every `update-ms`
/// the vhost's protocol options say.
#[derive(Debug)]
pub struct ServerStatus {
    started: std::time::Instant,
    period: Duration,
}

impl Default for ServerStatus {
    fn default() -> Self {
        ServerStatus {
            started: std::time::Instant::now(),
            period: Duration::from_millis(5000),
        }
    }
}

impl ServerStatus {
    /// Sending every `period` (lws' `update-ms`).
    pub fn every(period: Duration) -> Self {
        ServerStatus {
            period: period.max(Duration::from_millis(10)),
            ..ServerStatus::default()
        }
    }

    fn doc(&self, cx: &Cx<'_, Self>) -> String {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let mut l = load.split_whitespace();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        serde_json::json!({
            "i": {
                "version": concat!("rlws ", env!("CARGO_PKG_VERSION")),
                "hostname": hostname(),
                "cpus": cpus.to_string(),
                "uptime": self.started.elapsed().as_secs().to_string(),
                "l1": l.next().unwrap_or("0"),
                "l2": l.next().unwrap_or("0"),
                "l3": l.next().unwrap_or("0"),
                "platform": std::env::consts::OS,
                "threads": cx.thread_count().to_string(),
            },
            "websockets": cx.connections().len(),
        })
        .to_string()
    }
}

impl Protocol for ServerStatus {
    /// How often this connection gets the document.
    type Session = Duration;
    type ThreadState = ();
    type Event = ();

    fn name(&self) -> &str {
        "lws-server-status"
    }

    fn thread_init(&self, _tsi: ThreadIndex) {}

    fn established(&self, cx: &mut Cx<'_, Self>, hs: &Handshake<'_>) -> Result<Duration, Close> {
        let period = hs
            .option("update-ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(self.period, |ms| Duration::from_millis(ms.max(10)));
        cx.request_writeable();
        cx.set_timer(period);
        Ok(period)
    }

    fn receive(
        &self,
        _cx: &mut Cx<'_, Self>,
        _s: &mut Duration,
        _msg: Received<'_>,
    ) -> Result<(), Close> {
        Ok(())
    }

    fn timer(&self, cx: &mut Cx<'_, Self>, period: &mut Duration) -> Result<(), Close> {
        cx.request_writeable();
        cx.set_timer(*period);
        Ok(())
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        _s: &mut Duration,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        let doc = self.doc(cx);
        let _ = w.text(&doc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Backlog, DataKind};

    fn msg(i: usize) -> Vec<u8> {
        format!("{i:05}").repeat(600).into_bytes()
    }

    #[test]
    fn the_echo_backlog_keeps_order_and_makes_room_as_it_is_sent() {
        let mut q = Backlog::default();
        assert!(q.front().is_none());
        for i in 0..100 {
            let kind = if i % 3 == 0 {
                DataKind::Text
            } else {
                DataKind::Binary
            };
            q.push(kind, &msg(i));
        }
        q.push(DataKind::Binary, b"");
        assert_eq!((q.count, q.bytes()), (101, 100 * (5 + 3000) + 5));
        for i in 0..60 {
            let (kind, data) = q.front().unwrap();
            assert_eq!(kind == DataKind::Text, i % 3 == 0, "message {i}");
            assert_eq!(data, msg(i), "message {i}");
            q.pop(data.len());
            q.tidy();
            // Never more than twice what waits (plus the compaction floor).
            assert!(q.buf.len() <= 2 * q.bytes() + 64 * 1024 + 3005);
        }
        // Most of it was sent: the buffer was compacted on the way.
        assert!(
            q.pos < 64 * 1024 && q.buf.len() < 50 * 3005,
            "{}",
            q.buf.len()
        );
        // Messages added now go after the others.
        q.push(DataKind::Text, b"late");
        for i in 60..100 {
            assert_eq!(q.front().unwrap().1, msg(i));
            q.pop(msg(i).len());
        }
        assert_eq!(q.front(), Some((DataKind::Binary, &b""[..])));
        q.pop(0);
        assert_eq!(q.front(), Some((DataKind::Text, &b"late"[..])));
        q.pop(4);
        q.tidy();
        assert_eq!((q.count, q.bytes(), q.pos), (0, 0, 0));
        assert!(q.front().is_none());
    }
}
