//! Strict reading of a report for `merge` and `compare` (and `--baseline`): every internal
//! consistency the report promises is checked before a number of it is used, so that a gate
//! never judges numbers that were never measured (an empty histogram behind `ok = 80`).
//!
//! Checked: a schema version that exists (from 1); no variant both run and left out; per
//! variant: a unique name of at most
//! [`MAX_NAME_CHARS`] characters; `ok + failed = total`; `measured_s` a length of time (finite,
//! not negative, within a `Duration`), above 0 when there were operations; `throughput_ops_s =
//! ok / measured_s`; latency statistics finite and not negative; every `hdr` decodes and holds
//! exactly the `count` its summary states, at most `MAX_COUNT`;
//! `latency_ms.operation.count = ok`, `latency_ms.failed.count = failed`; the error classes
//! add up to `failed`; and, when there is a timeline, its seconds add up to the totals and each
//! second's histogram holds its `ok`. Arithmetic is checked: an overflow is an inconsistency.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::merge::MAX_COUNT;
use super::model::{LatencySummary, Report, VariantReport};
use crate::record::histogram;

/// Longest variant name read back, in characters: the same cap as on the scenario side (names
/// of up to 200 characters); comparing names costs their length, so longer ones are refused.
pub(crate) const MAX_NAME_CHARS: usize = 200;

/// Why a report is not consistent: the file, the variant and what disagrees.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct Inconsistent {
    pub(crate) path: PathBuf,
    pub(crate) message: String,
}

/// Checks everything the report promises about itself.
pub(crate) fn check(path: &Path, report: &Report) -> Result<(), Inconsistent> {
    let fail = |message: String| Inconsistent {
        path: path.to_path_buf(),
        message,
    };
    if report.schema_version == 0 {
        return Err(fail(
            "schema_version 0: no stress writes it (the first is 1)".into(),
        ));
    }
    let mut names = BTreeSet::new();
    for v in &report.variants {
        let chars = v.name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(fail(format!(
                "a variant name of {chars} characters; at most {MAX_NAME_CHARS} are read"
            )));
        }
        if !names.insert(v.name.as_str()) {
            return Err(fail(format!(
                "variant `{}` appears twice: its numbers would be counted twice",
                v.name
            )));
        }
        variant(v).map_err(|m| fail(format!("variant `{}`: {m}", v.name)))?;
    }
    let left_out = report.scenario.variants_left_out.iter().flatten();
    if let Some(name) = left_out.into_iter().find(|n| names.contains(n.as_str())) {
        return Err(fail(format!(
            "variant `{name}` ran, yet scenario.variants_left_out names it"
        )));
    }
    Ok(())
}

fn variant(v: &VariantReport) -> Result<(), String> {
    let o = &v.operations;
    match o.ok.checked_add(o.failed) {
        Some(t) if t == o.total => {}
        _ => {
            return Err(format!(
                "operations.ok ({}) + operations.failed ({}) is not operations.total ({})",
                o.ok, o.failed, o.total
            ));
        }
    }
    // Beyond what a `Duration` holds (~584 billion years) is no run's length either; `merge`
    // reads it as one.
    let not_a_duration = std::time::Duration::try_from_secs_f64(v.measured_s).is_err();
    if not_a_duration || (o.total > 0 && v.measured_s <= 0.0) {
        return Err(format!(
            "measured_s = {} for {} operations is not a length of time they ran in",
            v.measured_s, o.total
        ));
    }
    // `ok / measured_s` as written (0 without a measured phase); a relative slack for the
    // float's last digits, none for a hand-edited figure.
    let expected = if v.measured_s > 0.0 {
        o.ok as f64 / v.measured_s
    } else {
        0.0
    };
    // False for a NaN too.
    let within = (v.throughput_ops_s - expected).abs() <= 1e-9 * expected.max(1.0);
    if !within {
        return Err(format!(
            "throughput_ops_s = {} but operations.ok / measured_s = {expected}",
            v.throughput_ops_s
        ));
    }
    latencies(v)?;
    let classes = v
        .errors
        .values()
        .try_fold(0u64, |n, e| n.checked_add(e.count));
    if classes != Some(o.failed) {
        return Err(format!(
            "the error classes' counts do not add up to operations.failed ({})",
            o.failed
        ));
    }
    super::outages::check(v)?;
    timeline(v)
}

fn latencies(v: &VariantReport) -> Result<(), String> {
    let l = &v.latency_ms;
    for (what, s) in [
        ("operation", &l.operation),
        ("failed", &l.failed),
        ("acquire", &l.acquire),
        ("hold", &l.hold),
    ] {
        summary(&format!("latency_ms.{what}"), s)?;
    }
    for (w, s) in &l.by_workload {
        summary(&format!("latency_ms.by_workload.{w}"), s)?;
    }
    let o = &v.operations;
    if l.operation.count != o.ok {
        return Err(format!(
            "latency_ms.operation holds {} operations, operations.ok says {}",
            l.operation.count, o.ok
        ));
    }
    if l.failed.count != o.failed {
        return Err(format!(
            "latency_ms.failed holds {} operations, operations.failed says {}",
            l.failed.count, o.failed
        ));
    }
    let by_workload = l
        .by_workload
        .values()
        .try_fold(0u64, |n, s| n.checked_add(s.count));
    if !l.by_workload.is_empty() && by_workload != Some(o.ok) {
        return Err(format!(
            "latency_ms.by_workload does not add up to operations.ok ({})",
            o.ok
        ));
    }
    failed_by_workload(v)
}

