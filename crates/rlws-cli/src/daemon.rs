//! `rlws serve --daemon --lock FILE` (lwsws' `-D`, lws' `lws_daemonize`):
//! refuse while a live process holds the lock file, remove a stale one,
//! fork; the starting process waits until the daemon listens (printing its
//! "listening on" lines) and exits 0, or prints the daemon's error and
//! exits 1. The daemon leaves the session, works from `/`, holds the lock
//! file (its pid, under an `flock`) and removes it when it ends; its
//! standard streams go to `/dev/null` once it has reported that it listens.
//!
//! Forking is only sound while the process has a single thread, so this
//! runs before the context starts its service threads.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long the starting process waits for the daemon to listen.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What [`detach`] leaves running here.
pub enum Detached {
    /// The starting process (or a daemon that could not set itself up):
    /// exit with this.
    Exit(ExitCode),
    /// The daemon, to go on.
    Daemon(Daemon),
}

/// The daemon's side: the way back to the starting process until it is
/// told the daemon listens, and the lock file.
#[derive(Debug)]
pub struct Daemon {
    report: Option<UnixStream>,
    lock: Option<Lock>,
}

/// The lock file, open, holding an `flock`, removed on drop.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
    file: File,
}

/// Checks the lock file, forks, and returns what this process is now.
/// Errors are the starting process's, before any fork.
#[doc(alias = "lws_daemonize")]
pub fn detach(lock: &Path) -> Result<Detached, String> {
    let lock = std::path::absolute(lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    check_lock(&lock)?;
    let threads = thread_count();
    if threads != 1 {
        return Err(format!(
            "cannot become a daemon: {threads} threads are running already"
        ));
    }
    let (mut parent, child) =
        UnixStream::pair().map_err(|e| format!("cannot make a socket pair: {e}"))?;
    // SAFETY: the process has one thread (checked just above), so the child
    // is a full copy with no lock left held by a thread that does not
    // exist there; both sides go on running ordinary Rust.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid > 0 {
        drop(child);
        return Ok(Detached::Exit(wait_ready(&mut parent, pid)));
    }
    drop(parent);
    let mut d = Daemon {
        report: Some(child),
        lock: None,
    };
    match d.become_daemon(&lock) {
        Ok(()) => Ok(Detached::Daemon(d)),
        Err(e) => Ok(Detached::Exit(d.fail(&e))),
    }
}

impl Daemon {
    fn become_daemon(&mut self, lock: &Path) -> Result<(), String> {
        // SAFETY: setsid takes no arguments and touches no memory of ours.
        if unsafe { libc::setsid() } < 0 {
            return Err(format!("setsid: {}", std::io::Error::last_os_error()));
        }
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
        self.lock = Some(Lock::create(lock)?);
        Ok(())
    }

    /// Hands the lock file to `uid`/`gid` (who can then remove it in a
    /// sticky directory such as /tmp), before privileges are dropped.
    pub fn chown_lock(&self, uid: u32, gid: u32) -> Result<(), String> {
        if let Some(l) = &self.lock {
            std::os::unix::fs::fchown(&l.file, Some(uid), Some(gid))
                .map_err(|e| format!("lock file {}: chown: {e}", l.path.display()))?;
        }
        Ok(())
    }

    /// Tells the starting process where the daemon listens, lets it exit,
    /// and sends the standard streams to /dev/null.
    pub fn ready(&mut self, addrs: &[SocketAddr]) {
        if let Some(mut r) = self.report.take() {
            for a in addrs {
                let _ = writeln!(r, "listening on {a}");
            }
            let _ = writeln!(r, "ready");
        }
        if let Err(e) = to_dev_null() {
            tracing::warn!("standard streams to /dev/null: {e}");
        }
    }

    /// Reports `msg` to the starting process (before [`Daemon::ready`]) or
    /// logs it (after); the exit status for a daemon that cannot go on.
    pub fn fail(&mut self, msg: &str) -> ExitCode {
        match self.report.take() {
            Some(mut r) => {
                let _ = writeln!(r, "error: {msg}");
            }
            None => tracing::error!("{msg}"),
        }
        ExitCode::from(1)
    }
}

