//! The verdict: each variant's `[expect]` judged on its own report (every check with its limit
//! and the value measured), the scenario's pass or fail, and, when several variants were held
//! to expectations (a sweep of pool sizes, say), the cheapest configuration that met them.
//!
//! A check whose metric was not measured (no successful operation, an anomaly the scenario did
//! not ask to measure) fails and says why: a gate must not pass on a number it never saw.

use super::model::{Aborted, Cheapest, Check, VariantReport, VariantVerdict, Verdict};
use super::settings::VariantSettings;
use crate::metric::{Direction, Measured, Metric};
use crate::scenario::expect::Expectations;
use crate::scenario::model::AccessMode;

/// Judges one metric against one limit.
pub(crate) fn check(metric: &Metric, limit: f64, v: &VariantReport) -> Check {
    let bound = metric.direction();
    let (actual, note) = match metric.resolve(v) {
        Measured::Value(x) => (Some(x), None),
        Measured::NotMeasured(why) => (None, Some(why)),
    };
    let pass = actual.is_some_and(|x| match bound {
        Direction::Max => x <= limit,
        Direction::Min => x >= limit,
    });
    Check {
        metric: metric.to_string(),
        bound,
        limit,
        actual,
        pass,
        note,
    }
}

/// A variant's verdict: each of its `[expect]` checks judged on its measured sections, and the
/// check that stopped it early (`abort_on_fail`), which fails it whatever the others say.
pub(crate) fn judge(
    v: &VariantReport,
    expect: &Expectations,
    aborted: Option<Aborted>,
) -> VariantVerdict {
    let checks = expect
        .checks
        .iter()
        .map(|e| check(&e.metric, e.limit, v))
        .collect();
    settle(checks, aborted)
}

/// A merged variant's verdict: the checks a report recorded, judged again on the merged numbers.
pub(crate) fn rejudge(
    v: &VariantReport,
    recorded: &[Check],
    aborted: Option<Aborted>,
) -> VariantVerdict {
    let checks = recorded
        .iter()
        .map(|c| match c.metric.parse::<Metric>() {
            Ok(m) => check(&m, c.limit, v),
            // A metric this version does not know: keep what the report said, never pass.
            Err(e) => Check {
                pass: false,
                note: Some(e.to_string()),
                ..c.clone()
            },
        })
        .collect();
    settle(checks, aborted)
}

fn settle(checks: Vec<Check>, aborted: Option<Aborted>) -> VariantVerdict {
    VariantVerdict {
        pass: aborted.is_none() && checks.iter().all(|c| c.pass),
        checks,
        aborted,
    }
}

/// Sets a fixture's verdict from expectations (keeping an abort already recorded): for tests,
/// which judge reports made without a run.
#[cfg(test)]
pub(crate) fn apply(v: &mut VariantReport, expect: &Expectations) {
    let aborted = v.verdict.aborted.take();
    v.verdict = judge(v, expect, aborted);
}

/// The scenario's verdict: every variant passed; and the cheapest passing configuration when
/// more than one variant was held to expectations.
pub(crate) fn overall(variants: &[VariantReport]) -> Verdict {
    Verdict {
        pass: variants.iter().all(|v| v.verdict.pass),
        cheapest: cheapest(variants),
    }
}

/// A check as one line: `operation.p99 = 73.2ms, limit ≤ 50.0ms`.
pub(crate) fn describe(c: &Check) -> String {
    let metric: Option<Metric> = c.metric.parse().ok();
    let show = |x: f64| {
        metric
            .as_ref()
            .map_or_else(|| x.to_string(), |m| m.format(x))
    };
    let op = match c.bound {
        Direction::Max => "≤",
        Direction::Min => "≥",
    };
    match (c.actual, &c.note) {
        (Some(a), _) => format!("{} = {}, limit {op} {}", c.metric, show(a), show(c.limit)),
        (None, Some(why)) => format!(
            "{}: not measured ({why}), limit {op} {}",
            c.metric,
            show(c.limit)
        ),
        (None, None) => format!("{}: not measured, limit {op} {}", c.metric, show(c.limit)),
    }
}

/// Sets a fixture report's verdict from its variants' (for tests).
#[cfg(test)]
pub(crate) fn settle_report(report: &mut super::model::Report) {
    report.verdict = overall(&report.variants);
}

/// Connections a variant may open, read from its settings: instances × max_size in pool mode,
/// instances for a shared connection, tasks when each task or operation has its own. `None`
/// when the settings are not those of this version (a report edited by hand, say).
pub(crate) fn connections(settings: &VariantSettings) -> Option<u64> {
    let s = settings.typed()?;
    let instances = u64::from(s.access.instances);
    Some(match s.access.mode {
        AccessMode::Pool => instances * u64::from(s.pool.size_limit(s.load.tasks)),
        AccessMode::Shared => instances,
        AccessMode::PerOperation | AccessMode::PerTask => u64::from(s.load.tasks),
    })
}

