//! Reports that disagree with themselves are refused, naming the file, variant and numbers.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::report::fixtures;
use crate::report::model::TimelineEntry;

fn hdr(values: u64) -> String {
    let mut h = histogram::new();
    for i in 0..values {
        histogram::record(&mut h, Duration::from_micros(100 + i));
    }
    histogram::encode(&h)
}

fn second(t_ms: u64, ok: u64) -> TimelineEntry {
    let mut e: TimelineEntry = serde_json::from_value(serde_json::json!({
        "t_ms": t_ms, "ok": ok, "failed": 0, "dropped": 0, "errors": {}, "p50": 0.0,
        "p99": 0.0, "hdr": "", "in_use": 0, "idle": 0, "waiting": 0,
        "connections_created": 0, "connections_closed": 0
    }))
    .unwrap();
    e.hdr = hdr(ok);
    e
}

/// A variant whose every number agrees: `ok` successes over two seconds, no failure.
fn consistent(name: &str, ok: u64) -> VariantReport {
    let mut v = fixtures::variant(name, ok, 0, serde_json::json!({}));
    let l = &mut v.latency_ms;
    l.operation.hdr = hdr(ok);
    l.failed.hdr = hdr(0);
    l.acquire.hdr = hdr(ok);
    l.hold.hdr = hdr(ok);
    v.timeline = vec![second(1000, ok / 2), second(2000, ok - ok / 2)];
    v
}

fn checked(variants: Vec<VariantReport>) -> Result<(), String> {
    let r = fixtures::report("r", "2026-01-01T00:00:00.000Z", variants);
    check(Path::new("r.json"), &r).map_err(|e| e.to_string())
}

fn refused(v: VariantReport, needle: &str) {
    let e = checked(vec![v]).unwrap_err();
    assert!(e.starts_with("r.json: variant `v`: "), "{e}");
    assert!(e.contains(needle), "{e}");
}

/// Review of 2026-12-03: `schema_version = 0` was read as a report.
#[test]
fn a_schema_version_no_stress_writes_is_refused() {
    let mut r = fixtures::report("r", "2026-01-01T00:00:00.000Z", vec![consistent("v", 80)]);
    r.schema_version = 0;
    let e = check(Path::new("r.json"), &r).unwrap_err().to_string();
    assert!(e.contains("schema_version 0: no stress writes it"), "{e}");
}

#[test]
fn a_variant_both_run_and_left_out_is_refused() {
    let mut r = fixtures::report("r", "2026-01-01T00:00:00.000Z", vec![consistent("v", 80)]);
    r.scenario.variants_left_out = Some(vec!["w".into()]);
    check(Path::new("r.json"), &r).unwrap();
    r.scenario.variants_left_out = Some(vec!["v".into()]);
    let e = check(Path::new("r.json"), &r).unwrap_err().to_string();
    assert!(
        e.contains("variant `v` ran, yet scenario.variants_left_out"),
        "{e}"
    );
}

#[test]
fn a_consistent_report_is_read() {
    checked(vec![consistent("v", 80), consistent("w", 0)]).unwrap();
}

#[test]
fn an_empty_or_all_zero_histogram_behind_successes_is_refused() {
    let mut v = consistent("v", 80);
    v.latency_ms.operation.hdr = String::new();
    refused(v, "latency_ms.operation.hdr is empty");
    let mut v = consistent("v", 80);
    v.latency_ms.operation.hdr = hdr(0);
    refused(
        v,
        "latency_ms.operation.count is 80 but its histogram (hdr) holds 0",
    );
    let mut v = consistent("v", 80);
    v.latency_ms.operation.hdr = hdr(0);
    v.latency_ms.operation.count = 0;
    refused(
        v,
        "latency_ms.operation holds 0 operations, operations.ok says 80",
    );
    let mut v = consistent("v", 80);
    v.latency_ms.hold.hdr = "bm90IGEgaGlzdG9ncmFt".into();
    refused(v, "latency_ms.hold.hdr: not an HdrHistogram");
}

#[test]
fn totals_that_do_not_add_up_are_refused() {
    let mut v = consistent("v", 80);
    v.operations.total = 40;
    refused(
        v,
        "operations.ok (80) + operations.failed (0) is not operations.total (40)",
    );
    let mut v = consistent("v", 80);
    v.operations.failed = u64::MAX;
    refused(v, "is not operations.total");
    let mut v = consistent("v", 80);
    v.timeline[1].ok -= 1;
    v.timeline[1].hdr = hdr(v.timeline[1].ok);
    refused(v, "the timeline's `ok` adds up to 79, operations.ok is 80");
    let mut v = consistent("v", 80);
    v.timeline[0].hdr = hdr(0);
    refused(
        v,
        "timeline entry at t_ms = 1000: ok is 40 but its histogram (hdr) holds 0",
    );
}

