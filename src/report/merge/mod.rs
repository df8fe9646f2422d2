//! `stress merge`: the reports of one scenario run at the same time on several machines (a
//! Kubernetes Indexed Job, a CI matrix), made into one report as if one machine had produced
//! the whole load.
//!
//! - Totals, error classes (with their SQLSTATEs) and counters are summed; anomalies too,
//!   when every machine measured them.
//! - Latencies are merged exactly: each HdrHistogram is decoded, added, re-encoded and
//!   summarized again ([`timeline::latency`]); percentiles are never averaged.
//! - Timelines are aligned on wall-clock seconds (each variant's `started_at`, else the
//!   report's) with their interval histograms merged ([`timeline::merge`]). The merged
//!   measured phase runs from the earliest machine's start to the latest one's end, and
//!   throughput is the summed successes over it.
//! - Peaks (in use, waiting, backends) are not summed, since machines peak at different
//!   moments: `pool` and `server` keep the highest machine's, `machines` lists each one's, and
//!   the merged timeline shows what was in use at once, second by second.
//! - `machines` also holds each machine's contribution: its operations, measured phase,
//!   throughput and p99, as its own report had them.
//! - The diagnosis and the verdict are computed again on the merged numbers (`judge.rs`), with
//!   every machine's checks of each variant at their strictest (a warning says so when the
//!   machines' differ).

mod guard;
mod judge;
mod outages;
mod sections;
pub(crate) mod timeline;

pub(crate) use guard::MAX_COUNT;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::compare;
use super::diagnosis;
use super::model::*;
use super::verdict;
use judge::judged;
use sections::{anomalies, errors, isolation, leaks, operations, pool, writes};

/// Why reports cannot be merged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("{}: {message}", file.display())]
    Input { file: PathBuf, message: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Data(String),
}

/// A report to merge, and the file it was read from.
pub(crate) struct Input {
    pub(crate) file: PathBuf,
    pub(crate) report: Report,
}

/// One machine's variant, with where its measured phase started.
struct Part<'a> {
    input: &'a Input,
    start: SystemTime,
    variant: &'a VariantReport,
}

fn parse_time(input: &Input, what: &str, text: &str) -> Result<SystemTime, MergeError> {
    humantime::parse_rfc3339(text).map_err(|e| MergeError::Input {
        file: input.file.clone(),
        message: format!("{what}: {text:?} is not an RFC 3339 time: {e}"),
    })
}

/// Merges reports of one scenario; with `force`, also of different settings (said in every
/// variant's warnings).
pub(crate) fn merge(inputs: &[Input], force: bool) -> Result<Report, MergeError> {
    let first = inputs
        .first()
        .ok_or_else(|| MergeError::Mismatch("nothing to merge".into()))?;
    guard::check(inputs)?;
    let mut notes = Vec::new();
    for other in &inputs[1..] {
        if let Err(m) = compare::same_scenario(&first.report.scenario, &other.report.scenario) {
            let why = format!("{} and {}: {m}", first.file.display(), other.file.display());
            if !force {
                return Err(MergeError::Mismatch(format!(
                    "{why}\n  (pass --force to merge anyway)"
                )));
            }
            notes.push(format!("merged with --force although {why}"));
        }
    }
    let mut names: Vec<&str> = Vec::new();
    for input in inputs {
        for v in &input.report.variants {
            if !names.contains(&v.name.as_str()) {
                names.push(&v.name);
            }
        }
    }
    let mut variants = Vec::new();
    for name in names {
        let mut parts = Vec::new();
        for input in inputs {
            if let Some(v) = input.report.variants.iter().find(|v| v.name == name) {
                let start = v.started_at.as_deref().unwrap_or(&input.report.started_at);
                parts.push(Part {
                    input,
                    start: parse_time(input, "started_at", start)?,
                    variant: v,
                });
            }
        }
        let extra = Extra {
            notes: &notes,
            machines: inputs.len(),
        };
        variants.push(variant(&parts, &first.report.database, &extra)?);
    }
    report(inputs, variants)
}

