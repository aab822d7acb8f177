//! `rlws bench`: a closed-loop WebSocket load generator.
//!
//! * `echo`: N connections each send an M-byte message, wait for the echo,
//!   and repeat, for a fixed time; reports messages per second and round-trip
//!   latency percentiles.
//! * `broadcast`: one sender, N receivers on a broadcast endpoint (every
//!   message sent by one connection goes to all); reports deliveries per
//!   second and send-to-receive latency. The sender keeps a window of
//!   messages ahead of the slowest receiver.
//! * `idle`: opens N idle WebSocket connections and reports how much the
//!   server's resident memory grew per connection (`--pid` of the server).
//!
//! CPU is measured over the whole machine (/proc/stat: every core's busy
//! time, softirq included, divided by the messages of the run), because on
//! a machine whose cores both run flat out the kernel's network work is
//! charged to whichever process happens to be on the core; with `--pid`
//! the server's user-space time is reported too. For repeatable figures of
//! the server alone, count instructions (scripts/callgrind-echo.sh).
//!
//! `echo --deflate` offers permessage-deflate and sends JSON-like text that
//! compresses about 5:1, through the rlws client (which inflates and
//! deflates like any client would).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rlws_ws::frame::encode_frame;
use rlws_ws::{FrameEvent, Limits, OpCode, Receiver, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Subcommand)]
enum Mode {
    /// Echo round trips: N connections, M-byte messages, closed loop.
    Echo {
        /// ws://host:port/path of an echo endpoint.
        url: String,
        /// Connections.
        #[arg(short, long, default_value_t = 100)]
        connections: usize,
        /// Message size in bytes.
        #[arg(short, long, default_value_t = 20)]
        size: usize,
        /// Seconds to measure (after one second of warm-up).
        #[arg(short, long, default_value_t = 5)]
        duration: u64,
        /// Client threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Send text messages instead of binary.
        #[arg(long)]
        text: bool,
        /// Print one JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
        /// Process id of the server: also report its user-space CPU time per
        /// message (whole-machine CPU is always reported).
        #[arg(long)]
        pid: Option<u32>,
        /// Offer permessage-deflate and send compressible JSON-like text.
        #[arg(long)]
        deflate: bool,
    },
    /// Fan-out: one sender, N receivers on a broadcast endpoint.
    Broadcast {
        /// ws://host:port/path of a broadcast endpoint.
        url: String,
        /// Receiving connections.
        #[arg(short, long, default_value_t = 1000)]
        connections: usize,
        /// Message size in bytes (at least 40; text).
        #[arg(short, long, default_value_t = 64)]
        size: usize,
        /// Seconds to measure (after one second of warm-up).
        #[arg(short, long, default_value_t = 5)]
        duration: u64,
        /// Client threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Messages the sender may be ahead of the slowest receiver.
        #[arg(long, default_value_t = 8)]
        window: u64,
        /// Subprotocol to ask for (e.g. lws-mirror-protocol).
        #[arg(short, long)]
        protocol: Option<String>,
        /// Print one JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
        /// Process id of the server: also report its user-space CPU time per
        /// delivery (whole-machine CPU is always reported).
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Memory per idle connection: opens N connections to the server with `--pid`.
    Idle {
        /// ws://host:port/path (or wss://, for TLS: the server's
        /// certificate is not checked) of a WebSocket endpoint.
        url: String,
        /// Connections to open.
        #[arg(short, long, default_value_t = 10000)]
        connections: usize,
        /// Process id of the server, to read its resident memory.
        #[arg(long)]
        pid: u32,
        /// Before going idle, each connection sends one binary message of
        /// this many bytes and reads it back (what an idle connection holds
        /// after some traffic); 0: none.
        #[arg(long, default_value_t = 0)]
        echo: usize,
        /// Offer permessage-deflate (through rlws' client, as for wss://).
        #[arg(long)]
        deflate: bool,
        /// Print one JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: BenchArgs) -> ExitCode {
    let _ = rlws::raise_nofile(1 << 20);
    let threads = match &args.mode {
        Mode::Echo { threads, .. } | Mode::Broadcast { threads, .. } => *threads,
        Mode::Idle { .. } => 1,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rlws bench: {e}");
            return ExitCode::from(1);
        }
    };
    let res = rt.block_on(async move {
        match args.mode {
            Mode::Echo {
                url,
                connections,
                size,
                duration,
                json,
                pid,
                deflate: true,
                ..
            } => {
                echo_deflate(
                    &url,
                    connections,
                    size,
                    Duration::from_secs(duration),
                    json,
                    pid,
                )
                .await
            }
            Mode::Echo {
                url,
                connections,
                size,
                duration,
                text,
                json,
                pid,
                ..
            } => {
                echo(
                    &url,
                    connections,
                    size,
                    Duration::from_secs(duration),
                    text,
                    json,
                    pid,
                )
                .await
            }
            Mode::Broadcast {
                url,
                connections,
                size,
                duration,
                window,
                protocol,
                json,
                pid,
                ..
            } => {
                broadcast(
                    &url,
                    protocol.as_deref(),
                    connections,
                    size,
                    Duration::from_secs(duration),
                    window.max(1),
                    json,
                    pid,
                )
                .await
            }
            Mode::Idle {
                url,
                connections,
                pid,
                echo,
                deflate,
                json,
            } => idle(&url, connections, pid, echo, deflate, json).await,
        }
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rlws bench: {e}");
            ExitCode::from(1)
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Target {
    addr: String,
    host: String,
    path: String,
    protocol: Option<String>,
}

fn parse_url(url: &str) -> Result<Target, BoxError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported by the bench")?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    Ok(Target {
        addr,
        host: hostport.to_string(),
        path: path.to_string(),
        protocol: None,
    })
}

/// Opens a WebSocket; returns the stream and any bytes read past the handshake.
async fn connect(t: &Target) -> Result<(TcpStream, Vec<u8>), BoxError> {
    let mut s = TcpStream::connect(&t.addr).await?;
    s.set_nodelay(true)?;
    let proto = t
        .protocol
        .as_deref()
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{proto}\r\n",
        t.path, t.host
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut tmp = [0u8; 1024];
    loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err("connection closed during handshake".into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(
                    &buf[..buf.iter().position(|&c| c == b'\r').unwrap_or(0)],
                )
                .to_string();
                return Err(format!("handshake refused: {line}").into());
            }
            return Ok((s, buf[end + 4..].to_vec()));
        }
        if buf.len() > 16 * 1024 {
            return Err("handshake response too large".into());
        }
    }
}

