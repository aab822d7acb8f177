//! The live connections of every service thread, for listing (lws' server
//! status): one compact record per WebSocket in a per-thread slab.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Growth;

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

/// A live connection as the registry keeps it: 40 bytes, and an index
/// into texts shared by every connection with the same path and agent, so
/// that listing connections costs idle connections little (and no small
/// allocation per connection stays behind in the heap between the
/// handshakes' short-lived buffers).
pub(crate) struct Record {
    pub(crate) id: u64,
    pub(crate) since_ms: u64,
    peer: Peer,
    /// Index of the protocol in the context.
    pub(crate) proto: u32,
    /// Index of the request path, then `\n` and the `User-Agent` if one
    /// was sent (neither can contain a line feed), in [`Registry`]'s texts.
    text: u32,
}

impl Record {
    pub(crate) fn peer(&self) -> SocketAddr {
        match &self.peer {
            Peer::V4(ip, port) => SocketAddr::from((*ip, *port)),
            Peer::V6(a) => SocketAddr::V6(**a),
        }
    }
}

/// A peer address in 16 bytes (a `SocketAddr` takes 32): IPv4 inline,
/// IPv6 (with its flow and scope) boxed.
enum Peer {
    V4([u8; 4], u16),
    V6(Box<SocketAddrV6>),
}

impl From<SocketAddr> for Peer {
    fn from(a: SocketAddr) -> Peer {
        match a {
            SocketAddr::V4(v4) => Peer::V4(v4.ip().octets(), v4.port()),
            SocketAddr::V6(v6) => Peer::V6(Box::new(v6)),
        }
    }
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

/// Records per page of the registry: 64 in the first, then 4096 (160 KiB).
const PAGES: Growth = Growth {
    first: 64,
    rest: 4096,
};

/// The live connections of one service thread: a slab, so that slots are
/// reused and the table stays dense. It grows by pages, so that growing
/// never copies it nor leaves it half empty.
#[derive(Default)]
pub(crate) struct Registry {
    pages: Vec<Box<[Option<Record>]>>,
    free: Vec<u32>,
    texts: Texts,
}

/// The distinct texts of the live records, each with the number of
/// records that use it.
#[derive(Default)]
struct Texts {
    index: HashMap<Arc<str>, u32>,
    slots: Vec<Option<(Arc<str>, u32)>>,
    free: Vec<u32>,
}

impl Texts {
    fn acquire(&mut self, text: String) -> u32 {
        if let Some(&i) = self.index.get(text.as_str()) {
            if let Some(Some((_, n))) = self.slots.get_mut(i as usize) {
                *n += 1;
            }
            return i;
        }
        let t: Arc<str> = Arc::from(text);
        let entry = Some((t.clone(), 1));
        let i = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = entry;
                }
                i
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(t, i);
        i
    }

    fn release(&mut self, i: u32) {
        let Some(slot) = self.slots.get_mut(i as usize) else {
            return;
        };
        if let Some((t, n)) = slot {
            *n -= 1;
            if *n == 0 {
                self.index.remove(&**t);
                *slot = None;
                self.free.push(i);
            }
        }
    }

    fn get(&self, i: u32) -> &str {
        match self.slots.get(i as usize) {
            Some(Some((t, _))) => t,
            _ => "",
        }
    }
}

impl Registry {
    pub(crate) fn insert(&mut self, l: Listing) -> u32 {
        let rec = Record {
            id: l.id,
            since_ms: now_ms(),
            peer: Peer::from(l.peer),
            proto: l.proto,
            text: self.texts.acquire(l.text),
        };
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                let (base, len) = PAGES.page(self.pages.len());
                self.pages.push((0..len).map(|_| None).collect());
                self.free
                    .extend((base + 1..base + len).rev().map(|k| k as u32));
                base as u32
            }
        };
        match self.slot(i) {
            Some(s) => {
                *s = Some(rec);
                i
            }
            None => {
                self.texts.release(rec.text);
                u32::MAX
            }
        }
    }

    fn slot(&mut self, i: u32) -> Option<&mut Option<Record>> {
        let (page, i) = PAGES.locate(i as usize);
        self.pages.get_mut(page).and_then(|p| p.get_mut(i))
    }

    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(rec) = self.slot(slot).and_then(Option::take) else {
            return;
        };
        self.free.push(slot);
        self.texts.release(rec.text);
    }

    /// The record in `slot`, if it is live.
    pub(crate) fn get(&self, slot: u32) -> Option<&Record> {
        let (page, i) = PAGES.locate(slot as usize);
        self.pages.get(page)?.get(i)?.as_ref()
    }

    /// The live records.
    pub(crate) fn records(&self) -> impl Iterator<Item = &Record> {
        self.pages.iter().flat_map(|p| p.iter().flatten())
    }

    /// `rec`'s path, then `\n` and its `User-Agent` if one was sent.
    pub(crate) fn text(&self, rec: &Record) -> &str {
        self.texts.get(rec.text)
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
        assert_eq!(r.text(r.records().next().unwrap()), "/c");
        // Past a page: a second one, the keys go on.
        let more: Vec<u32> = (0..super::PAGES.first as u64)
            .map(|i| r.insert(Listing::new(10 + i, peer, 0, "/m", None)))
            .collect();
        // Keys 2..63 fill the first page, 64 and 65 start the second.
        assert_eq!(more.iter().max(), Some(&(super::PAGES.first as u32 + 1)));
        assert_eq!(r.records().count(), 2 + super::PAGES.first);
        assert_eq!(&*Listing::new(4, peer, 0, "/p", Some("x")).text, "/p\nx");
        // One text for every record with the same path and agent, gone
        // with the last of them.
        let x = r.insert(Listing::new(90, peer, 0, "/s", Some("ua")));
        let y = r.insert(Listing::new(91, peer, 0, "/s", Some("ua")));
        let text = |r: &Registry, id: u64| r.records().find(|c| c.id == id).unwrap().text;
        assert_eq!(text(&r, 90), text(&r, 91));
        assert_eq!(r.texts.index.len(), 4);
        r.remove(x);
        assert!(r.texts.index.contains_key("/s\nua"));
        r.remove(y);
        assert!(!r.texts.index.contains_key("/s\nua"));
        // Its slot is taken by the next new text.
        let z = r.insert(Listing::new(92, peer, 0, "/t", None));
        assert_eq!(r.text(r.get(z).unwrap()), "/t");
        assert_eq!(r.texts.slots.len(), 4);
        // Peers come back as they went in, IPv6 flow and scope included.
        let v6: std::net::SocketAddr = "[fe80::1%7]:443".parse().unwrap();
        let w = r.insert(Listing::new(93, v6, 0, "/", None));
        assert_eq!(r.get(w).unwrap().peer(), v6);
        assert_eq!(r.get(z).unwrap().peer(), peer);
        assert_eq!(std::mem::size_of::<Option<super::Record>>(), 40);
        // A line feed cannot come from a valid request; if one does, the
        // agent is dropped rather than misread as part of the path.
        assert_eq!(&*Listing::new(5, peer, 0, "/p\nq", Some("x")).text, "/p q");
    }
}
