//! Durations in scenarios: humantime's text (`"500ms"`, `"2m"`), bounded.
//!
//! A duration is added to a clock reading somewhere (`Instant + warmup + duration`, bb8's
//! `Instant::now() + reaper_rate`), and an `Instant` overflows long before a `Duration` does:
//! `duration = "500000000000y"` must be a scenario error at its line, not a panic mid-run. No
//! run, timeout or interval needs more than [`MAX`], so every duration key is refused above it
//! where it is read. Used as `#[serde(with = "duration")]` in place of `humantime_serde`.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

pub(crate) use humantime_serde::serialize;

/// Longest duration a scenario may give: ten years as humantime counts them (`"10y"`: a year
/// is 365.25 days), so that `"10y"` itself is not refused as longer than ten years.
pub(crate) const MAX: Duration = Duration::from_secs(10 * 31_557_600);

/// The message for a duration above [`MAX`].
pub(crate) fn too_long(d: Duration) -> Option<String> {
    (d > MAX).then(|| {
        format!(
            "{} is longer than the longest duration a scenario may give (10 years)",
            humantime::format_duration(d)
        )
    })
}

/// A duration, or an optional one.
pub(crate) trait Bounded {
    fn longest(&self) -> Option<Duration>;
}

impl Bounded for Duration {
    fn longest(&self) -> Option<Duration> {
        Some(*self)
    }
}

impl Bounded for Option<Duration> {
    fn longest(&self) -> Option<Duration> {
        *self
    }
}

pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Bounded,
    humantime_serde::Serde<T>: Deserialize<'de>,
{
    let value = humantime_serde::Serde::<T>::deserialize(d)?.into_inner();
    match value.longest().and_then(too_long) {
        Some(message) => Err(D::Error::custom(message)),
        None => Ok(value),
    }
}
