//! `rlws bench`: a closed-loop WebSocket load generator.
//!
//! * `echo`: N connections each send an M-byte message, wait for the echo,
//!   and repeat, for a fixed time; reports messages per second and round-trip
//!   latency percentiles.
//! * `idle`: opens N idle WebSocket connections and reports how much the
//!   server's resident memory grew per connection (`--pid` of the server).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rlws_ws::frame::encode_frame;
use rlws_ws::{Event, Limits, OpCode, Receiver, Role};
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
        /// Process id of the server: also report its CPU time per message.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Memory per idle connection: opens N connections to the server with `--pid`.
    Idle {
        /// ws://host:port/path of a WebSocket endpoint.
        url: String,
        /// Connections to open.
        #[arg(short, long, default_value_t = 10000)]
        connections: usize,
        /// Process id of the server, to read its resident memory.
        #[arg(long)]
        pid: u32,
        /// Print one JSON object instead of a line of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: BenchArgs) -> ExitCode {
    let _ = rlws::limits::raise_nofile(1 << 20);
    let threads = match &args.mode {
        Mode::Echo { threads, .. } => *threads,
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
            Mode::Idle {
                url,
                connections,
                pid,
                json,
            } => idle(&url, connections, pid, json).await,
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
    })
}

/// Opens a WebSocket; returns the stream and any bytes read past the handshake.
async fn connect(t: &Target) -> Result<(TcpStream, Vec<u8>), BoxError> {
    let mut s = TcpStream::connect(&t.addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
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
                    Some(Event::Data { data, last, .. }) => {
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
                    Some(Event::Close { code, .. }) => {
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

/// CPU time (user + system) of process `pid`, in seconds.
fn cpu_secs(pid: u32) -> Result<f64, BoxError> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = s.rsplit_once(')').ok_or("bad /proc stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).ok_or("no utime")?.parse::<f64>()?
        + f.get(12).ok_or("no stime")?.parse::<f64>()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / if hz > 0.0 { hz } else { 100.0 })
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
    let mut cpu0 = None;
    if let Some(pid) = pid {
        tokio::time::sleep_until(measure_from.into()).await;
        cpu0 = Some(cpu_secs(pid)?);
    }
    let mut all = Vec::new();
    for h in tasks {
        all.extend(h.await.map_err(|e| format!("task: {e}"))??);
    }
    let cpu_us_per_msg = match (pid, cpu0) {
        (Some(pid), Some(c0)) => (cpu_secs(pid)? - c0) * 1e6 / (all.len().max(1) as f64),
        _ => 0.0,
    };
    all.sort_unstable();
    let rate = all.len() as f64 / dur.as_secs_f64();
    let (p50, p90, p99, max) = (
        pct(&all, 0.5),
        pct(&all, 0.9),
        pct(&all, 0.99),
        all.last().copied().unwrap_or(0),
    );
    if json {
        println!(
            "{{\"mode\":\"echo\",\"connections\":{conns},\"size\":{size},\"messages\":{},\"msgs_per_sec\":{rate:.0},\"server_cpu_us_per_msg\":{cpu_us_per_msg:.2},\"p50_us\":{p50},\"p90_us\":{p90},\"p99_us\":{p99},\"max_us\":{max}}}",
            all.len()
        );
    } else {
        println!(
            "echo {conns} conns x {size} B: {rate:.0} msg/s ({} round trips in {:.1} s), latency p50 {p50} us, p90 {p90} us, p99 {p99} us, max {max} us, server CPU {cpu_us_per_msg:.2} us/msg",
            all.len(),
            dur.as_secs_f64()
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

async fn idle(url: &str, conns: usize, pid: u32, json: bool) -> Result<(), BoxError> {
    let t = std::sync::Arc::new(parse_url(url)?);
    // Warm the server up with a few connections so one-time allocations are not counted.
    {
        let mut warm = Vec::new();
        for _ in 0..50 {
            warm.push(connect(&t).await?);
        }
        drop(warm);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = rss_kib(pid)?;
    let mut open = Vec::with_capacity(conns);
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(100));
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let t = t.clone();
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await;
            connect(&t).await
        }));
    }
    for h in tasks {
        open.push(h.await.map_err(|e| format!("task: {e}"))??);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before) as f64 * 1024.0) / conns as f64;
    if json {
        println!("{{\"mode\":\"idle\",\"connections\":{conns},\"rss_before_kib\":{before},\"rss_after_kib\":{after},\"bytes_per_conn\":{per:.0}}}");
    } else {
        println!("idle {conns} conns: server RSS {before} KiB -> {after} KiB, {per:.0} bytes per connection");
    }
    drop(open);
    Ok(())
}