/// Round trips of every connection of this run, the warm-up included
/// (what a server did in all, for meters that count its whole run, such
/// as callgrind's).
static ROUND_TRIPS_ALL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Round trips on one connection until `until`; returns latencies (µs) after `measure_from`.
async fn echo_conn(
    t: &Target,
    size: usize,
    text: bool,
    measure_from: Instant,
    until: Instant,
) -> Result<Vec<u32>, BoxError> {
    let (mut s, mut pending) = connect(t).await?;
    let payload = vec![b'x'; size];
    let mut frame = Vec::new();
    let op = if text { OpCode::Text } else { OpCode::Binary };
    encode_frame(
        &mut frame,
        op,
        true,
        false,
        &payload,
        Some([0x37, 0xfa, 0x21, 0x3d]),
    );
    let mut rx = Receiver::new(
        Role::Client,
        Limits {
            max_frame: u64::MAX >> 1,
            max_message: u64::MAX >> 1,
        },
    );
    let mut buf = vec![0u8; 64 * 1024];
    let mut lat = Vec::new();
    while Instant::now() < until {
        let t0 = Instant::now();
        s.write_all(&frame).await?;
        let mut got = 0usize;
        let mut done = false;
        while !done {
            let n = if !pending.is_empty() {
                let n = pending.len().min(buf.len());
                buf[..n].copy_from_slice(&pending[..n]);
                pending.drain(..n);
                n
            } else {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Err("server closed the connection".into());
                }
                n
            };
            let mut pos = 0;
            while pos < n {
                let (used, ev) = rx.next(&mut buf[pos..n])?;
                pos += used;
                match ev {
                    Some(FrameEvent::Data { data, last, .. }) => {
                        got += data.len();
                        if last {
                            if got != size {
                                return Err(
                                    format!("echo of {size} bytes came back as {got}").into()
                                );
                            }
                            done = true;
                        }
                    }
                    Some(FrameEvent::Close { code, .. }) => {
                        return Err(format!("server closed with {code:?}").into())
                    }
                    Some(_) => {}
                    None if used == 0 => break,
                    None => {}
                }
            }
            if pos < n {
                pending.extend_from_slice(&buf[pos..n]);
            }
        }
        ROUND_TRIPS_ALL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if t0 >= measure_from {
            lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
    }
    Ok(lat)
}

