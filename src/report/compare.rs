//! A report against a baseline: per variant (matched by name), each metric's value before and
//! now, its change, the tolerance, and whether it regressed.
//!
//! Tolerances are percentages of the baseline's value, per metric (`--tolerance
//! operation.p99=10%`). The defaults are built for shared, noisy CI machines: error rates,
//! error classes and anomalies are strict (any increase is a regression, and a class absent
//! from the baseline is one as soon as it appears); median-like latencies (p50, p90, mean) may
//! grow by 100% and tail latencies (p99, p999, max) by 200%, and a latency must also have
//! grown by more than [`LATENCY_NOISE_MS`]; throughput may fall by 50%. Measured on this
//! project's two-core machine with three CPU hogs beside an unchanged run of
//! `scenarios/ci-gate.toml`: p50 +4%, p99 +29% to +103%, throughput −14%, a 0.4 ms round trip
//! 6 ms. A tolerance given with `--tolerance` is taken literally, without the floor.
//!
//! Which reports may be compared at all is [`super::fingerprint`]'s business.

use std::collections::BTreeSet;

pub use super::fingerprint::{Fingerprint, Mismatch, comparable, same_scenario};
use super::model::{Report, VariantReport};
use crate::metric::{
    Direction, Measured, Metric, Stat, Unit, UnknownMetric, WorkloadMeasure, anomaly_names,
};

/// With the default tolerances, latency changes up to this (milliseconds) are noise, never a
/// regression.
pub(crate) const LATENCY_NOISE_MS: f64 = 5.0;

/// How much worse a metric may get, in percent of the baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    pub(crate) metric: Metric,
    pub(crate) pct: f64,
}

/// A `--tolerance` argument that cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ToleranceError {
    #[error("`{0}` is not METRIC=PCT (for example operation.p99=10%)")]
    Shape(String),
    #[error("`{arg}`: {source}")]
    Metric {
        arg: String,
        #[source]
        source: UnknownMetric,
    },
    #[error("`{0}`: the tolerance is a percentage such as 10% (a sign is ignored: -50% is 50%)")]
    Pct(String),
}

impl std::str::FromStr for Tolerance {
    type Err = ToleranceError;

    /// `METRIC=PCT`: `operation.p99=10%`, `throughput=50` (the `%` and a sign are optional).
    /// Split at the last `=`, since a workload's name may hold one and a percentage never does;
    /// a workload's name may be quoted as in TOML (`workload."v2.export".p99=10%`).
    fn from_str(arg: &str) -> Result<Tolerance, ToleranceError> {
        let (name, pct) = arg
            .rsplit_once('=')
            .ok_or_else(|| ToleranceError::Shape(arg.to_string()))?;
        let metric = match name.trim().parse::<Metric>() {
            Ok(Metric::Workload(w, m)) => match w
                .strip_prefix('"')
                .and_then(|w| w.strip_suffix('"'))
            {
                Some(unquoted) if !unquoted.is_empty() => Metric::Workload(unquoted.to_string(), m),
                _ => Metric::Workload(w, m),
            },
            Ok(metric) => metric,
            Err(source) => {
                return Err(ToleranceError::Metric {
                    arg: arg.to_string(),
                    source,
                });
            }
        };
        let text = pct.trim();
        let text = text.strip_suffix('%').unwrap_or(text);
        let text = text
            .strip_prefix('+')
            .or_else(|| text.strip_prefix('-'))
            .unwrap_or(text);
        match text.parse::<f64>() {
            Ok(p) if p.is_finite() && p >= 0.0 => Ok(Tolerance { metric, pct: p }),
            _ => Err(ToleranceError::Pct(arg.to_string())),
        }
    }
}

/// The tolerances given on the command line, over the defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tolerances(pub Vec<Tolerance>);

/// How much worse a metric may get before it regresses: more than `pct` percent of the
/// baseline and more than `floor` (in the metric's unit) in absolute terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Allowance {
    pub(crate) pct: f64,
    pub(crate) floor: f64,
}

impl Tolerances {
    /// The default allowance of a metric.
    pub(crate) fn default_for(metric: &Metric) -> Allowance {
        let tail = match metric {
            Metric::Operation(s)
            | Metric::Acquire(s)
            | Metric::Workload(_, WorkloadMeasure::Latency(s)) => {
                matches!(s, Stat::P99 | Stat::P999 | Stat::Max)
            }
            _ => false,
        };
        let (pct, floor) = match metric.unit() {
            Unit::Millis if tail => (200.0, LATENCY_NOISE_MS),
            Unit::Millis => (100.0, LATENCY_NOISE_MS),
            Unit::PerSecond => (50.0, 0.0),
            Unit::Ratio | Unit::Count => (0.0, 0.0),
        };
        Allowance { pct, floor }
    }

    /// The allowance of a metric: the last tolerance given for it (taken literally), else its
    /// default.
    pub(crate) fn of(&self, metric: &Metric) -> Allowance {
        self.0
            .iter()
            .rev()
            .find(|t| &t.metric == metric)
            .map_or_else(
                || Self::default_for(metric),
                |t| Allowance {
                    pct: t.pct,
                    floor: 0.0,
                },
            )
    }
}

