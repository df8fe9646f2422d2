//! Tolerances, the regression rule and the comparison of fixture reports.
use super::*;
use crate::record::errors::ErrorClass;
use crate::report::fixtures::{self, variant};
use crate::report::model::ErrorStats;

fn judged(metric: &str, b: f64, n: f64, pct: f64) -> bool {
    let m: Metric = metric.parse().unwrap();
    let allowance = Allowance { pct, floor: 0.0 };
    judge(&m, &Measured::Value(b), &Measured::Value(n), allowance)
        .unwrap()
        .0
}

/// A workload tolerance names a workload of the reports, or is refused; a workload's tail
/// latency gets the tail's default allowance.
#[test]
fn workload_tolerances_name_a_workload_the_reports_have() {
    let ts = |args: &[&str]| Tolerances(args.iter().map(|a| a.parse().unwrap()).collect());
    let known = ["chat", "v2.export"];
    let ok = ts(&["throughput=10%", "workload.v2.export.error_rate=0%"]);
    assert_eq!(ok.unknown_workload(known, "reports"), None);
    let two = ts(&["workload.chta.p99=10%", "workload.x.max=5%"]);
    let m = two.unknown_workload(known, "reports compared").unwrap();
    assert!(
        m.contains(
            "--tolerance workload.chta.p99 (no workload `chta`), workload.x.max (no workload \
             `x`): no such workload in the reports compared"
        ),
        "{m}"
    );
    assert!(m.contains("`chat`, `v2.export`"), "{m}");
    // Review of 2026-12-03: a name with `=` (split at the last one), and the TOML form.
    // A tolerance on a metric neither report measured has a row that says so.
    let v = fixtures::variant("v", 10, 0, serde_json::json!({}));
    let rows = rows(&v, &v, &ts(&["anomalies.lost_writes=10%"]));
    let row = rows
        .iter()
        .find(|r| r.metric.to_string() == "anomalies.lost_writes");
    let note = row
        .and_then(|r| r.note.clone())
        .expect("a row for the tolerance");
    assert!(
        note.starts_with("not measured in either report: "),
        "{note}"
    );
    let t: Tolerance = "workload.a=b.max=10%".parse().unwrap();
    assert_eq!(t.metric.workload(), Some("a=b"));
    let t: Tolerance = "workload.\"v2.export\".p99=10%".parse().unwrap();
    assert_eq!(t.metric.to_string(), "workload.v2.export.p99");
    let tail = Tolerances::default_for(&"workload.chat.p99".parse().unwrap());
    assert_eq!((tail.pct, tail.floor), (200.0, LATENCY_NOISE_MS));
}

#[test]
fn tolerance_math_by_direction() {
    assert!(!judged("operation.p99", 10.0, 19.9, 100.0));
    assert!(judged("operation.p99", 10.0, 20.1, 100.0));
    assert!(!judged("throughput", 1000.0, 501.0, 50.0));
    assert!(judged("throughput", 1000.0, 499.0, 50.0));
    assert!(
        !judged("throughput", 1000.0, 5000.0, 0.0),
        "faster is never worse"
    );
    assert!(judged("error_rate", 0.0, 0.0001, 0.0), "strict from zero");
    assert!(
        judged("errors.pool_timeout", 0.0, 1.0, 500.0),
        "a new class always counts"
    );
    assert!(!judged("errors.pool_timeout", 4.0, 4.0, 0.0));
}

#[test]
fn by_default_latency_noise_never_counts_but_given_tolerances_are_literal() {
    let m: Metric = "acquire.p99".parse().unwrap();
    let by_default = |b: f64, n: f64| {
        let a = Tolerances::default().of(&m);
        judge(&m, &Measured::Value(b), &Measured::Value(n), a)
            .unwrap()
            .0
    };
    assert!(!by_default(0.02, 4.9), "5 ms of noise is tolerated");
    assert!(by_default(0.02, 5.1));
    assert!(!by_default(20.0, 59.0), "a tail may triple");
    assert!(by_default(20.0, 61.0));
    let p50: Metric = "operation.p50".parse().unwrap();
    assert_eq!(Tolerances::default().of(&p50).pct, 100.0);
    let given = Tolerances(vec!["acquire.p99=100%".parse().unwrap()]).of(&m);
    assert_eq!(
        given,
        Allowance {
            pct: 100.0,
            floor: 0.0
        }
    );
    assert!(
        judge(&m, &Measured::Value(0.02), &Measured::Value(0.05), given)
            .unwrap()
            .0
    );
}

