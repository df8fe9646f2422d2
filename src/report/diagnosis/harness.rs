//! `harness.saturated`: the harness's worker threads were busy nearly all the load, so its
//! figures measure `stress` as much as the database (k6 warns the same way when its load
//! generator is overloaded).

use super::super::model::{Finding, VariantReport};

/// At or above this share of its worker threads' time, the harness is called saturated.
pub(crate) const SATURATED: f64 = 0.9;

pub(crate) fn finding(r: &VariantReport) -> Option<Finding> {
    let h = r.harness.as_ref()?;
    if h.utilization < SATURATED {
        return None;
    }
    Some(Finding {
        class: "harness.saturated".into(),
        finding: format!(
            "The harness was saturated: stress wanted a CPU {:.0}% of its {} worker thread(s)' time \
             ({:.2} s on a CPU and {:.2} s waiting for one{}, in {:.2} s of load). Latencies and \
             throughput here are bounded by the harness, not only by the database ({:.0} ok/s, \
             operation p99 {:.3} ms).",
            h.utilization * 100.0,
            h.worker_threads,
            h.cpu_s,
            h.waited_s,
            match h.stolen_s {
                s if s >= 0.005 => format!(", {s:.2} s taken by the machine's hypervisor"),
                _ => String::new(),
            },
            h.wall_s,
            r.throughput_ops_s,
            r.latency_ms.operation.p99,
        ),
        advice: "Do not read these figures as the database's limit: give stress more cores (no taskset, \
                 fewer other processes on this machine), or lower load.tasks / load.rate until this \
                 finding goes away, or run the load from several machines (`stress merge`)."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Harness;
    use std::time::Duration;

    fn with(cpu_ms: u64, wall_ms: u64, threads: usize) -> VariantReport {
        VariantReport {
            harness: Some(Harness::new(
                Duration::from_millis(cpu_ms / 2),
                Duration::from_millis(cpu_ms - cpu_ms / 2),
                Duration::from_millis(wall_ms),
                threads,
            )),
            ..crate::report::fixtures::variant("v", 100, 0, serde_json::json!({}))
        }
    }

    #[test]
    fn saturated_at_ninety_percent_of_the_worker_threads() {
        assert!(finding(&with(1_900, 1_000, 2)).is_some());
        assert!(finding(&with(950, 1_000, 1)).is_some());
        let f = finding(&with(1_900, 1_000, 2)).expect("saturated");
        assert!(f.finding.contains("95%"), "{}", f.finding);
    }

    #[test]
    fn not_saturated_below_it_or_without_a_reading() {
        assert!(finding(&with(1_000, 1_000, 2)).is_none());
        assert!(finding(&with(800, 1_000, 1)).is_none());
        let mut r = with(2_000, 1_000, 1);
        r.harness = None;
        assert!(finding(&r).is_none());
    }
}
