//! JUnit XML (`--junit PATH`), through the `quick-junit` crate, for CI systems that render test
//! results.
//!
//! Per scenario, a test suite named after it holds one test case per variant (it passes when
//! the variant ran; its output is the variant's numbers; an interrupted run is an error) and one
//! per check, named by its metric, whose failure message carries the numbers:
//! `operation.p99 = 73.2ms, limit ≤ 50.0ms`. So there is exactly one `<failure>` per failed
//! check. A comparison with a baseline adds a suite `<scenario> vs baseline` with one test case
//! per variant and compared metric, failing on a regression. A scenario that produced no report
//! (exit 2 or 3) is a suite with one `<error>` test case carrying the reason: never zero tests.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use super::{ExportError, Exported, Exporter, Failure};
use crate::report::compare::Comparison;
use crate::report::model::{Report, VariantReport};
use crate::report::verdict;

/// The JUnit exporter.
pub(crate) struct Junit;

impl Exporter for Junit {
    fn format(&self) -> &'static str {
        "JUnit"
    }

    fn render(&self, runs: &[Exported<'_>], failures: &[Failure]) -> Result<Vec<u8>, ExportError> {
        let mut junit = JUnit::new("stress");
        for f in failures {
            junit.add_test_suite(not_run(f));
        }
        for run in runs {
            if !run.comparison_only {
                junit.add_test_suite(suite(run.report));
            }
            if let Some(c) = run.comparison {
                junit.add_test_suite(baseline_suite(c));
            }
        }
        let mut bytes = Vec::new();
        junit
            .serialize(&mut bytes)
            .map_err(|e| ExportError::Render {
                format: "JUnit",
                message: e.to_string(),
            })?;
        Ok(bytes)
    }
}

/// A scenario that did not run: one test case in error, with the reason.
fn not_run(f: &Failure) -> TestSuite {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
    status.set_message(f.reason.as_str()).set_type("not run");
    let mut case = TestCase::new("run", status);
    case.set_classname(classname(&[&f.name]));
    let mut suite = TestSuite::new(f.name.as_str());
    suite.add_test_case(case);
    suite
}

fn failure(message: String, ty: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    status.set_message(message).set_type(ty);
    status
}

fn suite(report: &Report) -> TestSuite {
    let scenario = &report.scenario.name;
    let mut suite = TestSuite::new(scenario.as_str());
    suite
        .add_property(Property::new("run_id", report.run_id.as_str()))
        .add_property(Property::new("started_at", report.started_at.as_str()))
        .add_property(Property::new(
            "settings_sha256",
            report.scenario.settings_sha256.as_str(),
        ));
    let mut total = Duration::ZERO;
    for v in &report.variants {
        let time = Duration::try_from_secs_f64(v.measured_s).unwrap_or_default();
        total = total.saturating_add(time); // a report's measured_s is input: no overflow panic
        suite.add_test_case(variant_case(report, v, time));
        for c in &v.verdict.checks {
            let status = if c.pass {
                TestCaseStatus::success()
            } else {
                failure(verdict::describe(c), "expectation")
            };
            let mut case = TestCase::new(c.metric.as_str(), status);
            case.set_classname(classname(&[scenario, &v.name]));
            suite.add_test_case(case);
        }
    }
    suite.set_time(total);
    suite
}

/// A class name for CI systems that read dots as package separators (Jenkins): a swept variant
/// (`pool.max_size=10`) must not become a package tree.
fn classname(parts: &[&str]) -> String {
    parts.join("/").replace('.', "_")
}

