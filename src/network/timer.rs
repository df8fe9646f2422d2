//! Sleeps with microsecond precision: a `timerfd` watched by tokio.
//!
//! tokio's timer wheel ticks in milliseconds and rounds a deadline up to the next tick, so a
//! 1 ms sleep lasts 1–2 ms: "1 ms of latency" would be 1.5 ms on average and the round trip
//! 3 ms instead of 2. A pump owns one [`Timer`] (one file descriptor), made the first time it
//! needs to wait and re-armed for each wait.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer on the monotonic clock.
pub(crate) struct Timer {
    fd: AsyncFd<Fd>,
}

impl Timer {
    pub(crate) fn new() -> io::Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: `Fd` owns the timerfd, so the descriptor stays open and the same for as long
        // as the `AsyncFd` that owns `Fd`.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(fd), Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Timer { fd })
    }

    /// Waits until `deadline` (at once if it has passed).
    pub(crate) async fn sleep_until(&mut self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        self.arm(left)?;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match nix::unistd::read(self.fd.get_ref().0.as_fd(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn arm(&self, left: Duration) -> io::Result<()> {
        self.fd.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(left)),
            TimerSetTimeFlags::empty(),
        )?;
        Ok(())
    }
}

/// Sleeps until `deadline` on `timer` (made on first use); tokio's timer if none can be made.
pub(crate) async fn sleep_until(timer: &mut Option<Timer>, deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    if timer.is_none() {
        *timer = Timer::new().ok();
    }
    let precise = match timer.as_mut() {
        Some(t) => t.sleep_until(deadline).await.is_ok(),
        None => false,
    };
    if !precise {
        tokio::time::sleep_until(deadline.into()).await;
    }
}