fn pct(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Clock ticks per second of /proc's counters.
fn clock_hz() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    if hz > 0.0 {
        hz
    } else {
        100.0
    }
}

/// User-space CPU time of process `pid`, in seconds. (Its system time is
/// not reported: softirq work is charged to whichever process is on the
/// core, so it says little about the process.)
fn user_secs(pid: u32) -> Result<f64, BoxError> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime is the 14th.
    let rest = s.rsplit_once(')').ok_or("bad /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).ok_or("no utime")?.parse::<f64>()?;
    Ok(ticks / clock_hz())
}

/// Busy CPU time of the whole machine (every core: user, system, irq,
/// softirq, steal; not idle or iowait), in seconds, from /proc/stat.
fn machine_busy_secs() -> Result<f64, BoxError> {
    let s = std::fs::read_to_string("/proc/stat")?;
    busy_ticks(&s).map(|t| t / clock_hz())
}

/// The busy ticks of /proc/stat's first (`cpu`) line.
fn busy_ticks(stat: &str) -> Result<f64, BoxError> {
    let line = stat.lines().next().ok_or("empty /proc/stat")?;
    let mut f = line.split_whitespace();
    if f.next() != Some("cpu") {
        return Err("no cpu line in /proc/stat".into());
    }
    let v: Vec<f64> = f
        .take(8)
        .map(|x| x.parse::<f64>())
        .collect::<Result<_, _>>()?;
    if v.len() < 8 {
        return Err("short cpu line in /proc/stat".into());
    }
    // user nice system idle iowait irq softirq steal
    Ok(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
}

/// CPU meters around a measured run.
struct Meters {
    machine: f64,
    user: Option<(u32, f64)>,
}

impl Meters {
    fn start(pid: Option<u32>) -> Result<Meters, BoxError> {
        Ok(Meters {
            machine: machine_busy_secs()?,
            user: match pid {
                Some(p) => Some((p, user_secs(p)?)),
                None => None,
            },
        })
    }

    /// The CPU time used since the start: (whole machine, server user).
    fn used(&self) -> Result<(f64, Option<f64>), BoxError> {
        Ok((
            machine_busy_secs()? - self.machine,
            match self.user {
                Some((p, u0)) => Some(user_secs(p)? - u0),
                None => None,
            },
        ))
    }

    /// CPU in µs per `n` units since the start.
    fn per(&self, n: usize) -> Result<Cpu, BoxError> {
        Ok(Cpu::per(self.used()?, n))
    }
}

/// CPU per message: the whole machine's, and the server's user time.
#[derive(Clone, Copy, Default)]
struct Cpu {
    machine_us: f64,
    user_us: Option<f64>,
}

impl Cpu {
    fn per((machine, user): (f64, Option<f64>), n: usize) -> Cpu {
        let n = n.max(1) as f64;
        Cpu {
            machine_us: machine * 1e6 / n,
            user_us: user.map(|u| u * 1e6 / n),
        }
    }

    fn json(&self, unit: &str) -> String {
        format!(
            "\"machine_cpu_us_per_{unit}\":{:.3},\"server_user_us_per_{unit}\":{}",
            self.machine_us,
            self.user_us
                .map_or("null".to_string(), |u| format!("{u:.3}"))
        )
    }

    fn text(&self, unit: &str) -> String {
        let mut t = format!("machine CPU {:.3} us/{unit}", self.machine_us);
        if let Some(u) = self.user_us {
            t.push_str(&format!(", server user {u:.3} us/{unit}"));
        }
        t
    }
}

async fn echo(
    url: &str,
    conns: usize,
    size: usize,
    dur: Duration,
    text: bool,
    json: bool,
    pid: Option<u32>,
) -> Result<(), BoxError> {
    let t = std::sync::Arc::new(parse_url(url)?);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let until = measure_from + dur;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            echo_conn(&t, size, text, measure_from, until).await
        }));
    }
    finish_echo("echo", tasks, measure_from, pid, conns, size, dur, json).await
}

