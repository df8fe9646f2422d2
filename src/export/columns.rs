//! The columns of the variants' table, the same in the terminal summary and in Markdown:
//! connections (capacity, opened, peak in use), operations (total, ok, failed with its share,
//! ok/s), latencies (operation and acquire p50/p99, whole microseconds below 1 ms), then what
//! went wrong (error classes, non-zero anomalies) and the checks passed.
//!
//! They come in groups that the terminal keeps together when it must split the table to fit
//! its width (see [`super::layout`]).

use super::layout::Col;
use crate::metric::{format_ms as ms, format_pct};
use crate::report::model::{LatencySummary, VariantReport};
use crate::report::verdict;

/// A column: its header, whether it holds numbers (aligned right), and its cell.
pub(crate) struct Column {
    pub(crate) header: &'static str,
    pub(crate) right: bool,
    pub(crate) cell: fn(&VariantReport) -> String,
}

const fn column(header: &'static str, right: bool, cell: fn(&VariantReport) -> String) -> Column {
    Column {
        header,
        right,
        cell,
    }
}

/// The key column: the variant's name, with its pool model when that is not bb8.
pub(crate) const VARIANT: Column = column("variant", false, label);

/// A variant's name, with the pool model it ran when that is not bb8 (`5 + 10 [sqlalchemy]`),
/// so that a table comparing models says which is which.
pub(crate) fn label(v: &VariantReport) -> String {
    match pool_model(v) {
        Some(model) => format!("{} [{model}]", v.name),
        None => v.name.clone(),
    }
}

/// The pool model a variant ran (`pool.model` of its settings), when it used a pool and the
/// model is not bb8 (nothing for settings this version cannot read).
pub(crate) fn pool_model(v: &VariantReport) -> Option<&'static str> {
    let s = v.settings.typed()?;
    let pooled = s.access.mode == crate::scenario::model::AccessMode::Pool;
    (pooled && !s.pool.model.is_bb8()).then(|| s.pool.model.name())
}

/// The other columns, by group.
pub(crate) const GROUPS: [&[Column]; 4] = [
    &[
        column("conns cap", true, connections_cell),
        column("opened", true, |v| v.pool.connections_created.to_string()),
        column("peak in use", true, |v| v.pool.peak_in_use.to_string()),
    ],
    &[
        column("ops", true, |v| v.operations.total.to_string()),
        column("ok", true, |v| v.operations.ok.to_string()),
        column("failed", true, failed_cell),
        column("ok/s", true, |v| rate(v.throughput_ops_s)),
    ],
    &[
        column("op p50", true, |v| {
            quantile(&v.latency_ms.operation, |l| l.p50)
        }),
        column("op p99", true, |v| {
            quantile(&v.latency_ms.operation, |l| l.p99)
        }),
        column("acq p50", true, |v| {
            quantile(&v.latency_ms.acquire, |l| l.p50)
        }),
        column("acq p99", true, |v| {
            quantile(&v.latency_ms.acquire, |l| l.p99)
        }),
    ],
    &[
        column("errors", false, errors_cell),
        column("anomalies", false, anomalies_cell),
        column("checks", true, checks_cell),
    ],
];

/// A latency quantile, `-` when nothing was measured (not a misleading `0µs`).
fn quantile(l: &LatencySummary, q: fn(&LatencySummary) -> f64) -> String {
    if l.count == 0 { "-".into() } else { ms(q(l)) }
}

/// `column` filled for `variants`.
pub(crate) fn col(column: &Column, variants: &[VariantReport]) -> Col {
    Col {
        header: column.header.to_string(),
        right: column.right,
        cells: variants.iter().map(column.cell).collect(),
    }
}

/// Connections the variant may open (see [`verdict::connections`]).
pub(crate) fn connections_cell(v: &VariantReport) -> String {
    verdict::connections(&v.settings).map_or_else(|| "-".into(), |n| n.to_string())
}

