//! The report's view of a pooler in between (`[database.pgbouncer]`): which one, its pools
//! second by second in the timeline, and their peaks over the variant.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::record::pooler::PoolerSample;

/// The pooler `stress` started in front of the database.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolerInfo {
    /// `pgbouncer`.
    pub kind: String,
    /// Its version, as it reports it (`1.18.0`).
    pub version: String,
    /// Where the harness connected, password replaced by `***`.
    pub url: String,
}

/// PgBouncer's pools for the run's database at the end of a second (`SHOW POOLS`, summed over
/// its users) and what its counters moved during that second (`SHOW STATS`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolerSecond {
    /// Client connections linked to a server connection or idle, able to run.
    pub cl_active: u64,
    /// Client connections waiting for a server connection.
    pub cl_waiting: u64,
    /// Server connections linked to a client.
    pub sv_active: u64,
    /// Server connections idle, ready for a client.
    pub sv_idle: u64,
    /// Server connections idle for longer than server_check_delay, to be checked first.
    pub sv_used: u64,
    /// The longest current wait of a client for a server connection, in milliseconds.
    pub maxwait_ms: u64,
    /// Transactions and queries PgBouncer passed on during this second.
    pub transactions: u64,
    pub queries: u64,
    /// Milliseconds clients spent waiting for a server connection during this second.
    pub wait_ms: u64,
}

impl From<PoolerSample> for PoolerSecond {
    fn from(s: PoolerSample) -> PoolerSecond {
        PoolerSecond {
            cl_active: s.cl_active,
            cl_waiting: s.cl_waiting,
            sv_active: s.sv_active,
            sv_idle: s.sv_idle,
            sv_used: s.sv_used,
            maxwait_ms: s.maxwait_ms,
            transactions: s.transactions,
            queries: s.queries,
            wait_ms: s.wait_ms,
        }
    }
}

/// The pooler's peaks over the measured phase, from the timeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolerStats {
    pub peak_cl_active: u64,
    pub peak_cl_waiting: u64,
    pub peak_sv_active: u64,
    /// The longest wait of a client for a server connection seen at a sample, in milliseconds.
    pub max_maxwait_ms: u64,
    /// Seconds at whose end some client was waiting.
    pub seconds_with_waiting: u64,
    pub transactions: u64,
    pub queries: u64,
    /// Milliseconds clients spent waiting for a server connection, in all.
    pub wait_ms: u64,
}

/// The peaks of the timeline's pooler samples (its seconds that have one); `None` when there
/// is none.
pub fn stats<'a>(seconds: impl Iterator<Item = &'a PoolerSecond>) -> Option<PoolerStats> {
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
pub fn merge_second<'a>(seconds: impl Iterator<Item = &'a PoolerSecond>) -> Option<PoolerSecond> {
    let mut out: Option<PoolerSecond> = None;
    for s in seconds {
        let o = out.get_or_insert_with(PoolerSecond::default);
        o.cl_active += s.cl_active;
        o.cl_waiting += s.cl_waiting;
        o.sv_active += s.sv_active;
        o.sv_idle += s.sv_idle;
        o.sv_used += s.sv_used;
        o.maxwait_ms = o.maxwait_ms.max(s.maxwait_ms);
        o.transactions += s.transactions;
        o.queries += s.queries;
        o.wait_ms += s.wait_ms;
    }
    out
}
