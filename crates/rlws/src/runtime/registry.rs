//! The live connections of every service thread, for listing (lws' server
//! status): one compact record per WebSocket in a per-thread slab.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
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

/// A live connection as the registry keeps it: one small record and a
/// string shared by every connection with the same path and agent, so that
/// listing connections costs idle connections little (and no small
/// allocation per connection stays behind in the heap between the
/// handshakes' short-lived buffers).
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) since_ms: u64,
    pub(crate) peer: SocketAddr,
    /// Index of the protocol in the context.
    pub(crate) proto: u32,
    /// The request path, then `\n` and the `User-Agent` if one was sent
    /// (neither can contain a line feed).
    pub(crate) text: Arc<str>,
}

/// A connection to list, before the registry shares its text.
pub(crate) struct Listing {
    id: u64,
    peer: SocketAddr,
    proto: u32,
    /// As [`Record::text`].
    text: String,
}

impl Listing {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        proto: usize,
        path: &str,
        user_agent: Option<&str>,
    ) -> Listing {
        let text = match user_agent {
            Some(ua) if !path.contains('\n') && !ua.contains('\n') => format!("{path}\n{ua}"),
            _ => path.replace('\n', " "),
        };
        Listing {
            id,
            peer,
            proto: u32::try_from(proto).unwrap_or(u32::MAX),
            text,
        }
    }
}

/// Records per page of the registry.
const PAGE: usize = 64;

/// The live connections of one service thread: a slab, so that slots are
/// reused and the table stays dense. It grows by pages, so that growing
/// never copies it nor leaves it half empty.
#[derive(Default)]
pub(crate) struct Registry {
    pages: Vec<Box<[Option<Record>]>>,
    free: Vec<u32>,
    /// The distinct texts of the live records.
    texts: HashSet<Arc<str>>,
}

impl Registry {
    pub(crate) fn insert(&mut self, l: Listing) -> u32 {
        let text = match self.texts.get(l.text.as_str()) {
            Some(t) => t.clone(),
            None => {
                let t: Arc<str> = Arc::from(l.text);
                self.texts.insert(t.clone());
                t
            }
        };
        let rec = Record {
            id: l.id,
            since_ms: now_ms(),
            peer: l.peer,
            proto: l.proto,
            text,
        };
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let base = self.pages.len() * PAGE;
                self.pages.push((0..PAGE).map(|_| None).collect());
                self.free
                    .extend((base + 1..base + PAGE).rev().map(|k| k as u32));
                base as u32
            }
        };
        match self.slot(i) {
            Some(s) => {
                *s = Some(rec);
                i
            }
            None => u32::MAX,
        }
    }

    fn slot(&mut self, i: u32) -> Option<&mut Option<Record>> {
        let i = i as usize;
        self.pages
            .get_mut(i / PAGE)
            .and_then(|p| p.get_mut(i % PAGE))
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(rec) = self.slot(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        // The last record with this text: only the set holds it now.
        if Arc::strong_count(&rec.text) == 2 {
            self.texts.remove(&*rec.text);
        }
    }

    /// The record in `slot`, if it is live.
    pub(crate) fn get(&self, slot: u32) -> Option<&Record> {
        let i = slot as usize;
        self.pages.get(i / PAGE)?.get(i % PAGE)?.as_ref()
    }

    /// The live records.
    pub(crate) fn records(&self) -> impl Iterator<Item = &Record> {
        self.pages.iter().flat_map(|p| p.iter().flatten())
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
    use super::{Listing, Registry};
    use std::sync::Arc;

    #[test]
    fn registry_reuses_slots_and_keeps_path_and_agent_apart() {
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut r = Registry::default();
        let a = r.insert(Listing::new(1, peer, 0, "/a", Some("ua 1")));
        let b = r.insert(Listing::new(2, peer, 0, "/b", None));
        assert_eq!((a, b), (0, 1));
        r.remove(a);
        r.remove(a); // twice: no double free of the slot
        assert_eq!(r.free.last(), Some(&0));
        let c = r.insert(Listing::new(3, peer, 1, "/c", None));
        assert_eq!(c, 0);
        assert_eq!(r.records().count(), 2);
        assert_eq!(&*r.records().next().unwrap().text, "/c");
        // Past a page: a second one, the keys go on.
        let more: Vec<u32> = (0..super::PAGE as u64)
            .map(|i| r.insert(Listing::new(10 + i, peer, 0, "/m", None)))
            .collect();
        // Keys 2..63 fill the first page, 64 and 65 start the second.
        assert_eq!(more.iter().max(), Some(&(super::PAGE as u32 + 1)));
        assert_eq!(r.records().count(), 2 + super::PAGE);
        assert_eq!(&*Listing::new(4, peer, 0, "/p", Some("x")).text, "/p\nx");
        // One text for every record with the same path and agent, gone
        // with the last of them.
        let x = r.insert(Listing::new(90, peer, 0, "/s", Some("ua")));
        let y = r.insert(Listing::new(91, peer, 0, "/s", Some("ua")));
        let text = |r: &Registry, id: u64| r.records().find(|c| c.id == id).unwrap().text.clone();
        assert!(Arc::ptr_eq(&text(&r, 90), &text(&r, 91)));
        r.remove(x);
        assert!(r.texts.contains("/s\nua"));
        r.remove(y);
        assert!(!r.texts.contains("/s\nua"));
        // A line feed cannot come from a valid request; if one does, the
        // agent is dropped rather than misread as part of the path.
        assert_eq!(&*Listing::new(5, peer, 0, "/p\nq", Some("x")).text, "/p q");
    }
}
