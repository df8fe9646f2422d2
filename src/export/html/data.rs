//! The data the page's charts draw, computed here from the report so that the script only
//! plots: per variant the timeline as columns (one value per second of the measured phase),
//! the fault windows and outage windows in seconds, and per scenario the variants side by side
//! ([`Compare`]), the latency spectra ([`super::spectrum`]) and a one-key sweep ([`Sweep`]).
//! Serialized to JSON and embedded in the page.

use std::collections::BTreeMap;

use serde::Serialize;

use super::spectrum::{self, Spectra};
use crate::report::model::{FaultEvent, Report, TimelineEntry, VariantReport};

/// Everything the page plots.
#[derive(Serialize)]
pub(crate) struct PageData {
    pub(crate) scenarios: Vec<ScenarioData>,
}

/// One scenario's charts.
#[derive(Serialize)]
pub(crate) struct ScenarioData {
    pub(crate) name: String,
    pub(crate) variants: Vec<VariantData>,
    pub(crate) compare: Compare,
    pub(crate) spectra: Spectra,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sweep: Option<Sweep>,
}

/// One variant's time series, and the windows to shade on them.
#[derive(Serialize)]
pub(crate) struct VariantData {
    pub(crate) name: String,
    pub(crate) faults: Vec<FaultMark>,
    /// Outage windows: [start, end] in seconds.
    pub(crate) outages: Vec<[f64; 2]>,
    pub(crate) series: Series,
}

/// The timeline as columns: `t` is the end of each second, in seconds into the measured phase.
#[derive(Serialize, Default)]
pub(crate) struct Series {
    pub(crate) t: Vec<f64>,
    pub(crate) ok: Vec<u64>,
    /// Failed operations per second, by error class.
    pub(crate) failed: BTreeMap<String, Vec<u64>>,
    /// Latency of the second's successful operations, in milliseconds (null without any).
    pub(crate) p50: Vec<Option<f64>>,
    pub(crate) p99: Vec<Option<f64>>,
    pub(crate) max: Vec<Option<f64>>,
    pub(crate) in_use: Vec<u64>,
    pub(crate) idle: Vec<u64>,
    pub(crate) waiting: Vec<u64>,
    pub(crate) opened: Vec<u64>,
    pub(crate) closed: Vec<u64>,
    /// The server's backends of this run by state (null where the sampler could not ask).
    pub(crate) active: Vec<Option<u64>>,
    pub(crate) backends_idle: Vec<Option<u64>>,
    pub(crate) idle_in_transaction: Vec<Option<u64>>,
}

/// A fault to mark on the time series: when it fired and, when it had a window, until when.
#[derive(Serialize)]
pub(crate) struct FaultMark {
    pub(crate) label: String,
    pub(crate) from_s: f64,
    /// The end of its window (the last affected task's recovery), when it lasted.
    pub(crate) to_s: Option<f64>,
    pub(crate) detail: String,
}

/// The variants side by side, one value per variant.
#[derive(Serialize, Default)]
pub(crate) struct Compare {
    pub(crate) names: Vec<String>,
    pub(crate) ok_s: Vec<f64>,
    /// `null` where nothing was measured (no successful operation, no acquire, no operation):
    /// a point at 0 would show the variant as the fastest, or the cleanest.
    pub(crate) p50: Vec<Option<f64>>,
    pub(crate) p99: Vec<Option<f64>>,
    pub(crate) acquire_p99: Vec<Option<f64>>,
    /// Failed operations, in percent of all.
    pub(crate) error_pct: Vec<Option<f64>>,
    pub(crate) peak_in_use: Vec<u64>,
    pub(crate) opened: Vec<u64>,
}

/// A sweep of one key: its values, and per checked metric (or throughput and p99 without
/// checks) the value of each point.
#[derive(Serialize)]
pub(crate) struct Sweep {
    pub(crate) key: String,
    pub(crate) values: Vec<f64>,
    pub(crate) metrics: Vec<SweepMetric>,
}

#[derive(Serialize)]
pub(crate) struct SweepMetric {
    pub(crate) metric: String,
    pub(crate) limit: Option<f64>,
    pub(crate) values: Vec<Option<f64>>,
}

/// The charts' data of these reports.
pub(crate) fn page(reports: &[&Report]) -> PageData {
    PageData {
        scenarios: reports.iter().map(|r| scenario(r)).collect(),
    }
}

fn scenario(r: &Report) -> ScenarioData {
    ScenarioData {
        name: r.scenario.name.clone(),
        variants: r.variants.iter().map(variant).collect(),
        compare: compare(&r.variants),
        spectra: spectrum::spectra(&r.variants),
        sweep: sweep(&r.variants),
    }
}

fn variant(v: &VariantReport) -> VariantData {
    let faults = v.faults.iter().map(fault).collect();
    let outages = v
        .outages
        .iter()
        .flat_map(|o| &o.windows)
        .map(|w| {
            let from = w.start_ms as f64 / 1000.0;
            [from, from + w.length_ms / 1000.0]
        })
        .collect();
    VariantData {
        name: v.name.clone(),
        faults,
        outages,
        series: series(&v.timeline),
    }
}

/// A fault's mark: from when it fired to the end of its window (`scheduled + lasted`), if any.
fn fault(f: &FaultEvent) -> FaultMark {
    let from_s = f.at_ms as f64 / 1000.0;
    let to_s = f
        .effect
        .as_ref()
        .map(|e| (f.scheduled_ms as f64 + e.lasted_ms) / 1000.0)
        .filter(|&to| to > from_s);
    FaultMark {
        label: format!("{} @{:.1}s", f.kind, from_s),
        from_s,
        to_s,
        detail: f.detail.clone(),
    }
}

