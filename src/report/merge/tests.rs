//! Merging fixture reports: sums, peaks, refusals.

use super::*;
use crate::report::fixtures;

fn input(run: &str, at: &str, ok: u64) -> Input {
    let mut v = fixtures::variant("v", ok, 0, serde_json::json!({}));
    v.measured_s = 2.0;
    Input {
        file: PathBuf::from(format!("{run}.json")),
        report: fixtures::report(run, at, vec![v]),
    }
}

#[test]
fn overlapping_runs_sum_and_keep_peaks_per_machine() {
    let a = input("a", "2026-01-01T00:00:00.000Z", 100);
    let mut b = input("b", "2026-01-01T00:00:00.500Z", 50);
    b.report.variants[0].pool.peak_in_use = 7;
    let m = merge(&[a, b], false).unwrap();
    let v = &m.variants[0];
    assert_eq!(v.operations.ok, 150);
    assert_eq!(v.measured_s, 2.5, "from the first start to the last end");
    assert_eq!(v.throughput_ops_s, 60.0);
    assert_eq!(v.pool.peak_in_use, 7, "the highest machine's, not the sum");
    assert_eq!(v.machines.len(), 2);
    assert_eq!(m.run_id, "a+b");
    assert_eq!(m.started_at, "2026-01-01T00:00:00.000Z");
    assert_eq!(m.environment.cores, 4, "two hosts of 2 cores");
    let a = input("a", "2026-01-01T00:00:00.000Z", 100);
    let mut same = input("c", "2026-01-01T00:00:00.000Z", 1);
    same.report.environment.host = "a".into();
    let m = merge(&[a, same], false).unwrap();
    assert_eq!(m.environment.cores, 2, "one host's cores, once");
}

#[test]
fn runs_that_did_not_overlap_or_are_corrupt_are_refused() {
    let a = input("a", "2026-01-01T00:00:00.000Z", 1);
    let b = input("b", "2026-01-01T00:00:05.000Z", 1);
    let e = merge(&[a, b], false).unwrap_err().to_string();
    assert!(e.contains("did not run at the same time"), "{e}");
    let a = input("a", "2026-01-01T00:00:00.000Z", 1);
    let mut b = input("b", "2026-01-01T00:00:00.000Z", 1);
    b.report.variants[0].latency_ms.operation.hdr = "not a histogram".into();
    let e = merge(&[a, b], false).unwrap_err().to_string();
    assert!(e.contains("latency_ms.operation"), "{e}");
    let a = input("a", "2026-01-01T00:00:00.000Z", 1);
    let mut b = input("b", "yesterday", 1);
    b.report.variants[0].started_at = None;
    let e = merge(&[a, b], false).unwrap_err().to_string();
    assert!(e.starts_with("b.json: started_at"), "{e}");
    let a = input("a", "2026-01-01T00:00:00.000Z", 1);
    let mut b = input("b", "2026-01-01T00:00:00.000Z", 1);
    b.report.scenario.settings_sha256 = "other".into();
    assert!(matches!(
        merge(&[a, b], false),
        Err(MergeError::Mismatch(_))
    ));
}

#[test]
fn different_expectations_on_the_machines_are_said() {
    use crate::metric::Direction;
    let check = |limit: f64| Check {
        metric: "throughput".into(),
        limit,
        bound: Direction::Min,
        actual: None,
        pass: true,
        note: None,
    };
    let mut a = input("a", "2026-01-01T00:00:00.000Z", 100);
    let mut b = input("b", "2026-01-01T00:00:00.000Z", 100);
    a.report.variants[0].verdict.checks.push(check(10.0));
    b.report.variants[0].verdict.checks.push(check(20.0));
    let m = merge(&[a, b], false).unwrap();
    let w = &m.variants[0].warnings;
    assert!(
        w.iter()
            .any(|w| w.contains("other expectations") && w.contains("at the stricter limit")),
        "{w:?}"
    );
    let checks = &m.variants[0].verdict.checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].limit, 20.0, "the stricter minimum");
}

/// Review of 2026-12-03: a report of an older stress (no failures by workload) merged with a
/// new one gave the new one's failures over both machines' successes, a per-workload error
/// rate that passed its gate while each machine failed it. Now the merge has none.
#[test]
fn failures_by_workload_merge_only_when_every_machine_has_them() {
    let with = |run: &str, failed: Option<u64>| {
        let mut i = input(run, "2026-01-01T00:00:00.000Z", 100);
        let v = &mut i.report.variants[0];
        let by = v.latency_ms.operation.clone();
        v.latency_ms.by_workload.insert("w".into(), by);
        v.operations.failed_by_workload =
            failed.map(|f| ("w".to_string(), f)).into_iter().collect();
        i
    };
    let m = merge(&[with("a", Some(0)), with("b", Some(0))], false).unwrap();
    assert_eq!(m.variants[0].operations.failed_by_workload["w"], 0);
    let m = merge(&[with("a", Some(0)), with("b", None)], false).unwrap();
    assert!(m.variants[0].operations.failed_by_workload.is_empty());
}

