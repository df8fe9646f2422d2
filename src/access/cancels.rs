//! Cancel races: which statement a cancel request was meant for, per connection, and whether
//! the statement that met it (`query_canceled`) was that one.
//!
//! A cancel request (`pg_cancel_backend`, the protocol's CancelRequest) names a backend, not a
//! statement: one sent while statement 7 runs but delivered after it finished cancels statement
//! 8 on the same connection, another operation's (the npgsql and pgjdbc reports). Each
//! connection numbers its statements; the `cancel_queries` fault notes the number in flight
//! (or the last one started) when it sends a request, and a statement that fails with
//! `query_canceled` under another number counts as `anomalies.cancel_requests_misdirected`.
//!
//! The fix the drivers adopted (pgjdbc waits for its cancel to complete before the next
//! statement) is [`StatementTrack::block`]: no statement starts on the connection while a cancel
//! aimed at it is on its way; a request that finds its statement ended is not sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::record::errors::{ErrorClass, OpError};

/// The connections of a variant by serial (`stress:<run id>:<serial>`), and the count of
/// cancels that met the wrong statement.
#[derive(Debug, Default)]
pub struct Cancels {
    conns: Mutex<HashMap<u64, Arc<StatementTrack>>>,
    misdirected: AtomicU64,
}

impl Cancels {
    pub(crate) fn register(&self, serial: u64) -> Arc<StatementTrack> {
        let track = Arc::new(StatementTrack::default());
        let mut conns = self.conns.lock().expect("cancels lock");
        conns.insert(serial, track.clone());
        track
    }

    pub(crate) fn forget(&self, serial: u64) {
        self.conns.lock().expect("cancels lock").remove(&serial);
    }

    /// The statements of connection `serial`, if it is open.
    pub fn get(&self, serial: u64) -> Option<Arc<StatementTrack>> {
        self.conns
            .lock()
            .expect("cancels lock")
            .get(&serial)
            .cloned()
    }

    /// Statements cancelled by a request aimed at another statement.
    pub fn misdirected(&self) -> u64 {
        self.misdirected.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Number of the last statement started (the first is 1).
    started: u64,
    /// Statements in flight (more than one only on a shared, pipelined connection).
    running: u32,
    /// The statement the last cancel request sent was aimed at, until a statement meets it.
    target: Option<u64>,
    /// A guarded cancel is on its way: no statement starts.
    blocked: bool,
}

/// One connection's statements, as far as cancels are concerned.
#[derive(Debug, Default)]
pub struct StatementTrack {
    state: Mutex<State>,
    unblocked: Notify,
}

impl StatementTrack {
    /// A statement starts: its number, in flight until the guard is dropped (also when the
    /// operation is abandoned mid-statement). Waits while a guarded cancel is on its way.
    pub(crate) async fn begin(&self) -> InFlight<'_> {
        loop {
            let wait = {
                let mut s = self.state.lock().expect("statement lock");
                if !s.blocked {
                    s.started += 1;
                    s.running += 1;
                    return InFlight {
                        track: self,
                        seq: s.started,
                    };
                }
                // Created under the lock: `notify_waiters` after the unlock reaches it.
                self.unblocked.notified()
            };
            wait.await;
        }
    }

    /// A cancel request is about to be sent without a guard: notes the statement it is meant
    /// for (the one in flight, or the last one started).
    pub fn aim(&self) {
        let mut s = self.state.lock().expect("statement lock");
        s.target = Some(s.started);
    }

    /// A guarded cancel: holds back the connection's next statement and notes the one in
    /// flight, which is returned; `None` (nothing held back) when no statement is in flight,
    /// and then no request should be sent. Call [`StatementTrack::release`] once it was sent.
    pub fn block(&self) -> Option<u64> {
        let mut s = self.state.lock().expect("statement lock");
        if s.running == 0 {
            return None;
        }
        s.blocked = true;
        s.target = Some(s.started);
        Some(s.started)
    }

    /// The guarded cancel was delivered (or failed): statements may start again.
    pub fn release(&self) {
        self.state.lock().expect("statement lock").blocked = false;
        self.unblocked.notify_waiters();
    }
}

/// A statement in flight on a connection.
pub(crate) struct InFlight<'a> {
    track: &'a StatementTrack,
    seq: u64,
}

impl InFlight<'_> {
    /// The statement ended with `result`: a `query_canceled` aimed at another statement is
    /// counted as misdirected.
    pub(crate) fn end(self, result: &Result<(), OpError>, cancels: &Cancels) {
        if let Err(e) = result
            && e.class == ErrorClass::QueryCanceled
        {
            let mut s = self.track.state.lock().expect("statement lock");
            if s.target.take().is_some_and(|target| target != self.seq) {
                cancels.misdirected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.track.state.lock().expect("statement lock");
        s.running = s.running.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canceled() -> Result<(), OpError> {
        Err(OpError::new(
            ErrorClass::QueryCanceled,
            "canceling statement",
        ))
    }

    #[tokio::test]
    async fn a_cancel_met_by_a_later_statement_is_misdirected() {
        let cancels = Cancels::default();
        let t = cancels.register(1);
        let first = t.begin().await;
        t.aim();
        first.end(&Ok(()), &cancels);
        let second = t.begin().await;
        second.end(&canceled(), &cancels);
        assert_eq!(cancels.misdirected(), 1);
        // Aimed at the statement in flight and met by it: not misdirected.
        let third = t.begin().await;
        t.aim();
        third.end(&canceled(), &cancels);
        assert_eq!(cancels.misdirected(), 1);
        cancels.forget(1);
        assert!(cancels.get(1).is_none());
    }

    #[tokio::test]
    async fn a_guarded_cancel_holds_the_next_statement_back() {
        let cancels = Cancels::default();
        let t = cancels.register(2);
        assert_eq!(t.block(), None, "nothing in flight: nothing to cancel");
        let first = t.begin().await;
        assert_eq!(t.block(), Some(first.seq));
        let seq = first.seq;
        first.end(&Ok(()), &cancels);
        let next = {
            let t = t.clone();
            tokio::spawn(async move { t.begin().await.seq })
        };
        tokio::task::yield_now().await;
        assert!(
            !next.is_finished(),
            "started while the cancel was on its way"
        );
        t.release();
        assert_eq!(next.await.unwrap(), seq + 1);
        // An abandoned statement is not left in flight.
        drop(t.begin().await);
        assert_eq!(t.block(), None);
    }
}
