//! `[load]`: how many tasks, for how long, at what pace, with which retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// `[load]`: how many tasks, for how long.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    #[serde(default = "default_tasks")]
    pub(crate) tasks: u32,
    /// Measured phase length; `duration` and `iterations` exclude each other (default 10s).
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) duration: Option<Duration>,
    /// Operations per task in the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) iterations: Option<u64>,
    #[serde(default, with = "crate::scenario::duration")]
    pub(crate) think_time: Duration,
    #[serde(default, with = "crate::scenario::duration")]
    pub(crate) warmup: Duration,
    /// Client-side deadline per operation (asyncio.wait_for): `op_deadline_exceeded`.
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) op_timeout: Option<Duration>,
    /// Open model: arrivals per second; `tasks` is then the most operations in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate: Option<f64>,
    /// Linear ramps of tasks (closed model) or rate (open model) to each target, as k6 does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) stages: Vec<Stage>,
    /// Retry operations that failed with these classes (pgbench's `--max-tries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry: Option<RetrySettings>,
    /// What a task does after a failed operation and between tries (see `pacing.rs`).
    #[serde(default, skip_serializing_if = "OnFailure::is_think")]
    pub(crate) on_failure: OnFailure,
}

/// `retry = { on = ["serialization_failure", "deadlock_detected"], max_tries = 3 }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub(crate) on: Vec<ErrorClass>,
    /// Tries in all, the first included.
    pub(crate) max_tries: u32,
}

fn default_tasks() -> u32 {
    1
}

/// Measured phase length when neither `duration` nor `iterations` is given.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl LoadSettings {
    /// How long the stages last in all (saturating: validation refuses more than
    /// [`crate::scenario::duration::MAX`]).
    pub(crate) fn staged_length(&self) -> Option<Duration> {
        (!self.stages.is_empty()).then(|| {
            self.stages
                .iter()
                .fold(Duration::ZERO, |sum, st| sum.saturating_add(st.duration))
        })
    }

    /// How long the measured phase lasts, when that is known before the run: the stages', the
    /// `duration`, or the default; unknown with `iterations`.
    pub(crate) fn measured_length(&self) -> Option<Duration> {
        self.staged_length()
            .or(match (self.duration, self.iterations) {
                (Some(d), _) => Some(d),
                (None, Some(_)) => None,
                (None, None) => Some(DEFAULT_DURATION),
            })
    }
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            tasks: default_tasks(),
            duration: None,
            iterations: None,
            think_time: Duration::ZERO,
            warmup: Duration::ZERO,
            op_timeout: None,
            rate: None,
            stages: Vec::new(),
            retry: None,
            on_failure: OnFailure::Think,
        }
    }
}

/// One ramp: reach `target` (tasks, or arrivals per second) linearly over `duration`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "crate::scenario::duration")]
    pub(crate) duration: Duration,
    pub(crate) target: f64,
}
