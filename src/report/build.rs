//! Turning what a variant recorded into its report section.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::diagnosis::{self, Context};
use super::model::*;
use super::race_sections::{self, RaceSections};
use super::settings::VariantSettings;
use super::verdict;
use std::sync::atomic::Ordering;

use crate::access::PoolStatistics;
use crate::access::gauges::Gauges;
use crate::record::errors::ErrorClass;
use crate::record::histogram::{self, ms};
use crate::record::{Latencies, Totals};
use crate::scenario::Variant;
use crate::scenario::model::PoolModel;

/// Everything a variant's run produced, before it becomes a report.
pub(crate) struct VariantData<'a> {
    pub(crate) variant: &'a Variant,
    pub(crate) seed: u64,
    pub(crate) totals: Totals,
    pub(crate) measured: Duration,
    /// One entry per second of the measured phase.
    pub(crate) timeline: Vec<TimelineEntry>,
    pub(crate) gauges: &'a Gauges,
    pub(crate) pool: Option<PoolStatistics>,
    pub(crate) connect_errors: BTreeMap<ErrorClass, u64>,
    pub(crate) faults: Vec<FaultEvent>,
    /// The acknowledged-writes check, when a workload was verified.
    pub(crate) writes: Option<Writes>,
    /// What went wrong around the load (removing the ledger, a teardown statement).
    pub(crate) warnings: Vec<String>,
    pub(crate) server_max_connections: u32,
    pub(crate) server_reserved_connections: u32,
    pub(crate) server_superuser: bool,
    /// The harness's own CPU use during the load, when it could be read.
    pub(crate) harness: Option<super::model::Harness>,
    /// Which check stopped the variant early (`abort_on_fail`).
    pub(crate) aborted: Option<Aborted>,
    /// Wall-clock start of the measured phase (RFC 3339).
    pub(crate) started_at: String,
    /// The server's version, as it reports it.
    pub(crate) server_version: String,
}

/// Summary of a histogram in milliseconds, with the histogram itself.
pub(crate) fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary {
            hdr: histogram::encode(h),
            ..LatencySummary::default()
        };
    }
    LatencySummary {
        count: h.len(),
        min: ms(h.min()),
        mean: h.mean() / 1000.0,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
        hdr: histogram::encode(h),
    }
}

fn latency(l: &Latencies, names: &[String]) -> Latency {
    Latency {
        operation: summarize(&l.operation),
        failed: summarize(&l.failed),
        acquire: summarize(&l.acquire),
        hold: summarize(&l.hold),
        by_workload: names
            .iter()
            .zip(&l.by_workload)
            .map(|(n, h)| (n.clone(), summarize(h)))
            .collect(),
    }
}

fn operations(t: &Totals, names: &[String]) -> Operations {
    Operations {
        total: t.ok + t.failed,
        ok: t.ok,
        failed: t.failed,
        dropped: t.dropped,
        retried: t.extras.retried,
        retries: t.extras.retries,
        retries_exhausted: t.extras.retries_exhausted,
        failed_by_workload: names
            .iter()
            .cloned()
            .zip(t.latency.failed_by_workload.iter().copied())
            .collect(),
    }
}

fn isolation(data: &VariantData<'_>) -> Isolation {
    let g = data.gauges;
    Isolation {
        backends_used: g.backends_used.load(Ordering::Relaxed),
        max_operations_per_backend: g.max_per_backend.load(Ordering::Relaxed),
        after_dirty_return: data.totals.extras.after_dirty_return.clone(),
    }
}

fn server_stats(timeline: &[TimelineEntry]) -> ServerStats {
    let backends = || timeline.iter().filter_map(|e| e.server_backends.as_ref());
    ServerStats {
        peak_backends: backends().map(|s| s.total).max().unwrap_or(0),
        peak_idle_in_transaction: backends().map(|s| s.idle_in_transaction).max().unwrap_or(0),
        longest_idle_in_transaction_ms: backends()
            .map(|s| s.longest_idle_in_transaction_ms)
            .max()
            .unwrap_or(0),
        seconds_with_idle_in_transaction: backends().filter(|s| s.idle_in_transaction > 0).count()
            as u64,
    }
}

fn pool_stats(data: &VariantData<'_>, races: &RaceSections) -> PoolStats {
    let g = data.gauges.snapshot();
    let m = data.gauges.measured();
    let p = data.pool;
    PoolStats {
        peak_in_use: g.peak_in_use,
        peak_waiting: g.peak_waiting,
        connections_created: g.created,
        connections_closed: g.closed,
        closed_broken: g.broken,
        timed_out_gets: p.map_or(0, |p| p.get_timed_out),
        cut_by_close: m.cut_by_close,
        died_idle: data.totals.extras.died_idle,
        waited_gets: p.map(|p| p.get_waited),
        closed_invalid: p.map(|p| p.closed_invalid),
        closed_idle_timeout: p.map(|p| p.closed_idle_timeout),
        closed_max_lifetime: p.map(|p| p.closed_max_lifetime),
        closed_overflow: p
            .filter(|_| data.variant.settings.pool.model == PoolModel::Sqlalchemy)
            .map(|p| p.closed_overflow),
        connect_errors: data.connect_errors.clone(),
        resets: races.resets,
        reset_failures: races.reset_failures.clone(),
    }
}

