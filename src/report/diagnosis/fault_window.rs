//! `cost.fault_window` and `outage`: failures and waits in time, attributed to the fault whose
//! window they fell in (`faults[].effect`, `outages.windows`), not to the pool.
//!
//! Thresholds:
//! - a fault gets `cost.fault_window` when its window held at least one failed operation or an
//!   acquire that waited at least [`MIN_WAIT_MS`] from the fault on;
//! - `pool.unfair_waits` is withdrawn when a fault's window holds the run's longest acquire: its
//!   longest wait from the fault on is at least [`CLAIM_SHARE`] of `latency_ms.acquire.max`;
//! - an outage window no fault explains gets an `outage` finding;
//! - a window's failures are called an artefact of pacing when tasks retried at once
//!   (`on_failure = "think"` with no `think_time`) and the count error rate is at least
//!   [`ARTEFACT_RATIO`] times the time error rate.

use super::ms;
use crate::report::model::{FaultEvent, Finding, OutageWindow, Outages, VariantReport};
use crate::scenario::model::{OnFailure, Settings};

pub const MIN_WAIT_MS: f64 = 100.0;
pub const CLAIM_SHARE: f64 = 0.5;
pub const ARTEFACT_RATIO: f64 = 2.0;

fn classes(errors: &std::collections::BTreeMap<crate::record::errors::ErrorClass, u64>) -> String {
    let mut v: Vec<_> = errors.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1));
    v.iter()
        .map(|(c, n)| format!("{} {n}", c.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn window_words(w: &OutageWindow) -> String {
    format!(
        "outage {}–{} ms ({}, {} of {} task(s) failing at once, {:.2} failing task-seconds, {} failed: {}; {})",
        w.start_ms,
        w.start_ms + w.length_ms.round() as u64,
        ms(w.length_ms),
        w.peak_tasks_failing,
        w.tasks,
        w.failing_task_s,
        w.failed,
        classes(&w.errors),
        w.recovered_by
    )
}

/// Whether tasks retried a failure at once, so counts overstate an outage.
fn unpaced(settings: &Settings) -> bool {
    settings.load.on_failure == OnFailure::Think && settings.load.think_time.is_zero()
}

fn rates(o: &Outages, settings: &Settings) -> String {
    let mut s = format!(
        " Error rate by time {:.1}% of the measured phase in outage, by count {:.1}% of operations.",
        o.time_share * 100.0,
        o.count_share * 100.0
    );
    if unpaced(settings) && o.count_share >= ARTEFACT_RATIO * o.time_share && o.count_share > 0.0 {
        s.push_str(
            " The count is an artefact of tasks that retried at once after each failure \
             (on_failure = \"think\" with no think_time), not of more trouble.",
        );
    }
    s
}

fn fault_finding(
    i: usize,
    f: &FaultEvent,
    r: &VariantReport,
    settings: &Settings,
) -> Option<Finding> {
    let e = f.effect.as_ref()?;
    if e.failed == 0 && e.longest_wait_ms < MIN_WAIT_MS {
        return None;
    }
    let mut finding = format!(
        "The {} fault due at {} ms (fired at {} ms) affected {} task(s) for {}: {}. Inside its window \
         {} operation(s) failed{} and tasks waited {} for connections in all, the longest {}.",
        f.kind,
        f.scheduled_ms,
        f.at_ms,
        e.tasks,
        ms(e.lasted_ms),
        e.recovered_by,
        e.failed,
        if e.errors.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes(&e.errors))
        },
        ms(e.waited_ms),
        ms(e.longest_wait_ms)
    );
    if let Some(o) = &r.outages {
        let mine: Vec<String> = o
            .windows
            .iter()
            .filter(|w| w.fault == Some(i))
            .map(window_words)
            .collect();
        if !mine.is_empty() {
            finding.push_str(&format!(" Failures in time: {}.", mine.join("; ")));
            finding.push_str(&rates(o, settings));
        }
    }
    let pacing = if unpaced(settings) && e.failed > 0 {
        " Pace the failures as an application would (load.on_failure = { pause = \"10ms\" } or a \
         back-off) so the counts measure the outage, not the loop."
    } else {
        ""
    };
    Some(Finding {
        class: "cost.fault_window".into(),
        finding,
        advice: format!(
            "These waits and failures are the fault's, not the pool's: judge the pool outside this \
             window. To shorten what users see, fail fast while the server is away \
             (pool.connection_timeout) and retry with a back-off.{pacing}"
        ),
    })
}

/// The `cost.fault_window` and `outage` findings of a variant.
pub fn findings(r: &VariantReport, settings: &Settings) -> Vec<Finding> {
    let mut out: Vec<Finding> = r
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, f)| fault_finding(i, f, r, settings))
        .collect();
    let Some(o) = &r.outages else { return out };
    let orphans: Vec<String> = o
        .windows
        .iter()
        .filter(|w| w.fault.is_none())
        .map(window_words)
        .collect();
    if !orphans.is_empty() {
        out.push(Finding {
            class: "outage".into(),
            finding: format!(
                "{} outage window(s) with no injected fault: {}.{}",
                orphans.len(),
                orphans.join("; "),
                rates(o, settings)
            ),
            advice: "At least half the tasks failed at once here: look at what the server or the \
                     network did at those moments (its log, the timeline's errors by second)."
                .into(),
        });
    }
    out
}

/// Withdraws `pool.unfair_waits` when the longest acquire fell inside a fault's window.
pub fn claim(findings: &mut Vec<Finding>, r: &VariantReport) {
    let longest = r.latency_ms.acquire.max;
    let explained =
        r.faults.iter().filter_map(|f| f.effect.as_ref()).any(|e| {
            e.longest_wait_ms >= MIN_WAIT_MS && e.longest_wait_ms >= CLAIM_SHARE * longest
        });
    if explained {
        findings.retain(|f| f.class != "pool.unfair_waits");
    }
}