impl Tolerances {
    /// The `--tolerance`s on `workload.<name>.…` where no variant has that workload: neither
    /// side would measure it, so its row would be left out and the tolerance ignored without a
    /// word. `known` are the workloads of `what` (the reports compared; the scenarios run and
    /// their baselines).
    pub(crate) fn unknown_workload<'a>(
        &self,
        known: impl IntoIterator<Item = &'a str>,
        what: &str,
    ) -> Option<String> {
        let known: BTreeSet<&str> = known.into_iter().collect();
        let unknown: Vec<String> = (self.0.iter())
            .filter_map(|t| {
                let w = t.metric.workload().filter(|w| !known.contains(w))?;
                Some(format!("{} (no workload `{w}`)", t.metric))
            })
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let names: Vec<_> = known.iter().map(|n| format!("`{n}`")).collect();
        Some(format!(
            "--tolerance {}: no such workload in the {what}; their workloads are {}",
            unknown.join(", "),
            names.join(", ")
        ))
    }
}

/// The workloads of a report's variants.
pub(crate) fn workloads(r: &Report) -> impl Iterator<Item = &str> {
    (r.variants.iter()).flat_map(|v| v.latency_ms.by_workload.keys().map(String::as_str))
}

/// One metric of one variant, before and now.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The metric compared.
    pub metric: Metric,
    pub(crate) base: Option<f64>,
    pub(crate) new: Option<f64>,
    pub(crate) allowance: Allowance,
    /// Whether it got worse by more than its allowance.
    pub regression: bool,
    pub(crate) note: Option<String>,
}

impl Row {
    /// The row as table cells: metric, baseline, now, change, tolerance, status.
    pub(crate) fn cells(&self) -> [String; 6] {
        let value = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| self.metric.format(x));
        let change = self
            .change_pct()
            .map_or_else(|| "-".to_string(), |c| format!("{c:+.1}%"));
        let sign = match self.metric.direction() {
            Direction::Max => '+',
            Direction::Min => '-',
        };
        let Allowance { pct, floor } = self.allowance;
        let tolerance = if floor > 0.0 {
            format!("{sign}{pct}% and {sign}{}", self.metric.format(floor))
        } else {
            format!("{sign}{pct}%")
        };
        let status = match (self.regression, &self.note) {
            (true, Some(n)) => format!("REGRESSION ({n})"),
            (true, None) => "REGRESSION".to_string(),
            (false, Some(n)) => format!("ok ({n})"),
            (false, None) => "ok".to_string(),
        };
        [
            self.metric.to_string(),
            value(self.base),
            value(self.new),
            change,
            tolerance,
            status,
        ]
    }

    /// The change in percent of the baseline (none from zero or without both values).
    pub(crate) fn change_pct(&self) -> Option<f64> {
        match (self.base, self.new) {
            (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b * 100.0),
            _ => None,
        }
    }
}

/// One variant's rows, or why it has none.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantComparison {
    /// The variant's name.
    pub name: String,
    /// One row per metric compared (none when the variant is on one side only).
    pub rows: Vec<Row>,
    /// `not in the baseline` or `not in this run`.
    pub(crate) note: Option<String>,
    /// A baseline variant the run should have run and did not: a regression.
    pub(crate) missing: bool,
}

impl VariantComparison {
    /// The table row of a variant without rows (missing on one side), as `Row::cells` plus the
    /// variant's name, with `regression` as its status when it counts as one.
    pub(crate) fn note_cells(&self, regression: &str) -> Option<Vec<String>> {
        let note = self.note.as_ref()?;
        let status = if self.missing { regression } else { "" };
        let blank = String::new;
        Some(vec![
            self.name.clone(),
            "-".into(),
            note.clone(),
            blank(),
            blank(),
            blank(),
            status.into(),
        ])
    }
}

/// A report against its baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub(crate) scenario: String,
    pub(crate) base_run: String,
    pub(crate) new_run: String,
    /// Set when `--force` compared reports that [`comparable`] refused: why they differ.
    pub(crate) forced: Option<String>,
    /// Every variant of either report.
    pub variants: Vec<VariantComparison>,
}

impl Comparison {
    /// Regressed metrics, plus baseline variants missing from the run.
    pub fn regressions(&self) -> usize {
        let rows = self
            .variants
            .iter()
            .flat_map(|v| &v.rows)
            .filter(|r| r.regression)
            .count();
        rows + self.variants.iter().filter(|v| v.missing).count()
    }
}

/// Compares every variant of `new` with the baseline variant of the same name.
/// Whether the run that wrote `new` left the variant `name` out (`--variant`). Reports of
/// earlier versions do not say: there, an uninterrupted run of another selection's settings
/// hash is taken to have left out what it lacks.
fn left_out(new: &Report, base: &Report, name: &str) -> bool {
    match &new.scenario.variants_left_out {
        Some(names) => names.iter().any(|n| n == name),
        None => !new.interrupted && base.scenario.settings_sha256 != new.scenario.settings_sha256,
    }
}

