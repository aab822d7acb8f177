//! Soak: tens of thousands of idle WebSockets on one service thread of
//! `rlws serve`, then SIGTERM, which closes every one of them with 1001.
//! 50 000 when the file-descriptor limits allow (the server and this test
//! each hold one end); past the hard limit a privileged process raises it,
//! else the test holds as many as the limit allows and says so.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WANT: usize = 50_000;

/// Opens a WebSocket to `addr` and returns its stream after the 101.
async fn open(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 256];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).await.unwrap();
        assert!(n > 0, "closed during the handshake");
        head.extend_from_slice(&b[..n]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Reads until the server's close frame; returns its code.
async fn close_code(mut s: TcpStream) -> Option<u16> {
    let mut buf = Vec::new();
    let mut b = [0u8; 64];
    loop {
        // An unmasked server frame: FIN+opcode, length, payload.
        if buf.len() >= 2 {
            let len = usize::from(buf[1] & 0x7f);
            if buf.len() >= 2 + len {
                if buf[0] & 0x0f == 0x8 && len >= 2 {
                    return Some(u16::from_be_bytes([buf[2], buf[3]]));
                }
                buf.drain(..2 + len);
                continue;
            }
        }
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

#[test]
fn tens_of_thousands_of_idle_websockets_on_one_thread_close_cleanly_on_sigterm() {
    // Both processes get what the limits give (rlws serve raises its own).
    let limit = rlws::raise_nofile(WANT as u64 + 1000).unwrap_or(0) as usize;
    let conns = WANT.min(limit.saturating_sub(1000));
    assert!(
        conns >= 10_000,
        "only {limit} file descriptors: raise RLIMIT_NOFILE"
    );
    if conns < WANT {
        eprintln!(
            "soak: {conns} connections, not {WANT}: RLIMIT_NOFILE's hard limit is {limit} and this \
             process cannot raise it (no CAP_SYS_RESOURCE)"
        );
    }
    let mut server = Server::start(&["-j", "1", "--ws-ping-after", "0"]);
    let addr: SocketAddr = server.addrs[0];
    let pid = server.child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let socks = rt.block_on(async {
        let mut socks = Vec::with_capacity(conns);
        // A hundred handshakes in flight at a time (the listen backlog is 128).
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conns {
            if set.len() >= 100 {
                socks.push(set.join_next().await.unwrap().unwrap());
            }
            set.spawn(open(addr));
        }
        while let Some(s) = set.join_next().await {
            socks.push(s.unwrap());
        }
        socks
    });
    assert_eq!(socks.len(), conns);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert!(
        fds >= conns,
        "the server holds {fds} descriptors for {conns} connections"
    );
    let rss_kib: u64 = common::proc_status(pid as i32, "VmRSS:")
        .first()
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    eprintln!("soak: {conns} idle WebSockets, server VmRSS {rss_kib} KiB");

    // SIGTERM: every connection gets its close frame (1001), then the
    // server exits 0.
    let codes = rt.block_on(async {
        let readers: Vec<_> = socks
            .into_iter()
            .map(|s| tokio::spawn(close_code(s)))
            .collect();
        server.signal(libc::SIGTERM);
        let mut codes = Vec::with_capacity(conns);
        for r in readers {
            codes.push(
                tokio::time::timeout(Duration::from_secs(60), r)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        codes
    });
    let going_away = codes.iter().filter(|c| **c == Some(1001)).count();
    assert_eq!(
        going_away, conns,
        "closed with 1001: {going_away} of {conns}"
    );
    assert!(server.stop().success());
}