/// Waits for the connections' latencies, measures the server's CPU time from
/// `measure_from` on, and prints the report.
#[allow(clippy::too_many_arguments)]
async fn finish_echo(
    mode: &str,
    tasks: Vec<tokio::task::JoinHandle<Result<Vec<u32>, BoxError>>>,
    measure_from: Instant,
    pid: Option<u32>,
    conns: usize,
    size: usize,
    dur: Duration,
    json: bool,
) -> Result<(), BoxError> {
    tokio::time::sleep_until(measure_from.into()).await;
    let meters = Meters::start(pid)?;
    let mut all = Vec::new();
    for h in tasks {
        all.extend(h.await.map_err(|e| format!("task: {e}"))??);
    }
    let cpu = meters.per(all.len())?;
    report(mode, conns, size, dur, &mut all, cpu, json);
    Ok(())
}

/// JSON-like text of `size` bytes that compresses roughly 5:1, different
/// for each `seed`.
fn json_text(size: usize, seed: u64) -> String {
    let mut s = String::with_capacity(size + 128);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut i = 0u64;
    s.push('[');
    while s.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!(
            "{{\"id\":{},\"user\":\"user{}\",\"score\":{}.{},\"active\":{},\"tags\":[\"t{}\",\"t{}\"]}},",
            i,
            x % 1000,
            x % 100,
            (x >> 8) % 1000,
            x & 1 == 1,
            (x >> 16) % 20,
            (x >> 24) % 20
        ));
        i += 1;
    }
    s.truncate(size);
    s
}

/// Echo round trips through the rlws client with permessage-deflate.
async fn echo_deflate(
    url: &str,
    conns: usize,
    size: usize,
    dur: Duration,
    json: bool,
    pid: Option<u32>,
) -> Result<(), BoxError> {
    use rlws::client::{connect, ClientConfig, Message};
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let until = measure_from + dur;
    let mut tasks = Vec::new();
    for c in 0..conns {
        let cfg = ClientConfig::new(url)?;
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(cfg).await?;
            if ws.deflate().is_none() {
                return Err("the server did not accept permessage-deflate".into());
            }
            // A few different messages, so context takeover does not make
            // every message after the first almost free.
            let msgs: Vec<String> = (0..8).map(|k| json_text(size, c as u64 * 8 + k)).collect();
            let mut lat = Vec::new();
            let mut k = 0;
            while Instant::now() < until {
                let t0 = Instant::now();
                let m = msgs[k % msgs.len()].clone();
                k += 1;
                ws.send(Message::Text(m)).await?;
                match ws.recv().await {
                    Some(Ok(Message::Text(t))) if t.len() == size => {}
                    other => return Err(format!("bad echo: {other:?}").into()),
                }
                if t0 >= measure_from {
                    lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
            }
            let _ = ws.close(1000, "").await;
            Ok::<_, BoxError>(lat)
        }));
    }
    finish_echo(
        "echo-deflate",
        tasks,
        measure_from,
        pid,
        conns,
        size,
        dur,
        json,
    )
    .await
}

fn report(
    mode: &str,
    conns: usize,
    size: usize,
    dur: Duration,
    all: &mut [u32],
    cpu: Cpu,
    json: bool,
) {
    all.sort_unstable();
    let rate = all.len() as f64 / dur.as_secs_f64();
    let (p50, p90, p99, max) = (
        pct(all, 0.5),
        pct(all, 0.9),
        pct(all, 0.99),
        all.last().copied().unwrap_or(0),
    );
    if json {
        println!(
            "{{\"mode\":\"{mode}\",\"connections\":{conns},\"size\":{size},\"messages\":{},\"messages_with_warmup\":{},\"msgs_per_sec\":{rate:.0},{},\"p50_us\":{p50},\"p90_us\":{p90},\"p99_us\":{p99},\"max_us\":{max}}}",
            all.len(),
            ROUND_TRIPS_ALL.load(std::sync::atomic::Ordering::Relaxed),
            cpu.json("msg")
        );
    } else {
        println!(
            "{mode} {conns} conns x {size} B: {rate:.0} msg/s ({} in {:.1} s), latency p50 {p50} us, p90 {p90} us, p99 {p99} us, max {max} us, {}",
            all.len(),
            dur.as_secs_f64(),
            cpu.text("msg")
        );
    }
}

