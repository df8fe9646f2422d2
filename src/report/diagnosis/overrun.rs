//! `load.overran`: the measured phase lasted well past its planned length. No operation starts
//! after the duration, but those in flight are waited for, and an operation that never ends
//! (a network fault that keeps a request hanging, a lock never released) holds the run until
//! it is interrupted. Review of 2026-12-03: such a run, planned for 4 s and interrupted after
//! 60 s with every task stuck, read "clean: all 185 operations succeeded, 3 ops/s".

use super::super::model::{Finding, VariantReport};
use crate::scenario::model::Settings;

/// Past the planned length by more than this (seconds) and by half of it, the load overran.
const SLACK_S: f64 = 1.0;

pub(crate) fn finding(r: &VariantReport, s: &Settings) -> Option<Finding> {
    let planned = s.load.measured_length()?.as_secs_f64();
    let over = r.measured_s - planned;
    if over <= SLACK_S || over <= planned / 2.0 {
        return None;
    }
    // The seconds at the end in which no operation finished while connections were in use.
    let stalled = (r.timeline.iter().rev())
        .take_while(|e| e.ok + e.failed == 0 && e.in_use > 0)
        .collect::<Vec<_>>();
    let stuck = stalled.iter().map(|e| e.in_use).max().unwrap_or(0);
    let tail = match stalled.len() {
        0 => String::new(),
        n => format!(
            " In its last {n} s no operation finished while {stuck} connection(s) were in use: \
             operations that never ended, in no count of this report."
        ),
    };
    Some(Finding {
        class: "load.overran".into(),
        finding: format!(
            "The measured phase was planned for {planned:.1} s and lasted {:.1} s: no operation \
             starts after the planned length, and those still in flight were waited for {over:.1} s \
             more. The throughput ({:.1} ok/s) is counted over all of it.{tail}",
            r.measured_s, r.throughput_ops_s
        ),
        advice: "Bound every operation with load.op_timeout, so that one that hangs (a network \
                 fault that keeps a request waiting, a lock never released) fails as \
                 op_deadline_exceeded instead of holding the run; a server-side statement_timeout \
                 bounds the statements, not a wait on the network."
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;
    use crate::report::model::TimelineEntry;

    fn second(t_ms: u64, ok: u64, in_use: u64) -> TimelineEntry {
        serde_json::from_value(serde_json::json!({
            "t_ms": t_ms, "ok": ok, "failed": 0, "dropped": 0, "errors": {}, "p50": 0.0,
            "p99": 0.0, "hdr": "", "in_use": in_use, "idle": 0, "waiting": 0,
            "connections_created": 0, "connections_closed": 0
        }))
        .unwrap()
    }

    #[test]
    fn a_load_held_by_hung_operations_says_so_and_one_on_time_does_not() {
        let s = fixtures::settings("[load]\nduration = \"4s\"");
        let mut r = fixtures::variant("v", 185, 0, serde_json::json!({}));
        r.measured_s = 4.2;
        assert!(
            finding(&r, &s).is_none(),
            "a drain of 0.2 s is not an overrun"
        );
        r.measured_s = 59.5;
        r.timeline = vec![second(1000, 90, 2), second(2000, 95, 4), second(3000, 0, 4)];
        let f = finding(&r, &s).expect("an overrun");
        assert!(
            f.finding.contains("planned for 4.0 s and lasted 59.5 s")
                && f.finding
                    .contains("In its last 1 s no operation finished while 4 connection(s)"),
            "{}",
            f.finding
        );
        assert!(f.advice.contains("load.op_timeout"), "{}", f.advice);
        let iterations = fixtures::settings("[load]\niterations = 10");
        assert!(finding(&r, &iterations).is_none(), "no planned length");
    }
}