fn cheapest(variants: &[VariantReport]) -> Option<Cheapest> {
    let judged: Vec<_> = variants
        .iter()
        .filter(|v| !v.verdict.checks.is_empty())
        .collect();
    if variants.len() < 2 || judged.is_empty() {
        return None;
    }
    let best = judged
        .iter()
        .filter(|v| v.verdict.pass)
        .filter_map(|v| Some((connections(&v.settings)?, *v)))
        .min_by(|(ca, a), (cb, b)| {
            ca.cmp(cb)
                .then(b.throughput_ops_s.total_cmp(&a.throughput_ops_s))
        });
    let passed: Vec<&str> = judged
        .iter()
        .filter(|v| v.verdict.pass)
        .map(|v| v.name.as_str())
        .collect();
    let unknown_note = uncounted(&judged);
    let passed = passed.len();
    Some(match best {
        Some((n, v)) => Cheapest {
            variant: Some(v.name.clone()),
            connections: Some(n),
            detail: format!(
                "{passed} of {} variants met every expectation; `{}` did with the fewest \
                 connections ({n}; ties go to the higher throughput){unknown_note}",
                judged.len(),
                v.name
            ),
        },
        None if passed > 0 => Cheapest {
            variant: None,
            connections: None,
            detail: format!(
                "{passed} of {} variants met every expectation, but the connections of none \
                 could be counted from its settings{unknown_note}",
                judged.len()
            ),
        },
        None => Cheapest {
            variant: None,
            connections: None,
            detail: format!(
                "none of the {} variants held to expectations met them all",
                judged.len()
            ),
        },
    })
}

/// The passing variants whose connections cannot be counted from their settings, as a note.
fn uncounted(judged: &[&VariantReport]) -> String {
    let names: Vec<String> = judged
        .iter()
        .filter(|v| v.verdict.pass && connections(&v.settings).is_none())
        .map(|v| format!("`{}`", v.name))
        .collect();
    if names.is_empty() {
        return String::new();
    }
    format!(
        "; {} passed too, with settings this version cannot count connections from",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Stat;
    use crate::report::fixtures::variant;
    use crate::scenario::expect::Expectation;

    fn pool(max_size: u64) -> serde_json::Value {
        serde_json::json!({ "name": "s", "access": { "mode": "pool", "instances": 2 }, "pool": { "max_size": max_size },
                            "load": { "tasks": 50 } })
    }

    fn expect(checks: Vec<(Metric, f64)>) -> Expectations {
        Expectations {
            abort_on_fail: false,
            checks: checks
                .into_iter()
                .map(|(metric, limit)| Expectation { metric, limit })
                .collect(),
        }
    }

    #[test]
    fn maxima_and_minima_and_unmeasured_values() {
        let mut v = variant("v", 100, 0, pool(5));
        apply(
            &mut v,
            &expect(vec![
                (Metric::Operation(Stat::P99), 5.0),
                (Metric::Throughput, 101.0),
                (Metric::ErrorRate, 0.0),
                (Metric::Anomaly("lost_writes".into()), 0.0),
            ]),
        );
        let passes: Vec<bool> = v.verdict.checks.iter().map(|c| c.pass).collect();
        assert_eq!(passes, [true, false, true, false]);
        assert_eq!(v.verdict.checks[3].actual, None);
        assert!(
            v.verdict.checks[3]
                .note
                .as_ref()
                .unwrap()
                .contains("measured only when a workload is checked")
        );
        assert!(!v.verdict.pass);
        let mut v = variant("v", 0, 3, pool(5));
        apply(&mut v, &expect(vec![(Metric::Operation(Stat::P99), 5.0)]));
        assert!(
            !v.verdict.pass,
            "no successful operation: p99 was not measured"
        );
    }

    #[test]
    fn the_cheapest_passing_configuration_has_the_fewest_connections() {
        let e = expect(vec![(Metric::Throughput, 50.0)]);
        let mut vs = vec![
            variant("small", 10, 0, pool(2)),
            variant("medium", 60, 0, pool(5)),
            variant("large", 90, 0, pool(10)),
        ];
        for v in &mut vs {
            apply(v, &e);
        }
        let verdict = overall(&vs);
        assert!(!verdict.pass);
        let c = verdict.cheapest.unwrap();
        assert_eq!(c.variant.as_deref(), Some("medium"));
        assert_eq!(c.connections, Some(10), "2 instances × max_size 5");
        let e = expect(vec![(Metric::Throughput, 500.0)]);
        for v in &mut vs {
            apply(v, &e);
        }
        let c = overall(&vs).cheapest.unwrap();
        assert_eq!(c.variant, None);
        assert!(c.detail.contains("none of the 3"), "{}", c.detail);
    }

    fn connections_of(json: serde_json::Value) -> Option<u64> {
        connections(&VariantSettings::from_json(json))
    }

    #[test]
    fn connections_by_access_mode() {
        assert_eq!(connections_of(pool(5)), Some(10));
        let shared = serde_json::json!({ "name": "s", "access": { "mode": "shared", "instances": 3 }, "load": { "tasks": 9 } });
        assert_eq!(connections_of(shared), Some(3));
        let per_task = serde_json::json!({ "name": "s", "access": { "mode": "per_task", "instances": 1 }, "load": { "tasks": 9 } });
        assert_eq!(connections_of(per_task), Some(9));
        // Defaults count too: one pool of bb8's default 10.
        assert_eq!(connections_of(serde_json::json!({ "name": "s" })), Some(10));
        assert_eq!(connections_of(serde_json::json!({ "what": 1 })), None);
    }

    #[test]
    fn a_passing_variant_of_unknown_cost_is_not_reported_as_failing() {
        let e = expect(vec![(Metric::Throughput, 50.0)]);
        let mut vs = vec![
            variant("odd", 90, 0, serde_json::json!({ "what": 1 })),
            variant("small", 10, 0, pool(2)),
        ];
        for v in &mut vs {
            apply(v, &e);
        }
        let c = overall(&vs).cheapest.unwrap();
        assert_eq!(c.variant, None);
        assert!(c.detail.starts_with("1 of 2 variants met"), "{}", c.detail);
        assert!(c.detail.contains("`odd` passed too"), "{}", c.detail);
    }
}