/// Shared progress of a broadcast run.
struct Fanout {
    /// Highest sequence number each receiver has seen.
    seen: Vec<std::sync::atomic::AtomicU64>,
    progress: tokio::sync::Notify,
    start: Instant,
}

impl Fanout {
    fn slowest(&self) -> u64 {
        self.seen
            .iter()
            .map(|a| a.load(std::sync::atomic::Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }
}

/// Text payload: 16 hex digits of sequence number, 16 of send time (ns
/// since the start), then padding.
fn stamp(seq: u64, ns: u64, size: usize) -> Vec<u8> {
    let mut v = format!("{seq:016x}{ns:016x}").into_bytes();
    v.resize(size.max(40), b'.');
    v
}

fn parse_stamp(b: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(b.get(..32)?).ok()?;
    Some((
        u64::from_str_radix(&s[..16], 16).ok()?,
        u64::from_str_radix(&s[16..32], 16).ok()?,
    ))
}

/// Reads messages on one receiver until `until`; returns (latencies of
/// messages sent after `measure_from`, messages missed).
async fn receiver(
    conn: (TcpStream, Vec<u8>),
    idx: usize,
    fan: std::sync::Arc<Fanout>,
    measure_from_ns: u64,
    until: Instant,
) -> Result<(Vec<u32>, u64), BoxError> {
    let (mut s, mut pending) = conn;
    let mut rx = Receiver::new(
        Role::Client,
        Limits {
            max_frame: 1 << 24,
            max_message: 1 << 24,
        },
    );
    let mut buf = vec![0u8; 16 * 1024];
    let mut head: Vec<u8> = Vec::with_capacity(32);
    let mut lat = Vec::new();
    let mut missed = 0u64;
    let mut last = 0u64;
    loop {
        let n = if !pending.is_empty() {
            let n = pending.len().min(buf.len());
            buf[..n].copy_from_slice(&pending[..n]);
            pending.drain(..n);
            n
        } else {
            match tokio::time::timeout_at(until.into(), s.read(&mut buf)).await {
                Err(_) => break,
                Ok(Ok(0)) => return Err("server closed a receiver".into()),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(e.into()),
            }
        };
        let mut pos = 0;
        while pos < n {
            let (used, ev) = rx.next(&mut buf[pos..n])?;
            pos += used;
            match ev {
                Some(FrameEvent::Data {
                    data,
                    first,
                    last: end,
                    ..
                }) => {
                    if first {
                        head.clear();
                    }
                    if head.len() < 32 {
                        let take = (32 - head.len()).min(data.len());
                        head.extend_from_slice(&data[..take]);
                    }
                    if end {
                        let Some((seq, ns)) = parse_stamp(&head) else {
                            continue;
                        };
                        if seq > last + 1 && last > 0 {
                            missed += seq - last - 1;
                        }
                        last = last.max(seq);
                        fan.seen[idx].store(last, std::sync::atomic::Ordering::Relaxed);
                        fan.progress.notify_one();
                        if ns >= measure_from_ns {
                            let now = fan.start.elapsed().as_nanos() as u64;
                            lat.push(
                                (now.saturating_sub(ns) / 1000).min(u64::from(u32::MAX)) as u32
                            );
                        }
                    }
                }
                Some(FrameEvent::Close { code, .. }) => {
                    return Err(format!("server closed a receiver with {code:?}").into())
                }
                Some(_) => {}
                None if used == 0 => break,
                None => {}
            }
        }
        if pos < n {
            pending.extend_from_slice(&buf[pos..n]);
        }
    }
    Ok((lat, missed))
}

#[allow(clippy::too_many_arguments)]
async fn broadcast(
    url: &str,
    protocol: Option<&str>,
    conns: usize,
    size: usize,
    dur: Duration,
    window: u64,
    json: bool,
    pid: Option<u32>,
) -> Result<(), BoxError> {
    let mut t = parse_url(url)?;
    t.protocol = protocol.map(str::to_string);
    let t = std::sync::Arc::new(t);
    let fan = std::sync::Arc::new(Fanout {
        seen: (0..conns)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
        progress: tokio::sync::Notify::new(),
        start: Instant::now(),
    });
    // Receivers first (100 connecting at a time), then the sender.
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let connected = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let setup_end = Instant::now() + Duration::from_secs(60);
    let until_cell = std::sync::Arc::new(std::sync::OnceLock::<(Instant, u64)>::new());
    let mut tasks = Vec::new();
    for i in 0..conns {
        let (t, fan, sem, connected, cell) = (
            t.clone(),
            fan.clone(),
            sem.clone(),
            connected.clone(),
            until_cell.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            // Connect, then wait for the run's timing before reading.
            let r = async {
                let conn = connect(&t).await?;
                drop(permit);
                connected.add_permits(1);
                loop {
                    if let Some(&(until, from)) = cell.get() {
                        return receiver(conn, i, fan, from, until).await;
                    }
                    if Instant::now() > setup_end {
                        return Err::<_, BoxError>("setup took too long".into());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            r.await
        }));
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        connected.acquire_many(conns as u32),
    )
    .await
    .map_err(|_| "receivers did not connect within 60 s")?;
    let (s, _) = connect(&t).await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let until = measure_from + dur;
    let measure_from_ns = (measure_from - fan.start).as_nanos() as u64;
    let _ = until_cell.set((until + Duration::from_millis(500), measure_from_ns));
    // The sender gets its own messages back too: drain them.
    let (mut rd, mut wr) = s.into_split();
    let drain = tokio::spawn(async move {
        let mut b = vec![0u8; 64 * 1024];
        while matches!(rd.read(&mut b).await, Ok(n) if n > 0) {}
    });
    let mut meters = None;
    let mut sent_measured = 0u64;
    let mut seq = 0u64;
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = Vec::with_capacity(size + 16);
    while Instant::now() < until {
        seq += 1;
        // Stay within `window` of the slowest receiver.
        while fan.slowest() + window < seq {
            if tokio::time::timeout_at(until.into(), fan.progress.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        if Instant::now() >= until {
            break;
        }
        if meters.is_none() && Instant::now() >= measure_from {
            meters = Some(Meters::start(pid)?);
        }
        let ns = fan.start.elapsed().as_nanos() as u64;
        if ns >= measure_from_ns {
            sent_measured += 1;
        }
        frame.clear();
        encode_frame(
            &mut frame,
            OpCode::Text,
            true,
            false,
            &stamp(seq, ns, size),
            Some(mask),
        );
        wr.write_all(&frame).await?;
    }
    let used = match &meters {
        Some(m) => m.used()?,
        None => (0.0, None),
    };
    let mut all = Vec::new();
    let mut missed = 0;
    for h in tasks {
        let (lat, m) = h.await.map_err(|e| format!("task: {e}"))??;
        all.extend(lat);
        missed += m;
    }
    drop(wr);
    drain.abort();
    let deliveries = all.len();
    let cpu = Cpu::per(used, deliveries);
    all.sort_unstable();
    let rate = deliveries as f64 / dur.as_secs_f64();
    let (p50, p99, max) = (
        pct(&all, 0.5),
        pct(&all, 0.99),
        all.last().copied().unwrap_or(0),
    );
    let sent_rate = sent_measured as f64 / dur.as_secs_f64();
    if json {
        println!(
            "{{\"mode\":\"broadcast\",\"connections\":{conns},\"size\":{size},\"sent_per_sec\":{sent_rate:.0},\"deliveries_per_sec\":{rate:.0},\"missed\":{missed},{},\"p50_us\":{p50},\"p99_us\":{p99},\"max_us\":{max}}}",
            cpu.json("delivery")
        );
    } else {
        println!(
            "broadcast to {conns} x {size} B: {sent_rate:.0} msg/s sent, {rate:.0} deliveries/s, {missed} missed, latency p50 {p50} us, p99 {p99} us, max {max} us, {}",
            cpu.text("delivery")
        );
    }
    Ok(())
}

fn rss_kib(pid: u32) -> Result<u64, BoxError> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    let kib = line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?;
    Ok(kib)
}

/// The server's VmRSS once it holds still: sampled every 500 ms (after
/// 2.5 s, time for a server to tidy up after the burst) until two samples
/// agree, for at most 5 s more.
async fn settled_rss(pid: u32) -> Result<u64, BoxError> {
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut last = rss_kib(pid)?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(pid)?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(last)
}

/// An idle connection's handle: a plain socket, or a TLS WebSocket of
/// rlws' client.
type Held = Box<dyn std::any::Any + Send>;

/// Opens an idle WebSocket to `url`: over plain TCP with a minimal
/// handshake, or over TLS with rlws' client (no compression offered, as
/// on plain TCP, unless `deflate`; the certificate is not checked). With
/// `echo` > 0, one binary message of that size goes out and comes back
/// first.
async fn hold(
    url: &str,
    plain: Option<&Target>,
    echo: usize,
    deflate: bool,
) -> Result<Held, BoxError> {
    if let Some(t) = plain {
        let (mut s, pending) = connect(t).await?;
        if echo > 0 {
            echo_once(&mut s, pending, echo).await?;
        }
        return Ok(Box::new(s));
    }
    let mut cfg = rlws::client::ClientConfig::new(url)?;
    cfg.tls.insecure = true;
    if !deflate {
        cfg.deflate = None;
    }
    let mut ws = rlws::client::connect(cfg).await?;
    if echo > 0 {
        let m = rlws::client::Message::Binary(vec![b'x'; echo]);
        ws.send(m.clone()).await?;
        match ws.recv().await {
            Some(Ok(r)) if r == m => {}
            other => return Err(format!("echo came back as {other:?}").into()),
        }
    }
    Ok(Box::new(ws))
}

/// Sends one masked binary message of `size` bytes and reads the echo
/// (an unmasked frame of the same size) to its end.
async fn echo_once(s: &mut TcpStream, pending: Vec<u8>, size: usize) -> Result<(), BoxError> {
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        OpCode::Binary,
        true,
        false,
        &vec![b'x'; size],
        Some([0x37, 0xfa, 0x21, 0x3d]),
    );
    s.write_all(&frame).await?;
    let ext = match size {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    let want = 2 + ext + size;
    let mut got = pending.len();
    let mut buf = vec![0u8; 16 * 1024];
    while got < want {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err("server closed the connection before the echo".into());
        }
        got += n;
    }
    if got > want {
        return Err("more than the echo came back".into());
    }
    Ok(())
}

async fn idle(
    url: &str,
    conns: usize,
    pid: u32,
    echo: usize,
    deflate: bool,
    json: bool,
) -> Result<(), BoxError> {
    let plain = if url.starts_with("wss://") || deflate {
        None
    } else {
        Some(parse_url(url)?)
    };
    let plain = std::sync::Arc::new(plain);
    let url: std::sync::Arc<str> = url.into();
    // Warm the server up with a few connections so one-time allocations are not counted.
    {
        let mut warm = Vec::new();
        for _ in 0..50 {
            warm.push(hold(&url, plain.as_ref().as_ref(), echo, deflate).await?);
        }
        drop(warm);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = rss_kib(pid)?;
    let mut open = Vec::with_capacity(conns);
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (url, plain) = (url.clone(), plain.clone());
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            hold(&url, plain.as_ref().as_ref(), echo, deflate).await
        }));
    }
    for h in tasks {
        open.push(h.await.map_err(|e| format!("task: {e}"))??);
    }
    let after = settled_rss(pid).await?;
    let per = (after.saturating_sub(before) as f64 * 1024.0) / conns as f64;
    if json {
        println!("{{\"mode\":\"idle\",\"connections\":{conns},\"echo\":{echo},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_conn\":{per:.0}}}");
    } else {
        let after_echo = if echo > 0 {
            format!(" (after echoing {echo} B each)")
        } else {
            String::new()
        };
        println!("idle {conns} conns{after_echo}: server RSS {before} KiB -> {after} KiB, {per:.0} bytes per connection");
    }
    drop(open);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 30 1000 50 2 8 1 0 0\ncpu0 50 2 15 500 25 1 4 0 0 0\n";
        assert_eq!(
            busy_ticks(stat).unwrap(),
            100.0 + 5.0 + 30.0 + 2.0 + 8.0 + 1.0
        );
        assert!(busy_ticks("intr 1 2 3\n").is_err());
        assert!(busy_ticks("cpu 1 2\n").is_err());
    }
}
