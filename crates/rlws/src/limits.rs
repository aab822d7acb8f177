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

/// Raises the soft `RLIMIT_NOFILE` to `want` (at most the hard limit) and
/// returns the soft limit in force afterwards.
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile(want: u64) -> Option<u64> {
    let (cur, max) = nofile()?;
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

#[cfg(test)]
mod tests {
    #[test]
    fn nofile_is_readable_and_raise_never_lowers() {
        let (cur, max) = super::nofile().expect("getrlimit");
        assert!(cur > 0 && cur <= max);
        let after = super::raise_nofile(cur).expect("raise");
        assert_eq!(after, cur);
    }
}
