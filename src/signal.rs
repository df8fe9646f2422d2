//! One-way flags that tasks on any thread can wait on: [`Signal`] (the pool's close, say) and
//! [`Interrupt`], the run's stop request (SIGINT, SIGTERM, SIGHUP: the first stops the load and
//! keeps what was measured, the second cancels what still runs, setup and teardown included).
//!
//! This module sits at the bottom of the crate: the database layer (a server start that gives
//! up when interrupted) and the run layer both read the same [`Interrupt`]. Catching the OS
//! signals is the command layer's job (`commands::signals`).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use tokio::sync::Notify;

/// Raised once; `raised()` returns as soon as it is.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    notify: Notify,
}

impl Signal {
    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed)
    }

    /// Returns once raised.
    pub(crate) async fn raised(&self) {
        loop {
            // Created before the check: a raise in between is not missed.
            let notified = self.notify.notified();
            if self.is_raised() {
                return;
            }
            notified.await;
        }
    }
}

/// SIGINT's number: what [`Interrupt::raise`] records when no OS signal is given (Ctrl-C).
pub(crate) const SIGINT: i32 = 2;

/// A stop request, raised once or twice. The first raise stops the load (what was measured is
/// kept and reported); the second asks to stop *now*: statements still running on the admin
/// connection (setup, teardown) are cancelled, and what is left is skipped.
#[derive(Debug, Default)]
pub struct Interrupt {
    first: Signal,
    again: Signal,
    /// The OS signal that raised it first (0 before).
    signo: AtomicI32,
}

impl Interrupt {
    /// Raises it as Ctrl-C would.
    pub fn raise(&self) {
        self.raise_by(SIGINT);
    }

    /// Raises it for the OS signal `signo`: the first call stops the load, the next ones ask to
    /// stop at once.
    pub(crate) fn raise_by(&self, signo: i32) {
        if self
            .signo
            .compare_exchange(0, signo, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.first.raise();
        } else {
            self.again.raise();
        }
    }

    /// Whether a stop was asked for.
    pub(crate) fn is_raised(&self) -> bool {
        self.first.is_raised()
    }

    /// Returns once a stop is asked for.
    pub(crate) async fn raised(&self) {
        self.first.raised().await
    }

    /// Whether a second stop was asked for: cancel what runs, skip what is left.
    pub(crate) fn is_urgent(&self) -> bool {
        self.again.is_raised()
    }

    /// Returns once a second stop is asked for.
    pub(crate) async fn urgent(&self) {
        self.again.raised().await
    }

    /// The OS signal that raised it first, if any.
    pub(crate) fn signo(&self) -> Option<i32> {
        match self.signo.load(Ordering::SeqCst) {
            0 => None,
            n => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_stops_the_load_and_the_second_makes_it_urgent() {
        let i = Interrupt::default();
        assert!(!i.is_raised() && !i.is_urgent() && i.signo().is_none());
        i.raise_by(15);
        assert!(i.is_raised() && !i.is_urgent());
        i.raise_by(2);
        assert!(i.is_urgent());
        assert_eq!(i.signo(), Some(15), "the first signal names the exit code");
    }
}