fn series(timeline: &[TimelineEntry]) -> Series {
    let mut s = Series::default();
    let classes: Vec<String> = {
        let mut all: Vec<String> = timeline
            .iter()
            .flat_map(|e| e.errors.keys().map(|c| c.to_string()))
            .collect();
        all.sort();
        all.dedup();
        all
    };
    for c in &classes {
        s.failed
            .insert(c.clone(), Vec::with_capacity(timeline.len()));
    }
    for e in timeline {
        push_entry(&mut s, e);
    }
    s
}

fn push_entry(s: &mut Series, e: &TimelineEntry) {
    let some = |v: f64| (e.ok > 0).then_some(v);
    s.t.push(e.t_ms as f64 / 1000.0);
    s.ok.push(e.ok);
    for (class, column) in s.failed.iter_mut() {
        let n = e
            .errors
            .iter()
            .find(|(c, _)| c.to_string() == *class)
            .map_or(0, |(_, n)| *n);
        column.push(n);
    }
    s.p50.push(some(e.p50));
    s.p99.push(some(e.p99));
    s.max.push(spectrum::max_ms(&e.hdr).filter(|_| e.ok > 0));
    s.in_use.push(e.in_use);
    s.idle.push(e.idle);
    s.waiting.push(e.waiting);
    s.opened.push(e.connections_created);
    s.closed.push(e.connections_closed);
    let b = e.server_backends.as_ref();
    s.active.push(b.map(|b| b.active));
    s.backends_idle.push(b.map(|b| b.idle));
    s.idle_in_transaction.push(b.map(|b| b.idle_in_transaction));
}

fn compare(variants: &[VariantReport]) -> Compare {
    let mut c = Compare::default();
    for v in variants {
        let o = &v.operations;
        c.names.push(v.name.clone());
        c.ok_s.push(v.throughput_ops_s);
        let (operation, acquire) = (&v.latency_ms.operation, &v.latency_ms.acquire);
        c.p50.push((operation.count > 0).then_some(operation.p50));
        c.p99.push((operation.count > 0).then_some(operation.p99));
        c.acquire_p99
            .push((acquire.count > 0).then_some(acquire.p99));
        c.error_pct
            .push((o.total > 0).then(|| o.failed as f64 * 100.0 / o.total as f64));
        c.peak_in_use.push(v.pool.peak_in_use);
        c.opened.push(v.pool.connections_created);
    }
    c
}

/// The swept key and each point's value, when every variant is named `key=number` with one
/// key (a `[sweep]` of one key, without named variants), and there are at least two points.
fn swept(variants: &[VariantReport]) -> Option<(String, Vec<f64>)> {
    let mut key: Option<&str> = None;
    let mut values = Vec::new();
    for v in variants {
        let (k, value) = v.name.split_once('=')?;
        if k.contains([',', '/']) || key.is_some_and(|key| key != k) {
            return None;
        }
        key = Some(k);
        values.push(value.trim().parse::<f64>().ok().filter(|x| x.is_finite())?);
    }
    (values.len() >= 2).then(|| (key.unwrap_or_default().to_string(), values))
}

fn sweep(variants: &[VariantReport]) -> Option<Sweep> {
    let (key, values) = swept(variants)?;
    let mut checked: Vec<String> = variants
        .iter()
        .flat_map(|v| v.verdict.checks.iter().map(|c| c.metric.clone()))
        .collect();
    checked.sort();
    checked.dedup();
    let metrics = if checked.is_empty() {
        vec![
            SweepMetric {
                metric: "throughput".into(),
                limit: None,
                values: variants.iter().map(|v| Some(v.throughput_ops_s)).collect(),
            },
            SweepMetric {
                metric: "operation.p99".into(),
                limit: None,
                values: variants
                    .iter()
                    .map(|v| Some(v.latency_ms.operation.p99))
                    .collect(),
            },
        ]
    } else {
        checked
            .iter()
            .map(|m| checked_metric(m, variants))
            .collect()
    };
    Some(Sweep {
        key,
        values,
        metrics,
    })
}

/// A checked metric across the sweep: each point's measured value, and the limit.
fn checked_metric(metric: &str, variants: &[VariantReport]) -> SweepMetric {
    let check = |v: &VariantReport| {
        v.verdict
            .checks
            .iter()
            .find(|c| c.metric == metric)
            .cloned()
    };
    SweepMetric {
        metric: metric.to_string(),
        limit: variants.iter().find_map(check).map(|c| c.limit),
        values: variants
            .iter()
            .map(|v| check(v).and_then(|c| c.actual))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn a_sweep_of_one_numeric_key_is_recognised_and_nothing_else() {
        let named = |names: &[&str]| -> Vec<VariantReport> {
            names
                .iter()
                .map(|n| fixtures::variant(n, 1, 0, serde_json::json!({})))
                .collect()
        };
        let (key, values) = swept(&named(&["pool.max_size=5", "pool.max_size=10"])).unwrap();
        assert_eq!((key.as_str(), values), ("pool.max_size", vec![5.0, 10.0]));
        assert!(swept(&named(&["a=1, b=2", "a=1, b=3"])).is_none());
        assert!(swept(&named(&["a=1", "b=2"])).is_none());
        assert!(swept(&named(&["a=x", "a=y"])).is_none());
        assert!(swept(&named(&["a=1"])).is_none());
        assert!(swept(&named(&["pool of 5 / a=1", "pool of 5 / a=2"])).is_none());
    }
}
