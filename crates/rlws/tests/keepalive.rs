//! TCP keepalive (lws' ka_time / ka_interval / ka_probes) on accepted
//! connections and on client connections, seen in the kernel's socket
//! table (/proc/net/tcp: timer 2 is the keepalive timer).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rlws::TcpKeepalive;

/// The timer kind of the socket from `local` to `remote` (0 none, 1
/// retransmit, 2 keepalive...), if the kernel lists it.
fn timer(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let hex = |a: SocketAddr| {
        let ip = match a.ip() {
            std::net::IpAddr::V4(v) => u32::from_ne_bytes(v.octets()),
            std::net::IpAddr::V6(_) => return String::new(),
        };
        format!("{ip:08X}:{:04X}", a.port())
    };
    let (l, r) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&l.as_str()) && f.get(2) == Some(&r.as_str()))
            .then(|| f.get(5)?.split(':').next()?.parse().ok())
            .flatten()
    })
}

/// Waits (bounded) until the socket's timer is `want`.
fn wait_timer(local: SocketAddr, remote: SocketAddr, want: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = timer(local, remote);
        if t == Some(want) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn accepted_and_client_connections_get_keepalive_when_asked() {
    let ka = TcpKeepalive::new(Duration::from_secs(60), Duration::from_secs(5), 3);
    let dir = common::tempdir("ka");
    let on = rlws::Context::builder()
        .threads(1)
        .tcp_keepalive(ka)
        .vhost(
            rlws::Vhost::new("on", "127.0.0.1:0".parse().unwrap())
                .mount(rlws::Mount::dir("/", &dir)),
        )
        .start()
        .unwrap();
    let off = rlws::Context::builder()
        .threads(1)
        .vhost(
            rlws::Vhost::new("off", "127.0.0.1:0".parse().unwrap())
                .mount(rlws::Mount::dir("/", &dir)),
        )
        .start()
        .unwrap();
    let on_addr = on.vhost_addr("on").unwrap();
    let off_addr = off.vhost_addr("off").unwrap();

    // The server's side of an idle connection.
    let s = std::net::TcpStream::connect(on_addr).unwrap();
    let me = s.local_addr().unwrap();
    assert_eq!(
        wait_timer(on_addr, me, 2),
        Some(2),
        "keepalive on the accepted socket"
    );
    // On a context without it, once served: no timer.
    let mut s2 = std::net::TcpStream::connect(off_addr).unwrap();
    let me2 = s2.local_addr().unwrap();
    {
        use std::io::{Read, Write};
        s2.write_all(b"GET / HTTP/1.1\r\nHost: off\r\n\r\n")
            .unwrap();
        let mut b = [0u8; 1024];
        let n = s2.read(&mut b).unwrap();
        assert!(b[..n].starts_with(b"HTTP/1.1 "), "served");
    }
    assert_eq!(
        wait_timer(off_addr, me2, 0),
        Some(0),
        "no keepalive asked for"
    );

    // The HTTP client's socket.
    let client = rlws::client::HttpClient::builder()
        .tcp_keepalive(Some(ka))
        .build()
        .unwrap();
    let resp = client.get(&format!("http://{off_addr}/")).await.unwrap();
    let _ = resp.bytes().await;
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!("0100007F:{:04X}", off_addr.port());
    let local = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&remote.as_str()) && f.get(3) == Some(&"01"))
                .then(|| f[1].to_string())
        })
        .find_map(|local| {
            let (ip, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            (ip == "0100007F" && port != me2.port())
                .then_some(SocketAddr::from(([127, 0, 0, 1], port)))
        })
        .expect("the client's connection");
    assert_eq!(
        wait_timer(local, off_addr, 2),
        Some(2),
        "keepalive on the client socket"
    );
    drop((s, s2));
    std::fs::remove_dir_all(&dir).unwrap();
}