/// `3/4` checks passed, `-` without checks, `aborted` when `abort_on_fail` stopped it.
pub(crate) fn checks_cell(v: &VariantReport) -> String {
    let checks = &v.verdict.checks;
    if checks.is_empty() {
        return "-".into();
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    let aborted = if v.verdict.aborted.is_some() {
        " aborted"
    } else {
        ""
    };
    format!("{passed}/{}{aborted}", checks.len())
}

/// Failed operations and their share of all: `2 (0.016%)`, or `0`.
pub(crate) fn failed_cell(v: &VariantReport) -> String {
    let o = &v.operations;
    match o.failed {
        0 => "0".into(),
        n => format!("{n} ({})", format_pct(n as f64 / o.total as f64, 1)),
    }
}

/// Operations per second: whole above 10, one decimal below (`0.4`, never `0`).
fn rate(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Failed operations by class, one per line.
pub(crate) fn errors_cell(v: &VariantReport) -> String {
    if v.errors.is_empty() {
        return "-".into();
    }
    v.errors
        .iter()
        .map(|(class, s)| format!("{class} {}", s.count))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The anomalies that are not zero (nor unmeasured), one per line by name, short:
/// `lost writes 83`, `interleaved 3`, `returned in txn 15`, `leaks 2`.
pub(crate) fn anomalies_cell(v: &VariantReport) -> String {
    let value = serde_json::to_value(&v.anomalies).unwrap_or_default();
    let mut found: Vec<(&String, u64)> = value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, n)| Some((name, n.as_u64().filter(|&n| n > 0)?)))
        .collect();
    found.sort();
    let found: Vec<String> = found
        .into_iter()
        .map(|(name, n)| format!("{} {n}", short_anomaly(name)))
        .collect();
    if found.is_empty() {
        return "-".into();
    }
    found.join("\n")
}

fn short_anomaly(name: &str) -> String {
    match name {
        "transaction_interleaved" => "interleaved".into(),
        "returned_in_transaction" => "returned in txn".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    #[test]
    fn latencies_show_microseconds_below_one_millisecond() {
        assert_eq!(ms(0.042), "42µs");
        assert_eq!(ms(0.0004), "0µs");
        assert_eq!(ms(0.9994), "999µs");
        assert_eq!(ms(0.9996), "1.00ms");
        assert_eq!(ms(2.345), "2.35ms");
        assert_eq!(ms(10.74), "10.7ms");
        assert_eq!(ms(1030.0), "1.03s");
    }

    #[test]
    fn percentages_have_the_digits_to_be_non_zero() {
        assert_eq!(format_pct(2.0 / 12_391.0, 1), "0.016%");
        assert_eq!(format_pct(1.0 / 3.0, 1), "33.3%");
        assert_eq!(format_pct(0.005, 1), "0.50%");
        assert_eq!(format_pct(0.71, 1), "71.0%");
        assert_eq!(format_pct(12_390.0 / 12_391.0, 1), "99.992%");
        assert_eq!(format_pct(1.0, 1), "100.0%");
        assert_eq!(format_pct(0.0, 1), "0%");
        assert_eq!(format_pct(0.005, 2), "0.50%");
    }

    #[test]
    fn cells_show_failures_with_their_share_and_only_nonzero_anomalies() {
        let mut v = fixtures::variant("v", 12_389, 2, serde_json::json!({}));
        assert_eq!(failed_cell(&v), "2 (0.016%)");
        assert_eq!(anomalies_cell(&v), "-");
        v.anomalies.lost_writes = Some(83);
        v.anomalies.phantom_writes = Some(0);
        v.anomalies.returned_in_transaction = 15;
        assert_eq!(anomalies_cell(&v), "lost writes 83\nreturned in txn 15");
        v.throughput_ops_s = 0.4;
        assert_eq!(col(&GROUPS[1][3], &[v]).cells, ["0.4"]);
    }

    /// Review of 2026-12-03: a variant whose every operation failed showed `op p50 0µs`.
    #[test]
    fn latencies_of_nothing_measured_are_a_dash() {
        let mut v = fixtures::variant("v", 0, 5, serde_json::json!({}));
        v.latency_ms.operation.count = 0;
        v.latency_ms.acquire.count = 3;
        (v.latency_ms.acquire.p50, v.latency_ms.acquire.p99) = (0.0, 0.042);
        let cells: Vec<String> = (GROUPS[2].iter())
            .flat_map(|c| col(c, std::slice::from_ref(&v)).cells)
            .collect();
        assert_eq!(cells, ["-", "-", "0µs", "42µs"]);
    }
}
