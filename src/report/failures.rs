//! The report's failures in time, as its types: each fault injected with what its window held
//! (`faults[]`), and the outage windows (`outages`). `model` re-exports them; `outages.rs`
//! computes them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::record::errors::ErrorClass;

/// A fault injected during the measured phase.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultEvent {
    /// `close_pool`, `terminate_backends`, `restart_server`, `cancel_queries`, `kill_backend`,
    /// `sql`, `read_only`, `cancel_tasks`, `network`, `restart_pooler` or `pause_pooler`.
    pub kind: String,
    /// When it fired, into the measured phase.
    pub at_ms: u64,
    /// When it was due (`at`, `at + every`, ...).
    pub(crate) scheduled_ms: u64,
    /// Operations holding or waiting for a connection when it fired.
    pub in_flight: u64,
    /// Operations that failed in the second after it was due, by class.
    pub failed_next_1s: BTreeMap<ErrorClass, u64>,
    /// What it did ("terminated 3 of 6 backend(s)"), or why it could not.
    pub detail: String,
    /// What its window held: from when it was due to each task's first success begun after
    /// its action ended. Absent in reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<FaultEffect>,
}

/// A fault's window. For each task it runs from when the fault was due to the end of the
/// task's first successful operation that began after the fault settled: after a restart's
/// `down_for`, the `for` of a pooler pause or of an `sql`, `read_only` or `network` fault, or a
/// closed pool's `reopen_after`; at once for the other kinds. A `network` fault without `for`
/// and a pool closed for good never settle.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultEffect {
    /// Tasks that ended an operation inside the window.
    pub tasks: u64,
    /// Of those, the tasks that recovered before the end of the measured phase.
    pub(crate) tasks_recovered: u64,
    /// Of those, the tasks still inside it when the next fault came: their window ends there.
    #[serde(default)]
    pub(crate) tasks_overtaken: u64,
    /// The last task's recovery (or the next fault, for tasks it overtook), into the measured
    /// phase; null when some task never recovered.
    pub(crate) recovered_at_ms: Option<u64>,
    /// From when it was due to the last recovery (or to the end of the measured phase).
    pub(crate) lasted_ms: f64,
    /// What ended it, in words.
    pub(crate) recovered_by: String,
    /// Acquire time spent waiting inside the window, from the fault on, summed over operations.
    pub(crate) waited_ms: f64,
    /// The longest of those waits.
    pub longest_wait_ms: f64,
    /// Operations that failed inside the window, and by class.
    pub(crate) failed: u64,
    pub(crate) errors: BTreeMap<ErrorClass, u64>,
}

/// Failures in time. An outage window is a burst of failures: a stretch during which at least
/// half the tasks (rounded up) were each failing (inside a run of failed operations with no
/// success between), extended to the first and last failure of those runs, with at least 2
/// failed operations.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Outages {
    /// Share of the measured time inside an outage window: the error rate by time.
    pub time_share: f64,
    /// Share of the operations that failed: the error rate by count.
    pub count_share: f64,
    /// Seconds tasks spent failing, over every run of failures (inside a window or not).
    pub(crate) failing_task_s: f64,
    /// Failures that were counted but whose runs were not kept (over the recorder's bound):
    /// the windows may then miss some.
    #[serde(default)]
    pub(crate) untracked_spells: u64,
    /// The outage windows.
    pub windows: Vec<OutageWindow>,
}

/// An outage window: a burst of failures (see `Outages`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutageWindow {
    /// When its first failed operation ended (failed), into the measured phase.
    pub start_ms: u64,
    /// To the end of its last failed operation.
    pub length_ms: f64,
    pub(crate) failed: u64,
    pub(crate) errors: BTreeMap<ErrorClass, u64>,
    /// Tasks that failed in it, and the most failing at once.
    pub tasks: u64,
    pub(crate) peak_tasks_failing: u64,
    /// Seconds its tasks spent failing (the sum of their runs of failures).
    pub failing_task_s: f64,
    /// End of the first success of one of its tasks after its last failure; null when none
    /// came before the end of the measured phase.
    pub recovered_at_ms: Option<u64>,
    /// The fault whose window it began in (index into `faults`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<usize>,
    /// What ended it, in words.
    pub(crate) recovered_by: String,
}