pub fn compare(
    base: &Report,
    new: &Report,
    tolerances: &Tolerances,
    forced: Option<String>,
) -> Comparison {
    let mut variants: Vec<VariantComparison> = new
        .variants
        .iter()
        .map(|n| match base.variants.iter().find(|b| b.name == n.name) {
            Some(b) => VariantComparison {
                name: n.name.clone(),
                rows: rows(b, n, tolerances),
                note: None,
                missing: false,
            },
            None => VariantComparison {
                name: n.name.clone(),
                rows: Vec::new(),
                note: Some("not in the baseline".into()),
                missing: false,
            },
        })
        .collect();
    // A baseline variant this run lacks is a regression unless the run chose not to run it
    // (`--variant`, which the report names): an interrupted run, a variant renamed or lost,
    // must not pass the gate on what it did not measure, even with `--force`.
    for b in &base.variants {
        if !new.variants.iter().any(|n| n.name == b.name) {
            let (note, missing) = if left_out(new, base, &b.name) {
                ("not selected in this run", false)
            } else if new.interrupted {
                (
                    "not in this run: it was interrupted before this variant",
                    true,
                )
            } else {
                ("not in this run", true)
            };
            variants.push(VariantComparison {
                name: b.name.clone(),
                rows: Vec::new(),
                note: Some(note.into()),
                missing,
            });
        }
    }
    Comparison {
        scenario: new.scenario.name.clone(),
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        forced,
        variants,
    }
}

/// The metrics compared for a pair of variants: the defaults, every error class and anomaly
/// seen in either, and any metric given a tolerance.
fn metrics(base: &VariantReport, new: &VariantReport, tolerances: &Tolerances) -> Vec<Metric> {
    let mut out = vec![Metric::ErrorRate];
    let classes: BTreeSet<_> = base.errors.keys().chain(new.errors.keys()).collect();
    out.extend(classes.into_iter().map(|c| Metric::Errors(*c)));
    out.extend([
        Metric::Operation(Stat::P50),
        Metric::Operation(Stat::P99),
        Metric::Acquire(Stat::P99),
        Metric::Throughput,
    ]);
    for name in anomaly_names() {
        let m = Metric::Anomaly(name.clone());
        let seen = |v: &VariantReport| matches!(m.resolve(v), Measured::Value(x) if x > 0.0);
        if seen(base) || seen(new) {
            out.push(m);
        }
    }
    for t in &tolerances.0 {
        if !out.contains(&t.metric) {
            out.push(t.metric.clone());
        }
    }
    out
}

fn rows(base: &VariantReport, new: &VariantReport, tolerances: &Tolerances) -> Vec<Row> {
    metrics(base, new, tolerances)
        .into_iter()
        .filter_map(|metric| {
            let allowance = tolerances.of(&metric);
            let (b, n) = (metric.resolve(base), metric.resolve(new));
            let given = tolerances.0.iter().any(|t| t.metric == metric);
            let (regression, note) = match (judge(&metric, &b, &n, allowance), &n) {
                (Some(judged), _) => judged,
                // A tolerance asked for this row: it says why there is nothing to compare.
                (None, Measured::NotMeasured(why)) if given => {
                    (false, Some(format!("not measured in either report: {why}")))
                }
                (None, _) => return None,
            };
            let value = |m: Measured| match m {
                Measured::Value(x) => Some(x),
                Measured::NotMeasured(_) => None,
            };
            Some(Row {
                metric,
                base: value(b),
                new: value(n),
                allowance,
                regression,
                note,
            })
        })
        .collect()
}

/// Whether a metric regressed, with a note; `None` when neither report measured it.
fn judge(
    metric: &Metric,
    base: &Measured,
    new: &Measured,
    allowance: Allowance,
) -> Option<(bool, Option<String>)> {
    let (b, n) = match (base, new) {
        (Measured::Value(b), Measured::Value(n)) => (*b, *n),
        (Measured::Value(_), Measured::NotMeasured(why)) => {
            return Some((true, Some(format!("not measured in this run: {why}"))));
        }
        (Measured::NotMeasured(_), Measured::Value(_)) => {
            return Some((false, Some("not measured in the baseline".into())));
        }
        (Measured::NotMeasured(_), Measured::NotMeasured(_)) => return None,
    };
    let Allowance { pct, floor } = allowance;
    let regression = match metric.direction() {
        Direction::Max => n > b * (1.0 + pct / 100.0) && n - b > floor,
        Direction::Min => n < b * (1.0 - pct / 100.0) && b - n > floor,
    };
    let note = match metric {
        Metric::Errors(_) if b == 0.0 && n > 0.0 => Some("new error class".to_string()),
        Metric::Anomaly(_) if b == 0.0 && n > 0.0 => Some("new anomaly".to_string()),
        _ => None,
    };
    Some((regression, note))
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