/// The merged report, assembled once its variants are: the findings across them, then the
/// scenario's verdict.
fn report(inputs: &[Input], variants: Vec<VariantReport>) -> Result<Report, MergeError> {
    let variants = diagnosis::conclude(variants);
    let first = &inputs[0].report;
    let mut starts = Vec::new();
    for input in inputs {
        starts.push(parse_time(input, "started_at", &input.report.started_at)?);
    }
    let earliest = starts
        .iter()
        .min()
        .copied()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // Cores add up over distinct hosts only: two runs on one 2-core machine have 2 (review
    // of 2026-12-03: they read 4).
    let mut hosts: Vec<&str> = Vec::new();
    let mut cores = 0u32;
    for input in inputs {
        if !hosts.contains(&input.report.environment.host.as_str()) {
            hosts.push(&input.report.environment.host);
            cores = cores.saturating_add(input.report.environment.cores);
        }
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "stress".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_id: inputs
            .iter()
            .map(|i| i.report.run_id.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        scenario: ScenarioInfo {
            variants_left_out: left_out(inputs, &variants),
            ..first.scenario.clone()
        },
        started_at: humantime::format_rfc3339_millis(earliest).to_string(),
        interrupted: inputs.iter().any(|i| i.report.interrupted),
        environment: Environment {
            host: hosts.join(", "),
            cores,
            ..first.environment.clone()
        },
        database: first.database.clone(),
        verdict: verdict::overall(&variants),
        variants,
        merged_from: inputs.iter().flat_map(sources).collect(),
    })
}

/// The variants no machine ran because its `--variant` left them out (review of 2026-12-03:
/// the first report's list was copied, naming a variant another machine ran, and the merged
/// report was then refused by `stress report` and `compare`). `None` when no report says.
fn left_out(inputs: &[Input], merged: &[VariantReport]) -> Option<Vec<String>> {
    let lists: Vec<&Vec<String>> = (inputs.iter())
        .filter_map(|i| i.report.scenario.variants_left_out.as_ref())
        .collect();
    let first = lists.first()?;
    let by_all = first.iter().filter(|n| lists.iter().all(|l| l.contains(n)));
    Some(
        by_all
            .filter(|n| !merged.iter().any(|v| &v.name == *n))
            .cloned()
            .collect(),
    )
}

/// The runs an input holds: itself, or, when it is a merge, the runs it was merged from (review
/// of 2026-12-03: a merged input was one source named `a+b`, so merging it again with `b`
/// counted `b` twice unseen).
fn sources(i: &Input) -> Vec<MergedSource> {
    match i.report.merged_from.is_empty() {
        true => vec![MergedSource {
            run_id: i.report.run_id.clone(),
            host: i.report.environment.host.clone(),
            started_at: i.report.started_at.clone(),
            file: i.file.display().to_string(),
        }],
        false => i.report.merged_from.clone(),
    }
}

