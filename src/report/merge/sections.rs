//! The merge of one variant's sections that are plain counts over machines: operations,
//! isolation, writes, leaks, errors, anomalies and the pool's statistics.

use std::collections::BTreeMap;

use super::{Part, max, sum};
use crate::report::model::*;

/// Counts by key of every machine, added up.
fn counts<K: Ord + Clone>(
    parts: &[Part<'_>],
    f: fn(&VariantReport) -> &BTreeMap<K, u64>,
) -> BTreeMap<K, u64> {
    let mut out = BTreeMap::new();
    for (key, n) in parts.iter().flat_map(|p| f(p.variant)) {
        *out.entry(key.clone()).or_default() += n;
    }
    out
}

/// Operations of every machine add up.
pub(super) fn operations(parts: &[Part<'_>]) -> Operations {
    Operations {
        total: sum(parts, |v| v.operations.total),
        ok: sum(parts, |v| v.operations.ok),
        failed: sum(parts, |v| v.operations.failed),
        dropped: sum(parts, |v| v.operations.dropped),
        retried: sum(parts, |v| v.operations.retried),
        retries: sum(parts, |v| v.operations.retries),
        retries_exhausted: sum(parts, |v| v.operations.retries_exhausted),
        // A report of an older stress has none: the sum of the others' would be divided by
        // every machine's successes, so the merge has none either (not measured, never low).
        failed_by_workload: match parts
            .iter()
            .any(|p| p.variant.operations.failed_by_workload.is_empty())
        {
            true => BTreeMap::new(),
            false => counts(parts, |v| &v.operations.failed_by_workload),
        },
    }
}

/// Backends used add up (each machine has its own); the deepest overlap is the largest.
pub(super) fn isolation(parts: &[Part<'_>]) -> Isolation {
    let after_dirty_return = counts(parts, |v| &v.isolation.after_dirty_return);
    Isolation {
        backends_used: sum(parts, |v| v.isolation.backends_used),
        max_operations_per_backend: max(parts, |v| v.isolation.max_operations_per_backend),
        after_dirty_return,
    }
}

/// Each machine checks its own ledger: the counts add up.
pub(super) fn writes(parts: &[Part<'_>]) -> Option<Writes> {
    let mut out: Option<Writes> = None;
    for w in parts.iter().filter_map(|p| p.variant.writes.as_ref()) {
        out.get_or_insert_with(Writes::default).merge(w);
    }
    out
}

/// Long holds add up per workload; the longest is the longest anywhere.
pub(super) fn leaks(parts: &[Part<'_>]) -> BTreeMap<String, Leak> {
    let mut out: BTreeMap<String, Leak> = BTreeMap::new();
    for (workload, l) in parts.iter().flat_map(|p| &p.variant.leaks) {
        let merged = out.entry(workload.clone()).or_default();
        merged.count += l.count;
        merged.longest_ms = merged.longest_ms.max(l.longest_ms);
    }
    out
}

/// Each machine's errors, on the first machine's clock (`offsets`), merged by class.
pub(super) fn errors(
    parts: &[Part<'_>],
    offsets: &[u64],
) -> BTreeMap<crate::record::errors::ErrorClass, ErrorStats> {
    let mut out: BTreeMap<_, ErrorStats> = BTreeMap::new();
    for (p, offset) in parts.iter().zip(offsets) {
        for (class, e) in &p.variant.errors {
            let shifted = ErrorStats {
                first_at_ms: e.first_at_ms.saturating_add(*offset),
                last_at_ms: e.last_at_ms.saturating_add(*offset),
                ..e.clone()
            };
            out.entry(*class).or_default().merge(&shifted);
        }
    }
    out
}

/// Sums every anomaly all machines measured ([`Anomalies::merge`]).
pub(super) fn anomalies(parts: &[Part<'_>]) -> Anomalies {
    let mut all = parts.iter().map(|p| &p.variant.anomalies);
    let mut out = all.next().cloned().unwrap_or_default();
    all.for_each(|a| out.merge(a));
    out
}

pub(super) fn optional(parts: &[Part<'_>], f: fn(&PoolStats) -> Option<u64>) -> Option<u64> {
    let present: Vec<u64> = parts.iter().filter_map(|p| f(&p.variant.pool)).collect();
    (!present.is_empty()).then(|| present.iter().sum())
}

pub(super) fn pool(parts: &[Part<'_>]) -> PoolStats {
    let connect_errors = counts(parts, |v| &v.pool.connect_errors);
    PoolStats {
        peak_in_use: max(parts, |v| v.pool.peak_in_use),
        peak_waiting: max(parts, |v| v.pool.peak_waiting),
        connections_created: sum(parts, |v| v.pool.connections_created),
        connections_closed: sum(parts, |v| v.pool.connections_closed),
        closed_broken: sum(parts, |v| v.pool.closed_broken),
        timed_out_gets: sum(parts, |v| v.pool.timed_out_gets),
        cut_by_close: sum(parts, |v| v.pool.cut_by_close),
        died_idle: sum(parts, |v| v.pool.died_idle),
        waited_gets: optional(parts, |p| p.waited_gets),
        closed_invalid: optional(parts, |p| p.closed_invalid),
        closed_idle_timeout: optional(parts, |p| p.closed_idle_timeout),
        closed_max_lifetime: optional(parts, |p| p.closed_max_lifetime),
        closed_overflow: optional(parts, |p| p.closed_overflow),
        connect_errors,
        resets: optional(parts, |p| p.resets),
        reset_failures: crate::report::race_sections::merge_reset_failures(
            parts.iter().map(|p| p.variant),
        ),
    }
}
