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
    /// Time the machine's hypervisor ran another guest instead of this one (steal time), taken
    /// from the worker threads at the machine's average rate per CPU, in seconds; 0 on a machine
    /// without steal, and in reports of an older `stress`.
    #[serde(default)]
    pub(crate) stolen_s: f64,
    /// Wall time of the load, in seconds.
    pub(crate) wall_s: f64,
    /// Worker threads that ran the tasks.
    pub worker_threads: u32,
    /// `(cpu_s + waited_s + stolen_s) / wall_s / worker_threads`: 1.0 when every worker thread
    /// wanted a CPU all along.
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
            stolen_s: 0.0,
            wall_s,
            worker_threads: u32::try_from(threads).unwrap_or(u32::MAX),
            utilization: if wall_s > 0.0 {
                (cpu_s + waited_s) / wall_s / threads as f64
            } else {
                0.0
            },
        }
    }

    /// With `stolen` of the machine's steal time (already the worker threads' share), at most
    /// what the wall time leaves: a thread the hypervisor did not run wanted a CPU as much as
    /// one waiting for it (a clean CI run of 2026-12-03 read 68% with a third of the time in
    /// neither count; steal may have been that time, unconfirmed).
    pub(crate) fn with_stolen(mut self, stolen: std::time::Duration) -> Harness {
        let threads = f64::from(self.worker_threads.max(1));
        let room = (self.wall_s * threads - self.cpu_s - self.waited_s).max(0.0);
        self.stolen_s = stolen.as_secs_f64().min(room);
        if self.wall_s > 0.0 {
            self.utilization = (self.cpu_s + self.waited_s + self.stolen_s) / self.wall_s / threads;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stolen_time_counts_as_wanted_up_to_the_wall_time() {
        let s = |ms| Duration::from_millis(ms);
        let h = Harness::new(s(1000), s(500), s(3000), 1);
        assert!((h.utilization - 0.5).abs() < 1e-9);
        let h = h.with_stolen(s(1000));
        assert!((h.utilization - 2.5 / 3.0).abs() < 1e-9, "{h:?}");
        let h = Harness::new(s(1000), s(500), s(3000), 1).with_stolen(s(9000));
        assert_eq!((h.stolen_s, h.utilization), (1.5, 1.0));
    }
}
