//! Process limits: how many connections the context may hold.

/// The process' soft and hard `RLIMIT_NOFILE`.
// rlim_t is u64 here but not on every platform.
#[allow(clippy::unnecessary_cast)]
pub fn nofile() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which lives on our stack.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Raises the soft `RLIMIT_NOFILE` to `want` and returns the soft limit in
/// force afterwards. Past the hard limit, a privileged process (root,
/// `CAP_SYS_RESOURCE`) raises the hard limit too, up to the kernel's
/// `fs.nr_open`; others get the hard limit.
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile(want: u64) -> Option<u64> {
    let (cur, max) = nofile()?;
    if want > max {
        let open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(max);
        let both = want.min(open);
        let lim = libc::rlimit {
            rlim_cur: both as libc::rlim_t,
            rlim_max: both as libc::rlim_t,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if both > max && unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            return Some(both);
        }
    }
    let target = want.min(max);
    if target <= cur {
        return Some(cur);
    }
    let lim = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: max as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    if rc == 0 {
        Some(target)
    } else {
        Some(cur)
    }
}

/// The addresses of network interface `name` (such as `lo` or `eth0`), in
/// the order the system lists them; empty when there is no such interface.
pub fn interface_addrs(name: &str) -> Vec<std::net::IpAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a pointer to a list it allocates into `list`;
    // we only read that list and free it once with freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return out;
    }
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a non-null node of the list getifaddrs returned,
        // alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let n = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if n.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family field says
        // which sockaddr type it really is; we read only that type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_INET {
            // SAFETY: AF_INET: the address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))));
        } else if family == libc::AF_INET6 {
            // SAFETY: AF_INET6: the address is a sockaddr_in6.
            let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
            out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
        }
    }
    // SAFETY: `list` came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_interface_has_its_address() {
        let lo = super::interface_addrs("lo");
        assert!(
            lo.contains(&std::net::IpAddr::from([127, 0, 0, 1])),
            "{lo:?}"
        );
        assert!(super::interface_addrs("no-such-interface0").is_empty());
    }

    #[test]
    fn nofile_is_readable_and_raise_never_lowers() {
        let (cur, max) = super::nofile().expect("getrlimit");
        assert!(cur > 0 && cur <= max);
        let after = super::raise_nofile(cur).expect("raise");
        assert_eq!(after, cur);
    }
}
