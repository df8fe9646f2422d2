//! A metric's value in a report: [`Metric::resolve`] (an inherent method written here, beside the
//! report model it reads, so that the metric vocabulary in [`crate::metric`] does not depend on
//! the output model).

use crate::metric::{Measured, Metric, Stat, WorkloadMeasure};
use crate::report::model::{Anomalies, LatencySummary, VariantReport};

fn stat_of(stat: Stat, s: &LatencySummary) -> f64 {
    match stat {
        Stat::P50 => s.p50,
        Stat::P90 => s.p90,
        Stat::P99 => s.p99,
        Stat::P999 => s.p999,
        Stat::Max => s.max,
        Stat::Mean => s.mean,
    }
}

impl Metric {
    /// The metric's value in a variant's report.
    pub(crate) fn resolve(&self, v: &VariantReport) -> Measured {
        let latency = |s: &LatencySummary, stat: Stat, what: &str| {
            if s.count == 0 {
                Measured::NotMeasured(format!("no {what} was measured"))
            } else {
                Measured::Value(stat_of(stat, s))
            }
        };
        match self {
            Metric::ErrorRate if v.operations.total == 0 => {
                Measured::NotMeasured("no operation ran".into())
            }
            Metric::ErrorRate => {
                Measured::Value(v.operations.failed as f64 / v.operations.total as f64)
            }
            Metric::Errors(c) => Measured::Value(v.errors.get(c).map_or(0, |e| e.count) as f64),
            Metric::Operation(s) => latency(&v.latency_ms.operation, *s, "successful operation"),
            Metric::Acquire(s) => latency(&v.latency_ms.acquire, *s, "acquire"),
            Metric::Throughput => Measured::Value(v.throughput_ops_s),
            Metric::Anomaly(name) => anomaly(&v.anomalies, name),
            Metric::Workload(name, measure) => workload(v, name, *measure),
            Metric::ConnectionsOpened => Measured::Value(v.pool.connections_created as f64),
        }
    }
}

/// A workload's latency or error rate; not measured when the variant has no such workload
/// (the reason names those it has) or none of its operations ran.
fn workload(v: &VariantReport, name: &str, measure: WorkloadMeasure) -> Measured {
    let Some(ok) = v.latency_ms.by_workload.get(name) else {
        let names: Vec<_> = v
            .latency_ms
            .by_workload
            .keys()
            .map(|n| format!("`{n}`"))
            .collect();
        return Measured::NotMeasured(format!(
            "this variant has no workload `{name}` (its workloads: {})",
            names.join(", ")
        ));
    };
    match measure {
        WorkloadMeasure::Latency(_) if ok.count == 0 => Measured::NotMeasured(format!(
            "no successful operation of workload `{name}` was measured"
        )),
        WorkloadMeasure::Latency(stat) => Measured::Value(stat_of(stat, ok)),
        WorkloadMeasure::ErrorRate => {
            let Some(&failed) = v.operations.failed_by_workload.get(name) else {
                return Measured::NotMeasured(
                    "this report has no failures by workload (written by an older stress)".into(),
                );
            };
            match ok.count + failed {
                0 => Measured::NotMeasured(format!("no operation of workload `{name}` ran")),
                total => Measured::Value(failed as f64 / total as f64),
            }
        }
    }
}

fn anomaly(a: &Anomalies, name: &str) -> Measured {
    match a.count(name) {
        Some(n) => Measured::Value(n as f64),
        None => Measured::NotMeasured(unmeasured_reason(name)),
    }
}