fn leaks(data: &VariantData<'_>, names: &[String]) -> BTreeMap<String, Leak> {
    names
        .iter()
        .zip(&data.totals.extras.long_holds)
        .filter(|(_, (count, _))| *count > 0)
        .map(|(name, (count, longest))| {
            let leak = Leak {
                count: *count,
                longest_ms: longest.as_secs_f64() * 1000.0,
            };
            (name.clone(), leak)
        })
        .collect()
}

fn anomalies(data: &VariantData<'_>, races: &RaceSections) -> Anomalies {
    let m = data.gauges.measured();
    let leak_threshold = data.variant.settings.access.leak_threshold;
    Anomalies {
        transaction_interleaved: m.interleaved,
        returned_in_transaction: m.returned_in_transaction,
        lost_writes: data.writes.as_ref().map(|w| w.lost),
        phantom_writes: data.writes.as_ref().map(|w| w.phantom),
        leaks: leak_threshold.map(|_| data.totals.extras.long_holds.iter().map(|h| h.0).sum()),
        cancel_requests_misdirected: (data.variant.settings.fault.iter())
            .any(|f| f.kind == crate::scenario::model::FaultKind::CancelQueries)
            .then(|| data.gauges.cancels.misdirected()),
        session_state_leaked: races.session_state_leaked,
        advisory_unlock_failed: races.advisory_unlock_failed,
        advisory_locks_held: races.advisory_locks_held,
    }
}

/// `count` over `seconds`, 0 for no time.
fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// The report section of one variant, assembled once from what its run produced.
pub(crate) fn variant_report(mut data: VariantData<'_>) -> VariantReport {
    let settings = &data.variant.settings;
    let names: Vec<String> = (data.variant.plan.workloads.iter())
        .map(|w| w.name.clone())
        .collect();
    let races = race_sections::sections(settings, &data.gauges.races.measured());
    let t = &data.totals;
    let measured_s = data.measured.as_secs_f64();
    let timeline = std::mem::take(&mut data.timeline);
    let faults = std::mem::take(&mut data.faults);
    let tasks = u64::from(settings.load.tasks);
    let outages = super::outages::outages(t, tasks, data.measured, &faults);
    let measured = VariantReport {
        name: data.variant.name.clone(),
        settings: VariantSettings::of(settings),
        settings_sha256: data.variant.settings_sha256.clone(),
        seed: data.seed,
        operations: operations(t, &names),
        measured_s,
        throughput_ops_s: per_second(t.ok, measured_s),
        latency_ms: latency(&t.latency, &names),
        errors: t.errors.classes.clone(),
        anomalies: anomalies(&data, &races),
        pool: pool_stats(&data, &races),
        server: server_stats(&timeline),
        pooler: super::pooler::stats(timeline.iter().filter_map(|e| e.pooler.as_ref())),
        faults,
        outages: Some(outages),
        isolation: isolation(&data),
        cancelled_tasks: races.cancelled_tasks,
        writes: data.writes.take(),
        leaks: leaks(&data, &names),
        timeline,
        // Judged below, on the sections above.
        diagnosis: Vec::new(),
        verdict: VariantVerdict::default(),
        warnings: std::mem::take(&mut data.warnings),
        started_at: Some(std::mem::take(&mut data.started_at)),
        machines: Vec::new(),
        harness: data.harness.take(),
        server_version: std::mem::take(&mut data.server_version),
    };
    judged(measured, &data)
}

/// The verdict on `[expect]` and the findings. Both read the measured sections through the
/// report itself (`Metric::resolve` and the diagnosis take a [`VariantReport`]), so they are
/// the one step after its assembly: it returns the final section, and nothing reads the empty
/// verdict and findings before it. A merge judges its variants the same way
/// ([`super::merge`]).
fn judged(measured: VariantReport, data: &VariantData<'_>) -> VariantReport {
    let context = Context {
        settings: &data.variant.settings,
        max_connections: data.server_max_connections,
        reserved_connections: data.server_reserved_connections,
        superuser: data.server_superuser,
    };
    let verdict = verdict::judge(&measured, &data.variant.expect, data.aborted.clone());
    let findings = diagnosis::diagnose(&measured, &context);
    VariantReport {
        diagnosis: diagnosis::after_verdict(findings, &verdict),
        verdict,
        ..measured
    }
}
