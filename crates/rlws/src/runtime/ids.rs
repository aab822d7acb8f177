//! Typed ids: which connection, which service thread.

use std::fmt;

/// A connection's id, unique in its context (lws' `wsi` identity, as a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A service thread of a context, 0 to `thread_count() - 1` (lws' `tsi`).
#[doc(alias = "tsi")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadIndex(pub(crate) usize);

impl ThreadIndex {
    /// Thread number `i`.
    pub const fn new(i: usize) -> Self {
        ThreadIndex(i)
    }

    /// The number.
    pub fn get(self) -> usize {
        self.0
    }
}

impl From<usize> for ThreadIndex {
    fn from(i: usize) -> Self {
        ThreadIndex(i)
    }
}

impl fmt::Display for ThreadIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
