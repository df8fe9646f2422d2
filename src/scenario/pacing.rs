//! `load.on_failure`: what a task does after a failed operation, and between the tries of
//! `load.retry`.
//!
//! ```toml
//! [load]
//! on_failure = "think"                                            # the default
//! on_failure = { pause = "10ms" }                                 # a fixed pause
//! on_failure = { backoff = "exponential", base = "10ms", max = "1s" } # full jitter
//! ```
//!
//! `"think"` waits `think_time`, as after a success (and retries at once, as pgbench does).
//! A pause waits that long after every failure and between tries. The exponential back-off
//! waits a uniformly drawn time in `[0, min(max, base × 2^(n-1))]` after the n-th failure in a
//! row ("full jitter"); a success resets n. The draws come from a stream seeded from the
//! scenario seed and the task number, apart from the parameter streams, so a seeded run
//! repeats and adding the key does not change the values a run draws.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `load.on_failure` as written; [`OnFailure::pacing`] gives its meaning once validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum OnFailure {
    #[default]
    Think,
    Table(PacingTable),
}

/// `{ pause = ... }` or `{ backoff = "exponential", base = ..., max = ... }`; which keys go
/// together is checked by validation, so each mistake is reported at its key.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PacingTable {
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) pause: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) backoff: Option<BackoffKind>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) base: Option<Duration>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) max: Option<Duration>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BackoffKind {
    Exponential,
}

/// What a task waits after a failure (and between tries), once validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// `think_time`, as after a success; tries follow each other at once.
    Think,
    Pause(Duration),
    /// Full-jitter exponential back-off.
    Backoff {
        base: Duration,
        max: Duration,
    },
}

impl OnFailure {
    pub(crate) fn is_think(&self) -> bool {
        *self == OnFailure::Think
    }

    /// The pacing; a table validation refused falls back to what it names first.
    pub(crate) fn pacing(&self) -> Pacing {
        match self {
            OnFailure::Think => Pacing::Think,
            OnFailure::Table(t) => match (t.pause, t.backoff) {
                (Some(p), _) => Pacing::Pause(p),
                (None, Some(_)) => Pacing::Backoff {
                    base: t.base.unwrap_or(Duration::ZERO),
                    max: t.max.unwrap_or(Duration::ZERO),
                },
                (None, None) => Pacing::Think,
            },
        }
    }
}

impl Pacing {
    /// The longest wait after the `n`-th failure in a row (n ≥ 1): the back-off's cap.
    pub(crate) fn cap(self, n: u32) -> Duration {
        match self {
            Pacing::Think => Duration::ZERO,
            Pacing::Pause(p) => p,
            Pacing::Backoff { base, max } => {
                let shift = n.saturating_sub(1).min(63);
                let factor = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
                let factor = u32::try_from(factor).unwrap_or(u32::MAX);
                base.checked_mul(factor).unwrap_or(max).min(max)
            }
        }
    }

    /// The wait after the `n`-th failure in a row: the pause, or a draw in `[0, cap(n)]`.
    pub(crate) fn wait(self, n: u32, rng: &mut fastrand::Rng) -> Duration {
        match self {
            Pacing::Think => Duration::ZERO,
            Pacing::Pause(p) => p,
            Pacing::Backoff { .. } => {
                let cap = u64::try_from(self.cap(n).as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(rng.u64(0..=cap))
            }
        }
    }
}

impl Serialize for OnFailure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OnFailure::Think => s.serialize_str("think"),
            OnFailure::Table(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OnFailure;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"think\", { pause = \"10ms\" } or { backoff = \"exponential\", base = \"10ms\", max = \"1s\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OnFailure, E> {
                match v {
                    "think" => Ok(OnFailure::Think),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<OnFailure, A::Error> {
                let table = PacingTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OnFailure::Table(table))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn backoff() -> Pacing {
        Pacing::Backoff {
            base: 10 * MS,
            max: 1000 * MS,
        }
    }

    #[test]
    fn the_cap_doubles_from_base_and_stops_at_max() {
        let b = backoff();
        assert_eq!(b.cap(1), 10 * MS);
        assert_eq!(b.cap(2), 20 * MS);
        assert_eq!(b.cap(7), 640 * MS);
        assert_eq!(b.cap(8), 1000 * MS, "1280 ms is above max");
        assert_eq!(b.cap(200), 1000 * MS, "no overflow far on");
        assert_eq!(b.cap(0), 10 * MS, "n = 0 is treated as the first");
    }

    #[test]
    fn jitter_stays_within_zero_and_the_cap_and_spreads() {
        let b = backoff();
        let mut rng = fastrand::Rng::with_seed(1);
        for n in [1, 3, 9] {
            let draws: Vec<Duration> = (0..2000).map(|_| b.wait(n, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= b.cap(n)), "n = {n}");
            let (lo, hi) = (b.cap(n) / 4, b.cap(n) * 3 / 4);
            assert!(
                draws.iter().any(|d| *d < lo),
                "some draw in the lowest quarter"
            );
            assert!(
                draws.iter().any(|d| *d > hi),
                "some draw in the highest quarter"
            );
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_waits() {
        let b = backoff();
        let draw = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (1..20).map(|n| b.wait(n, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    #[test]
    fn a_pause_is_always_the_pause_and_think_waits_nothing_here() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(Pacing::Pause(10 * MS).wait(5, &mut rng), 10 * MS);
        assert_eq!(Pacing::Think.wait(5, &mut rng), Duration::ZERO);
    }
}
