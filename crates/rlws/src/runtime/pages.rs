//! How the per-thread tables (WebSocket records, the connection registry)
//! grow: a small first page, so that a thread with a few connections
//! holds little, then large pages, so that a big table is a few large
//! allocations rather than many small ones interleaved in the heap with
//! the handshakes' short-lived buffers (each boundary between them can
//! keep a partly used memory page from being handed back).

/// A table's page sizes: `first` slots in page 0, `rest` in every later one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Growth {
    pub(crate) first: usize,
    pub(crate) rest: usize,
}

impl Growth {
    /// The page and the index in it of key `k`.
    pub(crate) fn locate(self, k: usize) -> (usize, usize) {
        match k.checked_sub(self.first) {
            None => (0, k),
            Some(r) => (1 + r / self.rest, r % self.rest),
        }
    }

    /// The first key and the length of page `n`.
    pub(crate) fn page(self, n: usize) -> (usize, usize) {
        match n {
            0 => (0, self.first),
            n => (self.first + (n - 1) * self.rest, self.rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Growth;

    #[test]
    fn keys_map_to_pages_and_back() {
        let g = Growth { first: 4, rest: 8 };
        assert_eq!(g.locate(0), (0, 0));
        assert_eq!(g.locate(3), (0, 3));
        assert_eq!(g.locate(4), (1, 0));
        assert_eq!(g.locate(11), (1, 7));
        assert_eq!(g.locate(12), (2, 0));
        assert_eq!(g.page(0), (0, 4));
        assert_eq!(g.page(1), (4, 8));
        assert_eq!(g.page(2), (12, 8));
        for k in 0..100 {
            let (p, i) = g.locate(k);
            let (base, len) = g.page(p);
            assert!(i < len);
            assert_eq!(base + i, k);
        }
    }
}
