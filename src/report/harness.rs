//! The report's `harness` section: the harness's own CPU use during a variant's load (see
//! `run/cpu.rs`, which measures it, and `diagnosis/harness.rs`, which judges it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The harness's own CPU use during a variant's load (warmup included): how much of its worker
/// threads' time it wanted a CPU, so that a harness limit is not read as a database limit.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Harness {
    /// CPU time of the `stress` process's threads over the load, in seconds.
    pub(crate) cpu_s: f64,
    /// Time those threads were runnable but waited for a CPU (other processes had it), in
    /// seconds; 0 where the system does not tell.
    pub(crate) waited_s: f64,
    /// Wall time of the load, in seconds.
    pub(crate) wall_s: f64,
    /// Worker threads that ran the tasks.
    pub worker_threads: u32,
    /// `(cpu_s + waited_s) / wall_s / worker_threads`: 1.0 when every worker thread wanted a
    /// CPU all along.
    pub utilization: f64,
}

impl Harness {
    pub(crate) fn new(
        cpu: std::time::Duration,
        waited: std::time::Duration,
        wall: std::time::Duration,
        threads: usize,
    ) -> Harness {
        let (cpu_s, waited_s, wall_s) =
            (cpu.as_secs_f64(), waited.as_secs_f64(), wall.as_secs_f64());
        let threads = threads.max(1);
        Harness {
            cpu_s,
            waited_s,
            wall_s,
            worker_threads: u32::try_from(threads).unwrap_or(u32::MAX),
            utilization: if wall_s > 0.0 {
                (cpu_s + waited_s) / wall_s / threads as f64
            } else {
                0.0
            },
        }
    }
}
