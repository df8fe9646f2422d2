//! Waiting on an observable condition with a deadline, instead of sleeping for a guessed time.
//! Tests that drive `stress` as a subprocess cannot reach a channel inside it: they force an
//! order (the load has measured something before a signal; a killed run's watchdog has acted,
//! or cannot act any more, before a check) by polling what they can see from outside.

use std::time::{Duration, Instant};

/// How often a condition is looked at.
pub const POLL: Duration = Duration::from_millis(20);

/// Looks at `probe` every [`POLL`] until it holds (`Ok`), for at most `limit`. `Err` says what
/// it saw instead; the last one is returned when the time is up.
pub fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + limit;
    loop {
        let seen = probe();
        if seen.is_ok() || Instant::now() >= deadline {
            return seen;
        }
        // The polling interval, not a guess at how long something takes.
        std::thread::sleep(POLL);
    }
}

/// [`poll`], panicking with `what` and the last state seen when the time is up.
pub fn eventually<T>(what: &str, limit: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    poll(limit, probe).unwrap_or_else(|seen| panic!("not within {limit:?}: {what}; {seen}"))
}

/// [`eventually`] for a plain condition.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    eventually(what, limit, || match condition() {
        true => Ok(()),
        false => Err("it did not hold".into()),
    })
}
