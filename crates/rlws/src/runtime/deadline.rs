//! A connection's deadline (lws' `lws_set_timeout`): set, extended or
//! cancelled by whatever serves the connection, on its thread; when it
//! passes the connection is closed and the reason logged.

use std::cell::Cell;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The deadline of one connection.
#[derive(Debug, Default)]
#[doc(alias = "lws_set_timeout")]
pub struct ConnTimeout {
    at: Cell<Option<(Instant, &'static str)>>,
    changed: Notify,
}

impl ConnTimeout {
    /// Closes the connection `after` from now unless extended (set again)
    /// or cancelled; `reason` is logged.
    pub fn set(&self, reason: &'static str, after: Duration) {
        self.at.set(Some((Instant::now() + after, reason)));
        self.changed.notify_one();
    }

    /// Cancels the deadline.
    pub fn cancel(&self) {
        self.at.set(None);
        self.changed.notify_one();
    }

    /// The deadline and its reason, if one is set.
    pub fn get(&self) -> Option<(Instant, &'static str)> {
        self.at.get()
    }

    /// Runs `fut` until it ends (`Some`) or the deadline passes (`None`,
    /// the reason logged with `tag`).
    pub(crate) async fn guard<F: std::future::Future>(
        &self,
        fut: F,
        tag: impl std::fmt::Display,
    ) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let at = self.at.get();
            tokio::select! {
                biased;
                r = &mut fut => return Some(r),
                _ = self.changed.notified() => {}
                _ = async { tokio::time::sleep_until(at.map_or_else(Instant::now, |a| a.0)).await }, if at.is_some() => {
                    match self.at.get() {
                        Some((t, reason)) if t <= Instant::now() => {
                            tracing::info!(conn = %tag, reason, "connection timed out: closing");
                            return None;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