/// Review of 2026-12-03: a `--variant` run merged with a full run kept the first report's
/// `variants_left_out`, naming a variant the other machine ran; and the abort kept the
/// machine's own clock.
#[test]
fn left_out_variants_and_aborts_are_those_of_the_merged_run() {
    let mut a = input("a", "2026-01-01T00:00:00.000Z", 100);
    a.report.scenario.variants_left_out = Some(vec!["big".into()]);
    let mut b = input("b", "2026-01-01T00:00:00.600Z", 100);
    let mut big = b.report.variants[0].clone();
    big.name = "big".into();
    b.report.variants.push(big);
    b.report.scenario.variants_left_out = Some(vec![]);
    b.report.variants[0].verdict.aborted = Some(Aborted {
        metric: "error_rate".into(),
        at_ms: 2029,
        detail: "4 operations failed".into(),
    });
    let m = merge(&[a, b], true).unwrap();
    assert_eq!(m.scenario.variants_left_out, Some(vec![]));
    let aborted = m.variants[0].verdict.aborted.as_ref().unwrap();
    assert_eq!(aborted.at_ms, 2629);
    assert_eq!(aborted.detail, "on b.json: 4 operations failed");
}

/// Review of 2026-12-03: a merged report merged again kept its runs as one source `a+b` and
/// one machine row, so a third merge with `b` counted `b` twice, unseen.
#[test]
fn a_merge_of_merges_keeps_every_run_and_machine() {
    let at = "2026-01-01T00:00:00.000Z";
    let ab = merge(&[input("a", at, 10), input("b", at, 20)], false).unwrap();
    let ab = Input {
        file: PathBuf::from("ab.json"),
        report: ab,
    };
    let abc = merge(&[ab, input("c", at, 30)], false).unwrap();
    let runs: Vec<&str> = abc.merged_from.iter().map(|m| m.run_id.as_str()).collect();
    assert_eq!(runs, ["a", "b", "c"]);
    let rows: Vec<&str> = (abc.variants[0].machines.iter())
        .map(|m| m.run_id.as_str())
        .collect();
    assert_eq!(rows, ["a", "b", "c"]);
    assert_eq!(abc.variants[0].operations.ok, 60);
    let abc = Input {
        file: PathBuf::from("abc.json"),
        report: abc,
    };
    let e = merge(&[abc, input("b", at, 20)], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("run `b` is in both abc.json and b.json"), "{e}");
}

/// Review of 2026-12-03: the merged diagnosis read two machines' throughput against one
/// machine's tasks and pools, and advised a pool twice the size each machine's report did.
#[test]
fn the_merged_diagnosis_sees_every_machine_s_tasks_and_pools() {
    let one = crate::report::fixtures::settings(
        "[load]\ntasks = 8\nrate = 50.0\n[access]\ninstances = 2",
    );
    let all = super::judge::fleet(&one, 3);
    assert_eq!(
        (all.load.tasks, all.access.instances, all.load.rate),
        (24, 6, Some(150.0))
    );
    assert_eq!(
        all.pool.max_size, one.pool.max_size,
        "a pool per instance, unchanged"
    );
}

/// Review of 2026-12-03: a merged fault's words kept the machine's clock.
#[test]
fn times_in_words_move_to_the_merged_clock() {
    use super::outages::shift_times;
    assert_eq!(
        shift_times(
            "4 of its 4 task(s) succeeded again, the last at 2122 ms",
            600
        ),
        "4 of its 4 task(s) succeeded again, the last at 2722 ms"
    );
    assert_eq!(
        shift_times(
            "the close_pool fault (due at 1500 ms) ended; first success at 2119 ms",
            700
        ),
        "the close_pool fault (due at 2200 ms) ended; first success at 2819 ms"
    );
    assert_eq!(
        shift_times("at least 3 at 5 s, at ms", 9),
        "at least 3 at 5 s, at ms"
    );
}

/// Review of 2026-12-03: the first report's checks were the merged verdict's, so a first
/// machine without checks made the merge pass; now every machine's, at the stricter limit.
#[test]
fn the_merged_verdict_holds_every_machine_s_checks_at_the_stricter_limit() {
    use crate::metric::Direction;
    let check = |metric: &str, limit: f64, bound| Check {
        metric: metric.into(),
        limit,
        bound,
        actual: None,
        pass: true,
        note: None,
    };
    let at = "2026-01-01T00:00:00.000Z";
    let a = input("a", at, 100);
    let mut b = input("b", at, 100);
    b.report.variants[0].verdict.checks = vec![
        check("throughput", 1000.0, Direction::Min),
        check("error_rate", 0.0, Direction::Max),
    ];
    let m = merge(&[a, b], false).unwrap();
    let checks = &m.variants[0].verdict.checks;
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(!m.verdict.pass, "100 ok/s does not meet 1000");
}