impl Lock {
    /// Creates the lock file (it must not exist: another start may have
    /// made it meanwhile), writes our pid, takes an `flock`.
    fn create(path: &Path) -> Result<Lock, String> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(|e| format!("lock file {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this File owns; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(format!(
                "lock file {}: flock: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
        writeln!(file, "{}", std::process::id())
            .and_then(|()| file.flush())
            .map_err(|e| format!("lock file {}: {e}", path.display()))?;
        Ok(Lock {
            path: path.to_path_buf(),
            file,
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Without the right to remove it (privileges dropped, directory not
        // ours), empty it: an empty lock file is stale to the next start.
        if std::fs::remove_file(&self.path).is_err() {
            let _ = self.file.set_len(0);
        }
    }
}

/// Refuses when the lock file names a live process; removes a stale one.
fn check_lock(path: &Path) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("lock file {}: {e}", path.display())),
    };
    let pid = text.trim().parse::<i32>().ok().filter(|&p| p > 0);
    if let Some(pid) = pid.filter(|&p| alive(p)) {
        return Err(format!(
            "already running as pid {pid} (lock file {})",
            path.display()
        ));
    }
    std::fs::remove_file(path).map_err(|e| {
        format!(
            "lock file {}: cannot remove the stale lock: {e}",
            path.display()
        )
    })?;
    match pid {
        Some(pid) => tracing::info!(
            "removed the stale lock file {} (pid {pid} is gone)",
            path.display()
        ),
        None => tracing::info!(
            "removed the stale lock file {} (it held no pid)",
            path.display()
        ),
    }
    Ok(())
}

/// Whether a process with this pid exists (possibly someone else's).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only checks that the pid exists
    // and may be signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The number of threads of this process.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// The starting process: relays the daemon's "listening on" lines until it
/// says it is ready (0) or fails or ends (1).
fn wait_ready(from: &mut UnixStream, pid: libc::pid_t) -> ExitCode {
    let deadline = Instant::now() + READY_WITHIN;
    let mut r = BufReader::new(from);
    let mut failed = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || r.get_ref().set_read_timeout(Some(left)).is_err() {
            eprintln!(
                "rlws: the daemon (pid {pid}) did not report within {}s",
                READY_WITHIN.as_secs()
            );
            return ExitCode::from(1);
        }
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("rlws: waiting for the daemon (pid {pid}): {e}");
                return ExitCode::from(1);
            }
        }
        let line = line.trim_end();
        if line == "ready" {
            let _ = std::io::stdout().flush();
            return ExitCode::SUCCESS;
        } else if let Some(e) = line.strip_prefix("error: ") {
            eprintln!("rlws: {e}");
            failed = true;
        } else {
            println!("{line}");
        }
    }
    // It ended without saying it is ready: reap it and say how.
    let mut status = 0;
    // SAFETY: waitpid on our own child, writing only into a live local.
    let reaped = unsafe { libc::waitpid(pid, &mut status, 0) } == pid;
    if !failed {
        let how = if reaped && libc::WIFEXITED(status) {
            format!("with status {}", libc::WEXITSTATUS(status))
        } else if reaped && libc::WIFSIGNALED(status) {
            format!("on signal {}", libc::WTERMSIG(status))
        } else {
            "before reporting".to_string()
        };
        eprintln!("rlws: the daemon (pid {pid}) exited {how} before it listened");
    }
    ExitCode::from(1)
}

/// Standard input, output and error to /dev/null.
fn to_dev_null() -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let _ = std::io::stdout().flush();
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, from one this File
        // owns; Rust's std handles keep using descriptors 0-2, now
        // /dev/null.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("rlws-lock-unit-{tag}-{}", std::process::id()))
    }

    #[test]
    fn a_live_pid_refuses_and_a_dead_or_missing_one_is_removed() {
        let p = tmp("check");
        std::fs::write(&p, format!("{}\n", std::process::id())).unwrap();
        let e = check_lock(&p).unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(p.exists());
        // pid 1 is someone else's: live even where it may not be signalled.
        assert!(alive(1));

        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        std::fs::write(&p, format!("{dead_pid}\n")).unwrap();
        check_lock(&p).unwrap();
        assert!(!p.exists());

        std::fs::write(&p, "").unwrap();
        check_lock(&p).unwrap();
        assert!(!p.exists());
        check_lock(&p).unwrap();
    }

    #[test]
    fn a_lock_holds_our_pid_under_flock_and_goes_on_drop() {
        let p = tmp("create");
        let _ = std::fs::remove_file(&p);
        let lock = Lock::create(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        // Another open of the file cannot take the flock.
        let other = File::open(&p).unwrap();
        // SAFETY: flock on a descriptor `other` owns.
        let r = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(r, 0);
        // A second lock at the same path is refused.
        assert!(Lock::create(&p).unwrap_err().contains("exists"));
        drop(lock);
        assert!(!p.exists());
    }
}
