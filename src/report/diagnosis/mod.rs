//! Findings and advice built from a variant's own numbers: one per error class present
//! ([`classes`]), one per anomaly seen ([`anomalies`]), one per cost found ([`cost`]), or one
//! saying the variant ran clean, or measured nothing (`not_measured`). Once the verdict is known
//! ([`across`]), a variant that failed a check never reads "nothing to fix", and a report of
//! several variants gets one finding that compares them. Every finding quotes this run's
//! figures, so it can be checked against the report.

mod across;
mod anomalies;
mod classes;
pub(crate) mod cost;
mod fault_window;
mod harness;
mod load;
#[cfg(test)]
mod model_words_tests;
mod pooler;
mod races;
mod server_races;

pub(crate) use across::{after_verdict, conclude};

use super::model::{Finding, VariantReport};
use crate::scenario::model::Settings;

/// What the diagnosis needs beyond the report.
pub(crate) struct Context<'a> {
    pub(crate) settings: &'a Settings,
    pub(crate) max_connections: u32,
    pub(crate) reserved_connections: u32,
    /// Whether the load connected as a superuser (who may use the reserved slots too).
    pub(crate) superuser: bool,
}

impl Context<'_> {
    /// Connections the server lets this role open.
    pub(crate) fn usable_connections(&self) -> u32 {
        if self.superuser {
            self.max_connections
        } else {
            self.max_connections
                .saturating_sub(self.reserved_connections)
        }
    }
}

/// Milliseconds for people: `0.42 ms`, `12.50 ms`, `310 ms`.
pub(crate) fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// `part` of `whole` as a percentage with the digits to be non-zero: 2 of 12,391 is `0.016%`.
pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    crate::metric::format_pct(part as f64 / whole as f64, 1)
}

/// Findings for a variant: error classes (most frequent first), anomalies, then costs; a clean
/// run gets one finding that says so, a run that measured no operation one that says that.
pub(crate) fn diagnose(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = classes::findings(r, cx);
    findings.extend(anomalies::findings(r, cx));
    findings.extend(races::findings(r, cx));
    if r.operations.total == 0 {
        findings.push(not_measured(r, cx));
        return findings;
    }
    findings.extend(cost::findings(r, cx));
    findings.extend(fault_window::findings(r, cx.settings));
    findings.extend(pooler::session_state(r, cx));
    findings.extend(load::dropped(r, cx.settings));
    findings.extend(load::overran(r, cx.settings));
    if findings.is_empty() {
        findings.push(clean(r));
    }
    // Beside `clean` too: every operation may have succeeded at a rate the harness capped.
    findings.extend(harness::finding(r));
    findings
}

/// No operation ended in the measured phase (an interrupt during warmup, say): nothing to judge.
fn not_measured(r: &VariantReport, cx: &Context<'_>) -> Finding {
    Finding {
        class: "not_measured".into(),
        finding: format!(
            "No operation was measured: the measured phase lasted {:.2} s and no operation ended in it \
             ({} dropped arrivals).",
            r.measured_s, r.operations.dropped
        ),
        advice: format!(
            "Nothing can be judged from this variant: run it again and let the load get past its warmup \
             ({}) into the measured phase.",
            humantime::format_duration(cx.settings.load.warmup)
        ),
    }
}

fn clean(r: &VariantReport) -> Finding {
    let mut finding = format!(
        "All {} operations succeeded: {:.0} ops/s, operation p99 {}, acquire p99 {}; no anomaly seen.",
        r.operations.ok,
        r.throughput_ops_s,
        ms(r.latency_ms.operation.p99),
        ms(r.latency_ms.acquire.p99)
    );
    if let Some(w) = &r.writes {
        finding.push_str(&format!(
            " The ledger holds every one of the {} acknowledged writes.",
            w.acknowledged
        ));
    }
    Finding {
        class: "clean".into(),
        finding,
        advice: match r.settings.typed().and_then(|s| s.load.rate) {
            Some(_) => {
                "Nothing to fix at this load. Raise load.rate (and load.tasks with it) to \
                        find where it breaks."
            }
            None => {
                "Nothing to fix at this load. Raise load.tasks or shorten think_time to find \
                     where it breaks."
            }
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn settings() -> Settings {
        fixtures::settings("")
    }

    #[test]
    fn a_starved_waiter_is_reported_with_the_run_numbers() {
        let settings = settings();
        let cx = Context {
            settings: &settings,
            max_connections: 100,
            reserved_connections: 3,
            superuser: true,
        };
        let mut v = fixtures::variant("v", 1000, 0, serde_json::json!({}));
        v.pool.peak_waiting = 4;
        v.latency_ms.acquire.p99 = 0.04;
        v.latency_ms.acquire.max = 2870.0;
        let f = diagnose(&v, &cx);
        let unfair = f
            .iter()
            .find(|f| f.class == "pool.unfair_waits")
            .expect("reported");
        assert!(
            unfair.finding.contains("0.04 ms") && unfair.finding.contains("2870 ms"),
            "{}",
            unfair.finding
        );
        assert!(
            unfair.finding.contains("up to 4 tasks waiting"),
            "{}",
            unfair.finding
        );
        v.latency_ms.acquire.max = 100.0;
        assert!(
            diagnose(&v, &cx)
                .iter()
                .all(|f| f.class != "pool.unfair_waits")
        );
    }

    #[test]
    fn usable_connections_depend_on_the_role() {
        let settings = settings();
        let mut cx = Context {
            settings: &settings,
            max_connections: 100,
            reserved_connections: 3,
            superuser: false,
        };
        assert_eq!(cx.usable_connections(), 97);
        cx.superuser = true;
        assert_eq!(cx.usable_connections(), 100);
    }
}
