//! Users and groups by name or id, from the system's account database
//! (`/etc/passwd`, `/etc/group` or whatever NSS is set up to ask), for the
//! `username` / `groupname` keys and `rlws serve --uid NAME`.

use std::ffi::CString;
use std::io;
use std::os::raw::c_char;

/// A user's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// The user's own (primary) group.
    pub gid: u32,
}

/// The user called `name`; `None` if there is none.
#[doc(alias = "getpwnam")]
pub fn user_by_name(name: &str) -> io::Result<Option<User>> {
    let c = c_name(name)?;
    // SAFETY: the pointers are to live locals of `user` and to `buf`, whose
    // true length is passed; getpwnam_r writes only there and keeps none.
    user(|pw, buf, out| unsafe {
        libc::getpwnam_r(c.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), out)
    })
}

/// The user with id `uid`; `None` if the database has no such user.
#[doc(alias = "getpwuid")]
pub fn user_by_id(uid: u32) -> io::Result<Option<User>> {
    // SAFETY: as in user_by_name, for getpwuid_r.
    user(|pw, buf, out| unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), out) })
}

/// A user from a `getpw*_r` call given the entry, the buffer and the
/// result pointer to fill.
fn user(
    call: impl Fn(&mut libc::passwd, &mut [c_char], &mut *mut libc::passwd) -> libc::c_int,
) -> io::Result<Option<User>> {
    with_buf(|buf| {
        // SAFETY: `passwd` is integers and pointers; all zeroes is valid.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pw, buf, &mut out);
        found(rc, out).map(|f| {
            f.then_some(User {
                uid: pw.pw_uid,
                gid: pw.pw_gid,
            })
        })
    })
}

/// The id of the group called `name`; `None` if there is none.
#[doc(alias = "getgrnam")]
pub fn group_by_name(name: &str) -> io::Result<Option<u32>> {
    let c = c_name(name)?;
    with_buf(|buf| {
        // SAFETY: `group` is integers and pointers; all zeroes is valid.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in user_by_name, for getgrnam_r.
        let rc =
            unsafe { libc::getgrnam_r(c.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) };
        found(rc, out).map(|f| f.then_some(gr.gr_gid))
    })
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

/// A `get*_r` result: found, not found, or the error number.
fn found<T>(rc: libc::c_int, out: *mut T) -> Result<bool, libc::c_int> {
    match rc {
        0 => Ok(!out.is_null()),
        // Some C libraries say "no such entry" with an error number.
        libc::ENOENT | libc::ESRCH => Ok(false),
        e => Err(e),
    }
}

/// Runs a `get*_r` call with a buffer, larger while it says ERANGE.
fn with_buf<R>(
    mut call: impl FnMut(&mut [c_char]) -> Result<Option<R>, libc::c_int>,
) -> io::Result<Option<R>> {
    let mut len = 1024;
    loop {
        let mut buf = vec![0 as c_char; len];
        match call(&mut buf) {
            Ok(r) => return Ok(r),
            Err(libc::ERANGE) if len < 1 << 20 => len *= 4,
            Err(e) => return Err(io::Error::from_raw_os_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_by_name_and_id_and_strangers_are_not() {
        assert_eq!(user_by_name("root").unwrap(), Some(User { uid: 0, gid: 0 }));
        assert_eq!(user_by_id(0).unwrap(), Some(User { uid: 0, gid: 0 }));
        assert_eq!(group_by_name("root").unwrap(), Some(0));
        assert_eq!(user_by_name("no-such-user-rlws").unwrap(), None);
        assert_eq!(group_by_name("no-such-group-rlws").unwrap(), None);
        assert_eq!(user_by_id(4_000_000_000).unwrap(), None);
        assert!(user_by_name("a\0b").is_err());
    }
}
