//! The harness's own CPU use during a variant's load, so that a harness limit is not read as a
//! database limit (k6 warns the same way when its load generator is overloaded).
//!
//! What the threads of this process wanted of the CPU over the wall time of the load, divided
//! by the worker threads: time on a CPU plus time runnable but waiting for one (Linux's
//! `/proc/self/task/*/schedstat`). The waiting counts because a harness starved of CPU by other
//! processes on the machine is as much a bottleneck as one that is busy: CPU time alone would
//! call it idle. Without schedstat the process's CPU clock alone is used. On a virtual machine
//! the hypervisor may run another guest instead (steal time, `/proc/stat`): neither count sees
//! that time, so the machine's steal over the load, at its average per CPU, is added for each
//! worker thread. 1.0 means every worker thread wanted a CPU all along; the server is another
//! process and is not counted.

use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};

use crate::report::model::Harness;

/// Started when the workers start; read when the load has ended, before they exit.
pub(crate) struct CpuClock {
    start: Option<Demand>,
    steal: Option<Steal>,
    wall: Instant,
}

/// The machine's steal time so far, in clock ticks, and its CPUs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Steal {
    ticks: u64,
    cpus: u32,
}

/// `/proc/stat`'s steal column of the `cpu` line, and how many `cpuN` lines follow.
fn steal() -> Option<Steal> {
    parse_steal(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_steal(text: &str) -> Option<Steal> {
    let total = text.lines().find(|l| l.starts_with("cpu "))?;
    // cpu user nice system idle iowait irq softirq steal ...
    let ticks = total.split_whitespace().nth(8)?.parse().ok()?;
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(Steal {
        ticks,
        cpus: u32::try_from(cpus).ok().filter(|n| *n > 0)?,
    })
}

/// Steal ticks in seconds: `/proc/stat` counts in USER_HZ, which Linux fixes at 100 for
/// userspace on every architecture (`sysconf(_SC_CLK_TCK)`).
fn ticks_s(ticks: u64) -> f64 {
    ticks as f64 / 100.0
}

/// CPU wanted by this process so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Demand {
    on_cpu: Duration,
    waiting: Duration,
}

/// The sum over this process's live threads of `/proc/self/task/*/schedstat` (nanoseconds on
/// a CPU, nanoseconds runnable on a run queue); the process CPU clock when it cannot be read.
fn demand() -> Option<Demand> {
    schedstat().or_else(|| {
        let cpu = clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
        Some(Demand {
            on_cpu: Duration::from(cpu),
            waiting: Duration::ZERO,
        })
    })
}

fn schedstat() -> Option<Demand> {
    let mut total = Demand::default();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread that ended meanwhile has no file any more: it is skipped.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let (on_cpu, waiting) = parse_schedstat(&text)?;
        total.on_cpu += on_cpu;
        total.waiting += waiting;
    }
    Some(total)
}

fn parse_schedstat(text: &str) -> Option<(Duration, Duration)> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    let on_cpu = fields.next()??;
    let waiting = fields.next()??;
    Some((Duration::from_nanos(on_cpu), Duration::from_nanos(waiting)))
}

impl CpuClock {
    pub(crate) fn start() -> CpuClock {
        CpuClock {
            start: demand(),
            steal: steal(),
            wall: Instant::now(),
        }
    }

    /// What was wanted since the start by `worker_threads` threads; `None` when it cannot be
    /// read. Threads started after the start count whole, which is what the workers are.
    pub(crate) fn finish(&self, worker_threads: usize) -> Option<Harness> {
        let (start, now) = (self.start?, demand()?);
        let stolen = match (self.steal, steal()) {
            (Some(a), Some(b)) => {
                let per_cpu = ticks_s(b.ticks.saturating_sub(a.ticks)) / f64::from(b.cpus);
                Duration::from_secs_f64(per_cpu * worker_threads as f64)
            }
            _ => Duration::ZERO,
        };
        let harness = Harness::new(
            now.on_cpu.saturating_sub(start.on_cpu),
            now.waiting.saturating_sub(start.waiting),
            self.wall.elapsed(),
            worker_threads,
        );
        Some(harness.with_stolen(stolen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_ninth_column_of_the_cpu_line() {
        let stat = "cpu  526294 31509 139171 692060 7701 0 9914 57405 0 0\n\
                    cpu0 238016 13333 63141 382735 2304 0 4545 28282 0 0\n\
                    cpu1 288278 18176 76030 309325 5396 0 5368 29122 0 0\nintr 1 2\n";
        assert_eq!(
            parse_steal(stat),
            Some(Steal {
                ticks: 57405,
                cpus: 2
            })
        );
        assert_eq!(parse_steal("cpu  1 2 3\n"), None);
    }

    #[test]
    fn schedstat_lines_parse_and_bad_ones_do_not() {
        assert_eq!(
            parse_schedstat("311427 5919 2\n"),
            Some((Duration::from_nanos(311_427), Duration::from_nanos(5_919)))
        );
        assert_eq!(parse_schedstat("x 1 2"), None);
        assert_eq!(parse_schedstat("1"), None);
    }

    /// The clock sums the process's live threads: another test's thread that ends while this
    /// one spins takes its whole CPU time out of the sum (CI once read 29.6 ms for a 60 ms
    /// spin). So up to 3 tries; a clock that misses a busy thread fails all three.
    #[test]
    fn a_busy_thread_shows_as_wanted_cpu() {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let clock = CpuClock::start();
            let until = Instant::now() + Duration::from_millis(60);
            let mut spins = 0u64;
            while Instant::now() < until {
                spins = std::hint::black_box(spins + 1);
            }
            let used = clock.finish(1).expect("the process's CPU use reads");
            if used.cpu_s + used.waited_s >= 0.03 && used.utilization > 0.4 {
                return;
            }
            tries.push(used);
        }
        panic!("a 60 ms spin did not show as wanted CPU: {tries:?}");
    }
}