/// The variant's own case: an error when the run was interrupted; skipped (not green) when
/// `abort_on_fail` stopped it, since the check that stopped it already carries the failure.
fn variant_case(report: &Report, v: &VariantReport, time: Duration) -> TestCase {
    let status = if report.interrupted {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message("interrupted: partial results");
        s
    } else if let Some(a) = &v.verdict.aborted {
        let mut s = TestCaseStatus::skipped();
        s.set_message(format!(
            "aborted after {} ms by abort_on_fail: {}",
            a.at_ms, a.detail
        ));
        s
    } else {
        TestCaseStatus::success()
    };
    let mut case = TestCase::new(v.name.as_str(), status);
    case.set_classname(classname(&[&report.scenario.name]))
        .set_time(time);
    let mut out = format!(
        "{} operations, {} ok, {} failed, {:.1} ops/s, operation p50 {:.3} ms, p99 {:.3} ms",
        v.operations.total,
        v.operations.ok,
        v.operations.failed,
        v.throughput_ops_s,
        v.latency_ms.operation.p50,
        v.latency_ms.operation.p99
    );
    for (class, e) in &v.errors {
        out.push_str(&format!("\nerrors.{class}: {}", e.count));
    }
    if let Some(a) = &v.verdict.aborted {
        out.push_str(&format!(
            "\naborted after {} ms by abort_on_fail: {}",
            a.at_ms, a.detail
        ));
    }
    case.set_system_out(out);
    case
}

fn baseline_suite(c: &Comparison) -> TestSuite {
    let mut suite = TestSuite::new(format!("{} vs baseline", c.scenario));
    suite
        .add_property(Property::new("baseline_run_id", c.base_run.as_str()))
        .add_property(Property::new("run_id", c.new_run.as_str()));
    for v in &c.variants {
        if v.missing {
            let note = v.note.clone().unwrap_or_default();
            let mut case = TestCase::new("baseline variant", failure(note, "regression"));
            case.set_classname(classname(&[&c.scenario, &v.name]));
            suite.add_test_case(case);
        }
        for r in &v.rows {
            let [metric, base, new, change, tolerance, _] = r.cells();
            let status = if r.regression {
                let note = r
                    .note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                failure(
                    format!("{metric}: {base} → {new} ({change}), tolerance {tolerance}{note}"),
                    "regression",
                )
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("baseline {metric}"), status);
            case.set_classname(classname(&[&c.scenario, &v.name]));
            suite.add_test_case(case);
        }
    }
    suite
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Metric, Stat};
    use crate::report::fixtures;
    use crate::scenario::expect::{Expectation, Expectations};

    fn xml(r: &Report) -> String {
        let run = Exported {
            report: r,
            comparison: None,
            comparison_only: false,
        };
        String::from_utf8(Junit.render(&[run], &[]).unwrap()).unwrap()
    }

    #[test]
    fn one_failure_per_failed_check_with_its_numbers() {
        let mut v = fixtures::variant("v", 10, 0, serde_json::json!({}));
        let checks = [
            (Metric::Throughput, 100.0),
            (Metric::Operation(Stat::P99), 9.0),
        ];
        let expect = Expectations {
            abort_on_fail: false,
            checks: checks
                .into_iter()
                .map(|(metric, limit)| Expectation { metric, limit })
                .collect(),
        };
        verdict::apply(&mut v, &expect);
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let xml = xml(&r);
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
        assert_eq!(xml.matches("<testcase").count(), 3, "{xml}");
        assert!(
            xml.contains("message=\"throughput = 10.0 ops/s, limit ≥ 100.0 ops/s\""),
            "{xml}"
        );
    }

    #[test]
    fn an_aborted_variant_is_not_green_and_dots_leave_class_names() {
        let mut v = fixtures::variant("pool.max_size=5", 10, 1, serde_json::json!({}));
        v.verdict.aborted = Some(crate::report::model::Aborted {
            metric: "errors.sql_error".into(),
            at_ms: 1200,
            detail: "errors.sql_error reached 1, above its limit of 0".into(),
        });
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let xml = xml(&r);
        assert!(
            xml.contains("<skipped message=\"aborted after 1200 ms"),
            "{xml}"
        );
        assert!(!xml.contains("classname=\"s/pool.max_size"), "{xml}");
    }

    /// Issue 9 item 9: a run that did not run was `tests="0" errors="0"`, green to CI.
    #[test]
    fn a_scenario_that_did_not_run_is_an_error_case() {
        let f = Failure::new("a.toml", "cannot connect: refused <&>");
        let xml = String::from_utf8(Junit.render(&[], &[f]).unwrap()).unwrap();
        assert!(xml.contains("errors=\"1\""), "{xml}");
        assert!(
            xml.contains("message=\"cannot connect: refused &lt;&amp;&gt;\""),
            "{xml}"
        );
    }
}
