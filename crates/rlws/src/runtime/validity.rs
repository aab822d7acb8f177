//! Proof-of-life rules per connection (lws' `secs_since_valid_ping` /
//! `secs_since_valid_hangup` of a retry policy): ping after so long
//! without data, hang up if nothing comes back. A connection keeps a one
//! byte index into its thread's small table of distinct rules; entry 0 is
//! the context's own.

use std::cell::RefCell;
use std::time::Duration;

/// Ping a connection after `ping_after` without data from it; hang up at
/// `hangup_after` if still nothing came. A zero `ping_after` disables both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(alias = "secs_since_valid_ping")]
pub struct Validity {
    /// Time without data before a ping.
    pub ping_after: Duration,
    /// Time without data before hanging up (at least `ping_after`).
    pub hangup_after: Duration,
}

impl Validity {
    /// Ping after `ping_after`, hang up at `hangup_after`.
    pub fn new(ping_after: Duration, hangup_after: Duration) -> Validity {
        Validity {
            ping_after,
            hangup_after: hangup_after.max(ping_after),
        }
    }

    /// No pings, no hang-ups.
    pub fn never() -> Validity {
        Validity::new(Duration::ZERO, Duration::ZERO)
    }

    /// As thread-clock seconds: (ping after, wait for the pong), `u32::MAX`
    /// for never.
    pub(crate) fn secs(&self) -> (u32, u32) {
        if self.ping_after.is_zero() {
            return (u32::MAX, u32::MAX);
        }
        let ping = self.ping_after.as_secs().clamp(1, u64::from(u32::MAX - 1)) as u32;
        let wait = self
            .hangup_after
            .saturating_sub(self.ping_after)
            .as_secs()
            .clamp(1, u64::from(u32::MAX - 1)) as u32;
        (ping, wait)
    }
}

impl From<&crate::RetryPolicy> for Validity {
    fn from(p: &crate::RetryPolicy) -> Validity {
        Validity::new(p.ping_after(), p.hangup_after())
    }
}

/// One service thread's distinct rules, by index.
pub(crate) struct ValidityTable {
    entries: RefCell<Vec<(u32, u32)>>,
}

impl ValidityTable {
    /// A table whose entry 0 is the context's rule.
    pub(crate) fn new(default: (u32, u32)) -> ValidityTable {
        ValidityTable {
            entries: RefCell::new(vec![default]),
        }
    }

    /// The index for `v` (0, the context's, for `None`), added if new. A
    /// thread keeps at most 256 distinct rules; past that the context's is
    /// used (and said so).
    pub(crate) fn index(&self, v: Option<Validity>) -> u8 {
        let Some(v) = v else { return 0 };
        let want = v.secs();
        let mut e = self.entries.borrow_mut();
        if let Some(i) = e.iter().position(|x| *x == want) {
            return i as u8;
        }
        if e.len() > usize::from(u8::MAX) {
            tracing::warn!(
                ?v,
                "more than 256 distinct validity rules on one thread: using the context's"
            );
            return 0;
        }
        e.push(want);
        (e.len() - 1) as u8
    }

    /// Rule `i`: (ping after, pong wait) in seconds.
    pub(crate) fn get(&self, i: u8) -> (u32, u32) {
        let e = self.entries.borrow();
        e.get(usize::from(i))
            .or(e.first())
            .copied()
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Whether any rule pings at all (else the sweep has nothing to do).
    pub(crate) fn any(&self) -> bool {
        self.entries.borrow().iter().any(|(p, _)| *p != u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_shared_by_value_and_zero_means_never() {
        let s = Duration::from_secs;
        let t = ValidityTable::new((u32::MAX, u32::MAX));
        assert!(!t.any());
        assert_eq!(t.index(None), 0);
        let a = t.index(Some(Validity::new(s(5), s(8))));
        assert_eq!(a, 1);
        assert_eq!(t.index(Some(Validity::new(s(5), s(8)))), 1);
        assert_eq!(t.get(1), (5, 3));
        assert!(t.any());
        assert_eq!(Validity::never().secs(), (u32::MAX, u32::MAX));
        assert_eq!(
            Validity::new(s(10), s(1)).secs(),
            (10, 1),
            "hang-up no earlier than the ping"
        );
    }
}
