//! The live connections of every service thread, for listing (lws' server
//! status): one compact record per WebSocket in a per-thread slab.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// One live WebSocket connection, as listed by [`crate::Cx::connections`].
#[derive(Debug, Clone)]
pub struct ConnEntry {
    /// Connection id.
    pub id: super::ConnId,
    /// Peer address.
    pub peer: SocketAddr,
    /// Protocol name.
    pub protocol: String,
    /// Request path.
    pub path: String,
    /// `User-Agent`, if sent.
    pub user_agent: Option<String>,
    /// When it was established, in ms since the Unix epoch.
    pub since_ms: u64,
    /// Service thread.
    pub tsi: super::ThreadIndex,
}

/// A live connection as the registry keeps it: one small record and one
/// string, so that listing connections costs idle connections little.
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) since_ms: u64,
    pub(crate) peer: SocketAddr,
    /// Index of the protocol in the context.
    pub(crate) proto: u32,
    /// The request path, then `\n` and the `User-Agent` if one was sent
    /// (neither can contain a line feed).
    pub(crate) text: Box<str>,
}

impl Record {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        proto: usize,
        path: &str,
        user_agent: Option<&str>,
    ) -> Record {
        let text = match user_agent {
            Some(ua) if !path.contains('\n') && !ua.contains('\n') => format!("{path}\n{ua}"),
            _ => path.replace('\n', " "),
        };
        Record {
            id,
            since_ms: now_ms(),
            peer,
            proto: u32::try_from(proto).unwrap_or(u32::MAX),
            text: text.into_boxed_str(),
        }
    }
}

/// The live connections of one service thread: a slab, so that slots are
/// reused and the table stays dense.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) slots: Vec<Option<Record>>,
    free: Vec<u32>,
}

impl Registry {
    pub(crate) fn insert(&mut self, rec: Record) -> u32 {
        if let Some(i) = self.free.pop() {
            if let Some(s) = self.slots.get_mut(i as usize) {
                *s = Some(rec);
                return i;
            }
        }
        self.slots.push(Some(rec));
        u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if s.take().is_some() {
                self.free.push(slot);
            }
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{Record, Registry};

    #[test]
    fn registry_reuses_slots_and_keeps_path_and_agent_apart() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut r = Registry::default();
        let a = r.insert(Record::new(1, peer, 0, "/a", Some("ua 1")));
        let b = r.insert(Record::new(2, peer, 0, "/b", None));
        assert_eq!((a, b), (0, 1));
        r.remove(a);
        r.remove(a); // twice: no double free of the slot
        assert_eq!(r.free, vec![0]);
        let c = r.insert(Record::new(3, peer, 1, "/c", None));
        assert_eq!(c, 0);
        assert_eq!(r.slots.len(), 2);
        assert_eq!(&*r.slots[0].as_ref().unwrap().text, "/c");
        assert_eq!(&*Record::new(4, peer, 0, "/p", Some("x")).text, "/p\nx");
        // A line feed cannot come from a valid request; if one does, the
        // agent is dropped rather than misread as part of the path.
        assert_eq!(&*Record::new(5, peer, 0, "/p\nq", Some("x")).text, "/p q");
    }
}