#[test]
fn a_measured_phase_of_no_length_is_refused() {
    let mut v = consistent("v", 80);
    v.measured_s = 0.0;
    refused(v, "measured_s = 0 for 80 operations");
    let mut v = consistent("v", 80);
    v.measured_s = -1.0;
    refused(v, "measured_s = -1");
    let mut v = consistent("v", 0);
    (v.measured_s, v.timeline) = (0.0, Vec::new());
    checked(vec![v]).unwrap();
    // Review of 2026-12-03: `compare` read 1e20 s that `merge` refused.
    let mut v = consistent("v", 80);
    v.measured_s = 1e20;
    refused(v, "measured_s = 100000000000000000000");
}

/// Review of 2026-12-03: a hand-edited throughput was compared as measured.
#[test]
fn a_throughput_that_is_not_ok_per_second_is_refused() {
    let mut v = consistent("v", 80);
    v.throughput_ops_s = 1e12;
    refused(
        v,
        "throughput_ops_s = 1000000000000 but operations.ok / measured_s",
    );
}

/// Review of 2026-12-03: a hand-edited p99 of -5 ms was compared as a change of -2174.7%.
#[test]
fn latency_statistics_that_are_no_latency_are_refused() {
    let mut v = consistent("v", 80);
    v.latency_ms.operation.p99 = -5.0;
    refused(v, "latency_ms.operation.p99 = -5 is not a latency");
    let mut v = consistent("v", 80);
    v.latency_ms.acquire.max = f64::INFINITY;
    refused(v, "latency_ms.acquire.max = inf is not a latency");
}

#[test]
fn duplicate_and_overlong_variant_names_are_refused() {
    let e = checked(vec![consistent("v", 1), consistent("v", 2)]).unwrap_err();
    assert_eq!(
        e,
        "r.json: variant `v` appears twice: its numbers would be counted twice"
    );
    let long = "é".repeat(MAX_NAME_CHARS + 1);
    let e = checked(vec![consistent(&long, 1)]).unwrap_err();
    assert!(e.contains("a variant name of 201 characters"), "{e}");
    checked(vec![consistent(&"é".repeat(MAX_NAME_CHARS), 1)]).unwrap();
}

#[test]
fn a_histogram_holding_more_than_any_run_is_refused() {
    let mut h = histogram::new();
    h.record_n(1000, (1u64 << 62) + 1).unwrap();
    let mut v = consistent("v", 80);
    v.latency_ms.acquire.hdr = histogram::encode(&h);
    v.latency_ms.acquire.count = (1u64 << 62) + 1;
    refused(v, "cannot come from a run");
}

#[test]
fn the_committed_baselines_are_consistent() {
    let mut read = 0;
    for entry in std::fs::read_dir("reports/baselines").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            crate::report::json::read_strict(&path).unwrap();
            read += 1;
        }
    }
    assert!(read > 0, "no baseline found");
}

/// `operations.failed_by_workload` must add up to `failed` and name the report's workloads;
/// an older report without it is read.
#[test]
fn failures_by_workload_must_add_up() {
    let with = |ok: u64, failed: &[(&str, u64)]| {
        let mut v = consistent("v", 80);
        v.latency_ms
            .by_workload
            .insert("chat".into(), v.latency_ms.operation.clone());
        v.latency_ms.by_workload.get_mut("chat").unwrap().count = ok;
        v.operations.failed_by_workload = failed.iter().map(|(w, n)| (w.to_string(), *n)).collect();
        v
    };
    checked(vec![with(80, &[])]).unwrap();
    checked(vec![with(80, &[("chat", 0)])]).unwrap();
    refused(
        with(80, &[("chat", 2)]),
        "operations.failed_by_workload does not add up to operations.failed (0)",
    );
    refused(
        with(80, &[("chat", 0), ("dashboard", 0)]),
        "names `dashboard`, which latency_ms.by_workload does not",
    );
    let mut partial = with(80, &[("chat", 0)]);
    let mut none = partial.latency_ms.by_workload["chat"].clone();
    (none.count, none.hdr) = (0, hdr(0));
    partial.latency_ms.by_workload.insert("feed".into(), none);
    refused(partial, "leaves out workload `feed`");
}

/// Review of 2026-12-03: a timeline of 60 entries on a 4 s run, and a second given twice,
/// were read (and merged).
#[test]
fn timeline_entries_are_in_order_and_within_the_measured_phase() {
    let mut v = consistent("v", 80);
    v.timeline.swap(0, 1);
    refused(v, "timeline entry at t_ms = 1000 comes after t_ms = 2000");
    let mut v = consistent("v", 80);
    v.timeline[1].t_ms = 60_000;
    refused(
        v,
        "timeline entry at t_ms = 60000 is past the measured phase (1 s)",
    );
}