fn ms_between(later: SystemTime, earlier: SystemTime) -> u64 {
    later
        .duration_since(earlier)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// Where each machine's measured phase ended; an error for a length no run can have.
fn ends(parts: &[Part<'_>]) -> Result<Vec<SystemTime>, MergeError> {
    parts
        .iter()
        .map(|p| {
            Duration::try_from_secs_f64(p.variant.measured_s)
                .ok()
                .and_then(|d| p.start.checked_add(d))
                .ok_or_else(|| MergeError::Input {
                    file: p.input.file.clone(),
                    message: format!(
                        "variant `{}`: measured_s = {} is not a length of time",
                        p.variant.name, p.variant.measured_s
                    ),
                })
        })
        .collect()
}

/// Refuses machines whose measured phases did not overlap: they did not run one load.
fn overlapping(parts: &[Part<'_>], ends: &[SystemTime]) -> Result<(), MergeError> {
    let latest_start = parts.iter().map(|p| p.start).max();
    let earliest_end = ends.iter().min().copied();
    match (latest_start, earliest_end) {
        (Some(s), Some(e)) if s > e => Err(MergeError::Mismatch(format!(
            "variant `{}`: the machines did not run at the same time (one had finished {:.1} s \
             before another started); merge is for one load split over machines at once",
            parts[0].variant.name,
            s.duration_since(e).unwrap_or_default().as_secs_f64()
        ))),
        _ => Ok(()),
    }
}

/// What a merged variant's warnings add to its machines': the notes on the whole merge, and
/// how many machines were merged.
struct Extra<'a> {
    notes: &'a [String],
    machines: usize,
}

/// Where the machines' measured phases lie in the merged one.
struct Span {
    /// Milliseconds from the merged origin to each machine's start.
    offsets: Vec<u64>,
    origin: SystemTime,
    measured_s: f64,
}

fn span(parts: &[Part<'_>]) -> Result<Span, MergeError> {
    let origin = parts
        .iter()
        .map(|p| p.start)
        .min()
        .expect("one part at least");
    let ends = ends(parts)?;
    overlapping(parts, &ends)?;
    let end = ends.iter().max().copied().expect("one part at least");
    Ok(Span {
        offsets: parts.iter().map(|p| ms_between(p.start, origin)).collect(),
        origin,
        measured_s: end.duration_since(origin).unwrap_or_default().as_secs_f64(),
    })
}

fn variant(
    parts: &[Part<'_>],
    database: &DatabaseInfo,
    extra: &Extra<'_>,
) -> Result<VariantReport, MergeError> {
    let first = parts[0].variant;
    let Span {
        offsets,
        origin,
        measured_s,
    } = span(parts)?;
    let operations = operations(parts);
    let ok = operations.ok;
    let faults = faults(parts, &offsets);
    let timeline = merged_timeline(parts, &offsets)?;
    let whole = outages::Whole {
        faults: &faults,
        operations: &operations,
        measured_s,
    };
    let machine_reports: Vec<&VariantReport> = parts.iter().map(|p| p.variant).collect();
    let outages = outages::merged(&machine_reports, &offsets, &whole);
    let measured = VariantReport {
        name: first.name.clone(),
        settings: first.settings.clone(),
        settings_sha256: first.settings_sha256.clone(),
        seed: first.seed,
        operations,
        measured_s,
        throughput_ops_s: if measured_s > 0.0 {
            ok as f64 / measured_s
        } else {
            0.0
        },
        latency_ms: latency(parts)?,
        errors: errors(parts, &offsets),
        anomalies: anomalies(parts),
        pool: pool(parts),
        server: server(parts),
        pooler: crate::report::pooler::stats(timeline.iter().filter_map(|e| e.pooler.as_ref())),
        faults,
        outages,
        isolation: isolation(parts),
        cancelled_tasks: super::race_sections::merge_cancelled(parts.iter().map(|p| p.variant)),
        writes: writes(parts),
        leaks: leaks(parts),
        timeline,
        // Judged below, on these merged sections.
        diagnosis: Vec::new(),
        verdict: VariantVerdict::default(),
        warnings: warnings(parts, extra),
        started_at: Some(humantime::format_rfc3339_millis(origin).to_string()),
        machines: machines(parts),
        harness: busiest_harness(parts),
        server_version: first.server_version.clone(),
    };
    Ok(judged(measured, parts, &offsets, database))
}

/// The busiest machine's harness: one saturated harness is enough to doubt the figures.
fn busiest_harness(parts: &[Part<'_>]) -> Option<crate::report::model::Harness> {
    parts
        .iter()
        .filter_map(|p| p.variant.harness.clone())
        .max_by(|a, b| a.utilization.total_cmp(&b.utilization))
}

/// The server's peaks: the highest machine's (they may not have peaked at once).
fn server(parts: &[Part<'_>]) -> ServerStats {
    ServerStats {
        peak_backends: max(parts, |v| v.server.peak_backends),
        peak_idle_in_transaction: max(parts, |v| v.server.peak_idle_in_transaction),
        longest_idle_in_transaction_ms: max(parts, |v| v.server.longest_idle_in_transaction_ms),
        seconds_with_idle_in_transaction: max(parts, |v| v.server.seconds_with_idle_in_transaction),
    }
}

fn merged_timeline(parts: &[Part<'_>], offsets: &[u64]) -> Result<Vec<TimelineEntry>, MergeError> {
    let name = &parts[0].variant.name;
    let parts: Vec<timeline::Part<'_>> = parts
        .iter()
        .zip(offsets)
        .map(|(p, o)| timeline::Part {
            offset_ms: i64::try_from(*o).unwrap_or(i64::MAX),
            entries: &p.variant.timeline,
        })
        .collect();
    timeline::merge(name, &parts)
}

fn max(parts: &[Part<'_>], f: fn(&VariantReport) -> u64) -> u64 {
    parts.iter().map(|p| f(p.variant)).max().unwrap_or(0)
}

/// Saturating: [`guard`] keeps real sums far below the limit, and a sum is never a panic.
fn sum(parts: &[Part<'_>], f: fn(&VariantReport) -> u64) -> u64 {
    parts
        .iter()
        .fold(0u64, |n, p| n.saturating_add(f(p.variant)))
}

fn latency(parts: &[Part<'_>]) -> Result<Latency, MergeError> {
    let name = &parts[0].variant.name;
    let merge = |what: &str, pick: fn(&Latency) -> &LatencySummary| {
        timeline::latency(
            &format!("variant `{name}`: latency_ms.{what}"),
            parts.iter().map(|p| pick(&p.variant.latency_ms)),
        )
    };
    let mut workloads: Vec<&String> = Vec::new();
    for p in parts {
        workloads.extend(p.variant.latency_ms.by_workload.keys());
    }
    workloads.sort();
    workloads.dedup();
    let mut by_workload = BTreeMap::new();
    for w in workloads {
        let summaries = parts
            .iter()
            .filter_map(|p| p.variant.latency_ms.by_workload.get(w));
        let what = format!("variant `{name}`: latency_ms.by_workload.{w}");
        by_workload.insert(w.clone(), timeline::latency(&what, summaries)?);
    }
    Ok(Latency {
        operation: merge("operation", |l| &l.operation)?,
        failed: merge("failed", |l| &l.failed)?,
        acquire: merge("acquire", |l| &l.acquire)?,
        hold: merge("hold", |l| &l.hold)?,
        by_workload,
    })
}

fn host(p: &Part<'_>) -> String {
    let env = &p.input.report.environment;
    format!("{} (run {})", env.host, p.input.report.run_id)
}

fn faults(parts: &[Part<'_>], offsets: &[u64]) -> Vec<FaultEvent> {
    let mut out: Vec<FaultEvent> = parts
        .iter()
        .zip(offsets)
        .flat_map(|(p, offset)| {
            p.variant.faults.iter().map(move |f| FaultEvent {
                at_ms: f.at_ms.saturating_add(*offset),
                scheduled_ms: f.scheduled_ms.saturating_add(*offset),
                detail: format!("{}: {}", host(p), f.detail),
                effect: f.effect.clone().map(|mut e| {
                    e.recovered_at_ms = e.recovered_at_ms.map(|r| r.saturating_add(*offset));
                    e.recovered_by = outages::shift_times(&e.recovered_by, *offset);
                    e
                }),
                ..f.clone()
            })
        })
        .collect();
    out.sort_by_key(|f| f.at_ms);
    out
}

/// Each machine's warnings, one when the machines held the variant to different expectations
/// (`[expect]` is not in the settings hash: the merged verdict takes the strictest), then the
/// notes on the whole merge, and one when the variant ran on some of the machines only.
fn warnings(parts: &[Part<'_>], extra: &Extra<'_>) -> Vec<String> {
    let mut out: Vec<String> = parts
        .iter()
        .flat_map(|p| {
            p.variant
                .warnings
                .iter()
                .map(move |w| format!("{}: {w}", host(p)))
        })
        .collect();
    let limits = |v: &VariantReport| -> Vec<(String, u64)> {
        let checks = &v.verdict.checks;
        checks
            .iter()
            .map(|c| (c.metric.clone(), c.limit.to_bits()))
            .collect()
    };
    let first = &parts[0];
    for p in &parts[1..] {
        if limits(p.variant) != limits(first.variant) {
            out.push(format!(
                "{} held this variant to other expectations than {}; the merged verdict holds \
                 it to every check of either, at the stricter limit",
                host(p),
                host(first),
            ));
        }
    }
    out.extend(extra.notes.iter().cloned());
    if parts.len() < extra.machines {
        out.push(format!(
            "ran on {} of the {} merged machines",
            parts.len(),
            extra.machines
        ));
    }
    out
}

/// A row per machine; a merged input brings its own rows (review of 2026-12-03: it was one
/// row named `a+b`, and each machine's figures were lost).
fn machines(parts: &[Part<'_>]) -> Vec<MachinePeaks> {
    parts
        .iter()
        .flat_map(|p| match p.variant.machines.is_empty() {
            true => vec![machine(p)],
            false => p.variant.machines.clone(),
        })
        .collect()
}

fn machine(p: &Part<'_>) -> MachinePeaks {
    MachinePeaks {
        run_id: p.input.report.run_id.clone(),
        host: p.input.report.environment.host.clone(),
        peak_in_use: p.variant.pool.peak_in_use,
        peak_waiting: p.variant.pool.peak_waiting,
        peak_backends: p.variant.server.peak_backends,
        peak_idle_in_transaction: p.variant.server.peak_idle_in_transaction,
        totals: Some(MachineTotals {
            operations: p.variant.operations.clone(),
            measured_s: p.variant.measured_s,
            throughput_ops_s: p.variant.throughput_ops_s,
            operation_p99_ms: p.variant.latency_ms.operation.p99,
        }),
    }
}

#[cfg(test)]
mod tests;
