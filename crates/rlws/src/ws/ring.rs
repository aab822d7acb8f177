//! A fan-out ring buffer with one read position ("tail") per consumer
//! (lws' `lws_ring`).
//!
//! A producer pushes items; each consumer reads them in order from its own
//! tail. Memory is bounded by the capacity: when the ring is full the
//! producer either waits (check [`Ring::is_full`] and pause RX, the lws
//! mirror way) or forces the push with [`Ring::push_overwrite`], which drops
//! the oldest item and makes consumers that had not read it skip ahead
//! (they can see how much they missed with [`Ring::take_skipped`]).

use std::collections::VecDeque;

/// Identifies a consumer's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailId(usize);

#[derive(Debug, Clone, Copy)]
struct Tail {
    seq: u64,
    skipped: u64,
}

/// A bounded fan-out ring.
#[derive(Debug)]
pub struct Ring<T> {
    items: VecDeque<T>,
    /// Sequence number of `items[0]`.
    first: u64,
    cap: usize,
    tails: Vec<Option<Tail>>,
}

impl<T> Ring<T> {
    /// A ring holding at most `cap` items (at least 1).
    pub fn new(cap: usize) -> Self {
        Ring {
            items: VecDeque::new(),
            first: 0,
            cap: cap.max(1),
            tails: Vec::new(),
        }
    }

    fn end(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    /// Adds a consumer that sees items pushed from now on.
    pub fn add_tail(&mut self) -> TailId {
        let t = Some(Tail {
            seq: self.end(),
            skipped: 0,
        });
        if let Some(i) = self.tails.iter().position(Option::is_none) {
            self.tails[i] = t;
            TailId(i)
        } else {
            self.tails.push(t);
            TailId(self.tails.len() - 1)
        }
    }

    /// Removes a consumer, freeing what only it still needed.
    pub fn remove_tail(&mut self, id: TailId) {
        if let Some(t) = self.tails.get_mut(id.0) {
            *t = None;
        }
        self.trim();
    }

    /// Number of items held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no items are held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether a [`Ring::push`] would be refused.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.cap
    }

    /// Free places.
    pub fn free(&self) -> usize {
        self.cap - self.items.len()
    }

    /// Adds an item; gives it back if the ring is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.is_full() {
            return Err(item);
        }
        self.items.push_back(item);
        Ok(())
    }

    /// Adds an item, dropping the oldest if full (slow consumers skip it).
    pub fn push_overwrite(&mut self, item: T) {
        if self.is_full() {
            self.items.pop_front();
            self.first += 1;
            let first = self.first;
            for t in self.tails.iter_mut().flatten() {
                if t.seq < first {
                    t.skipped += first - t.seq;
                    t.seq = first;
                }
            }
        }
        self.items.push_back(item);
    }

    /// The next item for `id`, if any.
    pub fn peek(&self, id: TailId) -> Option<&T> {
        let t = self.tails.get(id.0)?.as_ref()?;
        let idx = t.seq.checked_sub(self.first)?;
        self.items.get(idx as usize)
    }

    /// Marks the item returned by [`Ring::peek`] as read. Returns true when
    /// that freed room in the ring.
    pub fn advance(&mut self, id: TailId) -> bool {
        let end = self.end();
        let Some(Some(t)) = self.tails.get_mut(id.0) else {
            return false;
        };
        if t.seq < end {
            t.seq += 1;
        }
        self.trim()
    }

    /// Unread items for `id`.
    pub fn pending(&self, id: TailId) -> usize {
        match self.tails.get(id.0) {
            Some(Some(t)) => (self.end() - t.seq) as usize,
            _ => 0,
        }
    }

    /// Items `id` lost to [`Ring::push_overwrite`] since the last call.
    pub fn take_skipped(&mut self, id: TailId) -> u64 {
        match self.tails.get_mut(id.0) {
            Some(Some(t)) => std::mem::take(&mut t.skipped),
            _ => 0,
        }
    }

    /// Drops items every tail has read. Returns true if any were dropped.
    fn trim(&mut self) -> bool {
        let min = self
            .tails
            .iter()
            .flatten()
            .map(|t| t.seq)
            .min()
            .unwrap_or(self.end());
        let mut freed = false;
        while self.first < min && !self.items.is_empty() {
            self.items.pop_front();
            self.first += 1;
            freed = true;
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tail_sees_everything_once_and_memory_is_freed() {
        let mut r = Ring::new(4);
        let a = r.add_tail();
        let b = r.add_tail();
        for i in 0..4 {
            r.push(i).unwrap();
        }
        assert!(r.is_full());
        assert_eq!(r.push(9), Err(9));
        let mut got_a = vec![];
        while let Some(&v) = r.peek(a) {
            got_a.push(v);
            r.advance(a);
        }
        assert_eq!(got_a, [0, 1, 2, 3]);
        assert_eq!(r.len(), 4, "b has not read yet");
        assert_eq!(r.peek(b), Some(&0));
        assert!(r.advance(b));
        assert_eq!(r.len(), 3);
        r.remove_tail(b);
        assert!(r.is_empty());
    }

    #[test]
    fn overwrite_skips_slow_tails() {
        let mut r = Ring::new(2);
        let slow = r.add_tail();
        for i in 0..5 {
            r.push_overwrite(i);
        }
        assert_eq!(r.take_skipped(slow), 3);
        assert_eq!(r.peek(slow), Some(&3));
        let late = r.add_tail();
        assert_eq!(r.peek(late), None);
        assert_eq!(r.pending(slow), 2);
    }
}