/// Why an anomaly has no value in a report: what the scenario must ask for to measure it.
fn unmeasured_reason(name: &str) -> String {
    match name {
        "lost_writes" | "phantom_writes" => format!(
            "anomalies.{name} is measured only when a workload is checked: set verify = \
             \"acknowledged_writes\" on a writing workload, or add builtin = \"ledger\""
        ),
        "leaks" => "anomalies.leaks is measured only with access.leak_threshold set".to_string(),
        "cancel_requests_misdirected" => "anomalies.cancel_requests_misdirected is measured only \
             with a [[fault]] kind = \"cancel_queries\""
            .to_string(),
        "session_state_leaked" => "anomalies.session_state_leaked is measured only with a \
             builtin = \"session_state\" workload"
            .to_string(),
        "advisory_unlock_failed" => "anomalies.advisory_unlock_failed is measured only with a \
             builtin = \"advisory_lock\" or \"advisory_xact_lock\" workload"
            .to_string(),
        _ => format!("anomalies.{name} was not measured in this run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_names_every_field_of_anomalies() {
        let schema = schemars::schema_for!(Anomalies);
        let fields: Vec<String> = schema
            .as_value()
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        assert_eq!(crate::metric::anomaly_names(), fields.as_slice());
    }

    /// `Anomalies::count` and `Anomalies::merge` name their fields by hand: every name of the
    /// vocabulary (the type's fields) must count, and merge, as itself.
    #[test]
    fn every_anomaly_counts_and_merges_by_its_name() {
        let names = crate::metric::anomaly_names();
        let numbered: serde_json::Map<String, serde_json::Value> = (names.iter().enumerate())
            .map(|(i, n)| (n.clone(), (i as u64 + 1).into()))
            .collect();
        let a: Anomalies = serde_json::from_value(numbered.into()).unwrap();
        let mut twice = a.clone();
        twice.merge(&a);
        let mut with_unmeasured = a.clone();
        with_unmeasured.merge(&Anomalies::default());
        for (i, name) in names.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(a.count(name), Some(n), "{name}");
            assert_eq!(twice.count(name), Some(2 * n), "{name}");
            let always = ["transaction_interleaved", "returned_in_transaction"];
            let kept = always.contains(&name.as_str()).then_some(n);
            assert_eq!(with_unmeasured.count(name), kept, "{name}");
        }
        assert_eq!(a.count("no_such_anomaly"), None);
    }

    #[test]
    fn anomaly_names_come_from_the_report_type() {
        let names = crate::metric::anomaly_names();
        for n in [
            "transaction_interleaved",
            "returned_in_transaction",
            "lost_writes",
        ] {
            assert!(names.iter().any(|x| x == n), "{names:?}");
        }
    }

    #[test]
    fn unmeasured_anomalies_are_not_zero() {
        let a = Anomalies::default();
        assert_eq!(anomaly(&a, "transaction_interleaved"), Measured::Value(0.0));
        assert!(matches!(
            anomaly(&a, "lost_writes"),
            Measured::NotMeasured(_)
        ));
        let a = Anomalies {
            lost_writes: Some(3),
            ..Anomalies::default()
        };
        assert_eq!(anomaly(&a, "lost_writes"), Measured::Value(3.0));
    }

    /// A workload's p99 is its own, its error rate its failed over its total; a workload the
    /// variant lacks, or a report without failures by workload, is not measured (never 0).
    #[test]
    fn workload_metrics_read_that_workloads_figures() {
        let mut v = crate::report::fixtures::variant("v", 90, 10, serde_json::json!({}));
        let mut chat = v.latency_ms.operation.clone();
        (chat.count, chat.p99) = (60, 2.0);
        let mut dashboard = chat.clone();
        (dashboard.count, dashboard.p99) = (30, 900.0);
        v.latency_ms.by_workload = [("chat".into(), chat), ("dashboard".into(), dashboard)].into();
        let m = |name: &str| name.parse::<Metric>().unwrap().resolve(&v);
        assert_eq!(m("workload.chat.p99"), Measured::Value(2.0));
        assert_eq!(m("workload.dashboard.p99"), Measured::Value(900.0));
        let Measured::NotMeasured(why) = m("workload.chat.error_rate") else {
            panic!("an older report measured failures by workload");
        };
        assert!(why.contains("older stress"), "{why}");
        v.operations.failed_by_workload = [("chat".into(), 0), ("dashboard".into(), 10)].into();
        let m = |name: &str| name.parse::<Metric>().unwrap().resolve(&v);
        assert_eq!(m("workload.chat.error_rate"), Measured::Value(0.0));
        assert_eq!(m("workload.dashboard.error_rate"), Measured::Value(0.25));
        let Measured::NotMeasured(why) = m("workload.feed.p99") else {
            panic!("a missing workload measured");
        };
        assert!(
            why.contains("no workload `feed` (its workloads: `chat`, `dashboard`)"),
            "{why}"
        );
    }
}
