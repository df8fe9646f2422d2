//! The report's view of a pooler in between (`[database.pgbouncer]`): which one, its pools
//! second by second in the timeline, and their peaks over the variant.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(crate) use crate::record::pooler::PoolerSecond;

/// The pooler `stress` started in front of the database.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolerInfo {
    /// `pgbouncer`.
    pub kind: String,
    /// Its version, as it reports it (`1.18.0`).
    pub(crate) version: String,
    /// Where the harness connected, password replaced by `***`.
    pub url: String,
}

/// The pooler's peaks over the measured phase, from the timeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolerStats {
    pub(crate) peak_cl_active: u64,
    /// Highest `cl_waiting` sampled.
    pub peak_cl_waiting: u64,
    /// Highest `sv_active` sampled.
    pub peak_sv_active: u64,
    /// The longest wait of a client for a server connection seen at a sample, in milliseconds.
    pub max_maxwait_ms: u64,
    /// Seconds at whose end some client was waiting.
    pub(crate) seconds_with_waiting: u64,
    /// Transactions PgBouncer passed on, in all.
    pub transactions: u64,
    pub(crate) queries: u64,
    /// Milliseconds clients spent waiting for a server connection, in all.
    pub(crate) wait_ms: u64,
}

/// The peaks of the timeline's pooler samples (its seconds that have one); `None` when there
/// is none.
pub(crate) fn stats<'a>(seconds: impl Iterator<Item = &'a PoolerSecond>) -> Option<PoolerStats> {
    let seconds: Vec<&PoolerSecond> = seconds.collect();
    if seconds.is_empty() {
        return None;
    }
    let max = |f: fn(&PoolerSecond) -> u64| seconds.iter().map(|s| f(s)).max().unwrap_or(0);
    let sum = |f: fn(&PoolerSecond) -> u64| seconds.iter().map(|s| f(s)).sum();
    Some(PoolerStats {
        peak_cl_active: max(|s| s.cl_active),
        peak_cl_waiting: max(|s| s.cl_waiting),
        peak_sv_active: max(|s| s.sv_active),
        max_maxwait_ms: max(|s| s.maxwait_ms),
        seconds_with_waiting: seconds.iter().filter(|s| s.cl_waiting > 0).count() as u64,
        transactions: sum(|s| s.transactions),
        queries: sum(|s| s.queries),
        wait_ms: sum(|s| s.wait_ms),
    })
}

/// Several machines' same second (each with its own pooler): counts summed, the longest wait.
pub(crate) fn merge_second<'a>(
    seconds: impl Iterator<Item = &'a PoolerSecond>,
) -> Option<PoolerSecond> {
    let mut out: Option<PoolerSecond> = None;
    for s in seconds {
        out.get_or_insert_with(PoolerSecond::default).merge(s);
    }
    out
}