#[test]
fn tolerance_arguments() {
    let t: Tolerance = "operation.p99=10%".parse().unwrap();
    assert_eq!(
        (t.metric.to_string(), t.pct),
        ("operation.p99".into(), 10.0)
    );
    assert_eq!("throughput=-50%".parse::<Tolerance>().unwrap().pct, 50.0);
    assert!(matches!(
        "operation.p95=10%".parse::<Tolerance>(),
        Err(ToleranceError::Metric { .. })
    ));
    assert!(matches!(
        "p99".parse::<Tolerance>(),
        Err(ToleranceError::Shape(_))
    ));
    for bad in [
        "throughput=lots",
        "throughput=10%%",
        "throughput=+-10",
        "throughput=%",
    ] {
        assert!(
            matches!(bad.parse::<Tolerance>(), Err(ToleranceError::Pct(_))),
            "{bad}"
        );
    }
    let ts = Tolerances(vec![t]);
    assert_eq!(ts.of(&"operation.p99".parse().unwrap()).pct, 10.0);
    assert_eq!(ts.of(&Metric::Throughput).pct, 50.0);
    assert_eq!(ts.of(&Metric::ErrorRate).pct, 0.0);
}

#[test]
fn a_new_error_class_is_a_regression_and_variants_match_by_name() {
    let settings = serde_json::json!({});
    let base = variant("v", 100, 0, settings.clone());
    let mut new = variant("v", 99, 1, settings.clone());
    new.errors.insert(
        ErrorClass::PoolTimeout,
        ErrorStats {
            count: 1,
            sqlstates: Default::default(),
            reasons: Default::default(),
            first_at_ms: 0,
            last_at_ms: 0,
            sample: String::new(),
        },
    );
    let rows = rows(&base, &new, &Tolerances::default());
    let class = rows
        .iter()
        .find(|r| r.metric == Metric::Errors(ErrorClass::PoolTimeout))
        .unwrap();
    assert!(class.regression);
    assert_eq!(class.note.as_deref(), Some("new error class"));
    assert!(
        rows.iter()
            .find(|r| r.metric == Metric::ErrorRate)
            .unwrap()
            .regression
    );
    assert!(
        !rows
            .iter()
            .find(|r| r.metric == Metric::Throughput)
            .unwrap()
            .regression
    );
    let same = super::rows(&base, &base, &Tolerances::default());
    assert!(same.iter().all(|r| !r.regression), "{same:?}");
}

#[test]
fn a_variant_missing_from_the_run_is_a_regression_unless_deselected() {
    let base = fixtures::hashed(&[("a", "ha"), ("b", "hb")], "all");
    let mut new = fixtures::hashed(&[("a", "ha")], "all");
    let c = compare(&base, &new, &Tolerances::default(), None);
    assert_eq!(c.regressions(), 1, "{c:?}");
    new.interrupted = true;
    let c = compare(&base, &new, &Tolerances::default(), None);
    assert_eq!(c.regressions(), 1);
    assert!(
        c.variants[1]
            .note
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
    new.interrupted = false;
    new.scenario.settings_sha256 = "only-a".into();
    let c = compare(&base, &new, &Tolerances::default(), None);
    assert_eq!(c.regressions(), 0, "{c:?}");
    assert_eq!(
        c.variants[1].note.as_deref(),
        Some("not selected in this run")
    );
}

/// Regression: a report says which variants `--variant` left out. Before, any other settings
/// hash was read as another selection, so `--force` (other settings) let a renamed or lost
/// variant pass as "not selected".
#[test]
fn only_a_variant_the_run_left_out_is_not_selected() {
    let base = fixtures::hashed(&[("a", "ha"), ("b", "hb")], "all");
    let mut new = fixtures::hashed(&[("a", "other")], "other settings");
    new.scenario.variants_left_out = Some(Vec::new());
    let forced = Some("other settings".to_string());
    let c = compare(&base, &new, &Tolerances::default(), forced.clone());
    assert_eq!(c.regressions(), 1, "{c:?}");
    assert_eq!(c.variants[1].note.as_deref(), Some("not in this run"));
    new.scenario.variants_left_out = Some(vec!["b".into()]);
    new.interrupted = true;
    let c = compare(&base, &new, &Tolerances::default(), forced);
    assert_eq!(
        c.variants[1].note.as_deref(),
        Some("not selected in this run")
    );
    assert!(c.variants.iter().all(|v| !v.missing), "{c:?}");
}
