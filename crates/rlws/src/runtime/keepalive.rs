//! [`TcpKeepalive`]: TCP keepalive probes on a socket (lws' `ka_time`,
//! `ka_interval`, `ka_probes`): SO_KEEPALIVE with TCP_KEEPIDLE,
//! TCP_KEEPINTVL and TCP_KEEPCNT.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// When the kernel probes an idle connection, and when it gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "ka_time")]
pub struct TcpKeepalive {
    /// Idle time before the first probe (lws' `ka_time`).
    pub idle: Duration,
    /// Time between probes (lws' `ka_interval`).
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped (lws' `ka_probes`).
    pub probes: u32,
}

impl TcpKeepalive {
    /// Probes after `idle`, then every `interval`, `probes` times.
    pub fn new(idle: Duration, interval: Duration, probes: u32) -> TcpKeepalive {
        TcpKeepalive {
            idle,
            interval,
            probes,
        }
    }
}

fn set(fd: i32, level: i32, opt: i32, v: i32) -> io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local
    // int; `fd` is a socket the caller keeps open for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn secs(d: Duration) -> i32 {
    d.as_secs().clamp(1, i32::MAX as u64) as i32
}

/// Turns keepalive on for `sock` with `ka`'s times.
pub(crate) fn apply(sock: &impl AsRawFd, ka: &TcpKeepalive) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    set(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(ka.idle))?;
    set(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        secs(ka.interval),
    )?;
    set(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPCNT,
        ka.probes.clamp(1, i32::MAX as u32) as i32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(fd: i32, level: i32, opt: i32) -> i32 {
        let mut v: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the local int.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                level,
                opt,
                &mut v as *mut i32 as *mut libc::c_void,
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        v
    }

    #[test]
    fn the_kernel_has_the_values() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let fd = s.as_raw_fd();
        assert_eq!(get(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        apply(
            &s,
            &TcpKeepalive::new(Duration::from_secs(75), Duration::from_secs(9), 4),
        )
        .unwrap();
        assert_ne!(get(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        assert_eq!(get(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 75);
        assert_eq!(get(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 9);
        assert_eq!(get(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 4);
    }
}