/// `operations.failed_by_workload` (absent before it existed) adds up to `operations.failed`
/// and names exactly the workloads of `latency_ms.by_workload`.
fn failed_by_workload(v: &VariantReport) -> Result<(), String> {
    let (o, l) = (&v.operations, &v.latency_ms);
    if o.failed_by_workload.is_empty() {
        return Ok(());
    }
    if let Some(w) = (o.failed_by_workload.keys()).find(|w| !l.by_workload.contains_key(*w)) {
        return Err(format!(
            "operations.failed_by_workload names `{w}`, which latency_ms.by_workload does not"
        ));
    }
    if let Some(w) = (l.by_workload.keys()).find(|w| !o.failed_by_workload.contains_key(*w)) {
        return Err(format!(
            "operations.failed_by_workload leaves out workload `{w}` (0 is written, not left out)"
        ));
    }
    let sum = (o.failed_by_workload.values()).try_fold(0u64, |n, f| n.checked_add(*f));
    if sum != Some(o.failed) {
        return Err(format!(
            "operations.failed_by_workload does not add up to operations.failed ({})",
            o.failed
        ));
    }
    Ok(())
}

/// The histogram decodes and holds exactly `count` values; its statistics are latencies
/// (finite, not negative).
fn summary(what: &str, s: &LatencySummary) -> Result<(), String> {
    let stats = [
        ("min", s.min),
        ("mean", s.mean),
        ("p50", s.p50),
        ("p90", s.p90),
        ("p99", s.p99),
        ("p999", s.p999),
        ("max", s.max),
    ];
    if let Some((name, x)) = stats.iter().find(|(_, x)| !(x.is_finite() && *x >= 0.0)) {
        return Err(format!("{what}.{name} = {x} is not a latency"));
    }
    let held = held(what, &s.hdr)?;
    if held != s.count {
        return Err(format!(
            "{what}.count is {} but its histogram (hdr) holds {held}",
            s.count
        ));
    }
    Ok(())
}

/// How many values a histogram holds; an error when it is missing, corrupt or beyond any run.
fn held(what: &str, hdr: &str) -> Result<u64, String> {
    if hdr.is_empty() {
        return Err(format!("{what}.hdr is empty: no histogram to read"));
    }
    let h = histogram::decode(hdr).map_err(|e| format!("{what}.hdr: {e}"))?;
    let n = h.len();
    if n > MAX_COUNT {
        return Err(format!(
            "{what}.hdr holds {n} values: more than {MAX_COUNT} cannot come from a run"
        ));
    }
    Ok(n)
}

/// The timeline's seconds add up to the totals (the report promises it), and each second's
/// histogram holds that second's successful operations.
fn timeline(v: &VariantReport) -> Result<(), String> {
    if v.timeline.is_empty() {
        return Ok(());
    }
    let (mut ok, mut failed, mut dropped) = (Some(0u64), Some(0u64), Some(0u64));
    // Each entry ends a second of the measured phase, the last one at most a second past its
    // end, and half a second more in a merge, which rounds each machine's seconds to the merged
    // ones (review of 2026-12-03: 60 entries on a 4 s run, and a t_ms given twice, were read).
    let end_ms = v.measured_s * 1000.0 + 1501.0;
    let mut previous: Option<u64> = None;
    for e in &v.timeline {
        if previous.is_some_and(|p| e.t_ms <= p) {
            return Err(format!(
                "timeline entry at t_ms = {} comes after t_ms = {}: entries are in time order, \
                 each second once",
                e.t_ms,
                previous.unwrap_or_default()
            ));
        }
        if e.t_ms as f64 > end_ms {
            return Err(format!(
                "timeline entry at t_ms = {} is past the measured phase ({} s)",
                e.t_ms, v.measured_s
            ));
        }
        previous = Some(e.t_ms);
        ok = ok.and_then(|n| n.checked_add(e.ok));
        failed = failed.and_then(|n| n.checked_add(e.failed));
        dropped = dropped.and_then(|n| n.checked_add(e.dropped));
        let what = format!("timeline entry at t_ms = {}", e.t_ms);
        let held = held(&what, &e.hdr)?;
        if held != e.ok {
            return Err(format!(
                "{what}: ok is {} but its histogram (hdr) holds {held}",
                e.ok
            ));
        }
    }
    let o = &v.operations;
    for (field, sum, total) in [
        ("ok", ok, o.ok),
        ("failed", failed, o.failed),
        ("dropped", dropped, o.dropped),
    ] {
        if sum != Some(total) {
            let sum = sum.map_or("more than 2^64".to_string(), |n| n.to_string());
            return Err(format!(
                "the timeline's `{field}` adds up to {sum}, operations.{field} is {total}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
