//! Running as another user once the listen sockets are bound: `--uid` /
//! `--gid` and the configuration's `uid` / `gid` (lws'
//! `lws_plat_drop_app_privileges`).

use rlws_conf::account;

/// `--uid`: a user id or a user name.
pub fn user_id(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    match account::user_by_name(s) {
        Ok(Some(u)) => Ok(u.uid),
        Ok(None) => Err(format!("no user named \"{s}\"")),
        Err(e) => Err(format!("cannot look up user \"{s}\": {e}")),
    }
}

/// `--gid`: a group id or a group name.
pub fn group_id(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    match account::group_by_name(s) {
        Ok(Some(g)) => Ok(g),
        Ok(None) => Err(format!("no group named \"{s}\"")),
        Err(e) => Err(format!("cannot look up group \"{s}\": {e}")),
    }
}

/// The ids to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// The ids to take from the ones asked for: a user without a group gets
/// the user's own group; a group alone keeps the current user. `None`:
/// nothing to change.
pub fn wanted(uid: Option<u32>, gid: Option<u32>) -> Result<Option<Ids>, String> {
    let (uid, gid) = match (uid, gid) {
        (None, None) => return Ok(None),
        (Some(u), Some(g)) => (u, g),
        (Some(u), None) => match account::user_by_id(u) {
            Ok(Some(user)) => (u, user.gid),
            Ok(None) => {
                return Err(format!(
                    "uid {u} has no entry in the user database: give its group (--gid)"
                ))
            }
            Err(e) => return Err(format!("cannot look up uid {u}: {e}")),
        },
        // SAFETY: getuid() only returns the caller's id.
        (None, Some(g)) => (unsafe { libc::getuid() }, g),
    };
    Ok(Some(Ids { uid, gid }))
}

/// Drops every supplementary group, then takes `ids.gid` and `ids.uid`
/// (for the whole process, every thread), and checks that they hold and
/// that root's cannot be taken back.
pub fn drop_to(ids: Ids) -> Result<(), String> {
    // SAFETY: setgroups with a count of 0 reads no memory.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        return Err(format!(
            "cannot drop supplementary groups: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: setgid and setuid take plain ids and touch no memory of ours.
    if unsafe { libc::setgid(ids.gid) } != 0 {
        return Err(format!(
            "cannot change to gid {}: {}",
            ids.gid,
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above.
    if unsafe { libc::setuid(ids.uid) } != 0 {
        return Err(format!(
            "cannot change to uid {}: {}",
            ids.uid,
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: these getters only return the caller's ids.
    let now = unsafe {
        [
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        ]
    };
    if now != [ids.uid, ids.uid, ids.gid, ids.gid] {
        return Err(format!(
            "asked for uid {} gid {}, but runs as uid {}/{} gid {}/{}",
            ids.uid, ids.gid, now[0], now[1], now[2], now[3]
        ));
    }
    // SAFETY: setuid takes a plain id.
    if ids.uid != 0 && unsafe { libc::setuid(0) } == 0 {
        return Err(format!("uid {} could take root's id back", ids.uid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbers_or_names_and_a_user_brings_its_group() {
        assert_eq!(user_id("65534"), Ok(65534));
        assert_eq!(user_id("root"), Ok(0));
        assert_eq!(group_id("root"), Ok(0));
        assert!(user_id("no-such-user-rlws")
            .unwrap_err()
            .contains("no user named"));
        assert!(group_id("no-such-group-rlws")
            .unwrap_err()
            .contains("no group named"));
        assert_eq!(wanted(None, None), Ok(None));
        assert_eq!(wanted(Some(0), None), Ok(Some(Ids { uid: 0, gid: 0 })));
        assert_eq!(wanted(Some(7), Some(8)), Ok(Some(Ids { uid: 7, gid: 8 })));
        assert!(wanted(Some(4_000_000_000), None).is_err());
    }
}
