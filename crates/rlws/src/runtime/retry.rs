//! [`RetryPolicy`] (lws' `lws_retry_bo_t`): how long to wait before each
//! new try, with jitter, when to give up, and how long a connection may go
//! without proof of life before it is pinged and then hung up.

use std::time::Duration;

/// Backoff and validity rules.
///
/// The wait before try `n + 1` (after `n` failures) is the table's entry
/// `n - 1`, or its last entry past its end, plus a random 0 to `jitter` %
/// of it. After `conceal` failures it gives up (`None`: never). Unlike
/// lws, a jitter of 0 means none.
#[doc(alias = "lws_retry_bo_t")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    delays: Vec<Duration>,
    conceal: Option<u32>,
    jitter_percent: u8,
    ping_after: Duration,
    hangup_after: Duration,
}

impl Default for RetryPolicy {
    /// lws' policy when none is given: 3 s plus up to 30 %, never giving
    /// up; ping after 300 s without proof of life, hang up at 310 s.
    fn default() -> Self {
        RetryPolicy {
            delays: vec![Duration::from_secs(3)],
            conceal: None,
            jitter_percent: 30,
            ping_after: Duration::from_secs(300),
            hangup_after: Duration::from_secs(310),
        }
    }
}

impl RetryPolicy {
    /// A policy waiting `delays` in turn (the last one repeats); with no
    /// jitter, never giving up, and the default validity.
    pub fn new(delays: &[Duration]) -> RetryPolicy {
        RetryPolicy {
            delays: if delays.is_empty() {
                vec![Duration::ZERO]
            } else {
                delays.to_vec()
            },
            jitter_percent: 0,
            ..RetryPolicy::default()
        }
    }

    /// Gives up after `n` failures (lws' `conceal_count`).
    #[doc(alias = "conceal_count")]
    pub fn conceal(mut self, n: u32) -> RetryPolicy {
        self.conceal = Some(n);
        self
    }

    /// Adds a random 0 to `percent` % to each wait (at most 100).
    pub fn jitter(mut self, percent: u8) -> RetryPolicy {
        self.jitter_percent = percent.min(100);
        self
    }

    /// Pings a connection `ping_after` without proof of life, hangs up at
    /// `hangup_after` (lws' `secs_since_valid_ping` / `_hangup`).
    #[doc(alias = "secs_since_valid_ping")]
    pub fn validity(mut self, ping_after: Duration, hangup_after: Duration) -> RetryPolicy {
        self.ping_after = ping_after;
        self.hangup_after = hangup_after.max(ping_after);
        self
    }

    /// Time without proof of life before a ping.
    pub fn ping_after(&self) -> Duration {
        self.ping_after
    }

    /// Time without proof of life before hanging up.
    pub fn hangup_after(&self) -> Duration {
        self.hangup_after
    }

    /// The shortest and longest wait after `failures` failures, or `None`
    /// when the policy gives up.
    pub fn bounds(&self, failures: u32) -> Option<(Duration, Duration)> {
        if failures == 0 || self.conceal.is_some_and(|c| failures > c) {
            return None;
        }
        let i = (failures as usize - 1).min(self.delays.len() - 1);
        let base = self.delays[i];
        Some((base, base + base * u32::from(self.jitter_percent) / 100))
    }

    /// The wait after `failures` failures, jitter included, or `None` when
    /// the policy gives up (lws' `lws_retry_get_delay_ms`).
    #[doc(alias = "lws_retry_get_delay_ms")]
    pub fn delay(&self, failures: u32) -> Option<Duration> {
        let (lo, hi) = self.bounds(failures)?;
        let span = (hi - lo).as_micros() as u64;
        let extra = if span == 0 {
            0
        } else {
            rlws_ws::mask::random_u64() % (span + 1)
        };
        Some(lo + Duration::from_micros(extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_jitter_and_giving_up() {
        let ms = Duration::from_millis;
        let p = RetryPolicy::new(&[ms(100), ms(200), ms(400)])
            .conceal(4)
            .jitter(20);
        assert_eq!(p.bounds(0), None);
        assert_eq!(p.bounds(1), Some((ms(100), ms(120))));
        assert_eq!(p.bounds(2), Some((ms(200), ms(240))));
        assert_eq!(p.bounds(3), Some((ms(400), ms(480))));
        assert_eq!(
            p.bounds(4),
            Some((ms(400), ms(480))),
            "the last entry repeats"
        );
        assert_eq!(p.bounds(5), None, "gives up after the conceal count");
        for f in 1..=4 {
            let (lo, hi) = p.bounds(f).unwrap();
            for _ in 0..200 {
                let d = p.delay(f).unwrap();
                assert!(d >= lo && d <= hi, "{d:?}");
            }
        }
        let none = RetryPolicy::new(&[ms(50)]);
        assert_eq!(none.delay(1000), Some(ms(50)), "no jitter, never gives up");
        let d = RetryPolicy::default();
        assert_eq!(d.bounds(1), Some((ms(3000), ms(3900))));
        assert_eq!(
            (d.ping_after(), d.hangup_after()),
            (Duration::from_secs(300), Duration::from_secs(310))
        );
    }
}
