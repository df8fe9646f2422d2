//! The merged variant's verdict and findings: every machine's checks at their strictest, the
//! first abort on the merged clock, and the diagnosis read against every machine's tasks and
//! pools. The one step after the merged variant's assembly (see `mod.rs`).

use super::super::diagnosis::{self, Context};
use super::super::model::*;
use super::super::verdict;
use super::Part;
use crate::scenario::model::Settings;

/// The verdict (the first report's checks, judged again) and the findings on the merged
/// numbers. Both read the measured sections through the report itself (`Metric::resolve`, the
/// diagnosis), so they are the one step after its assembly, as in [`super::build`]; nothing
/// reads the empty verdict and findings before it.
pub(super) fn judged(
    measured: VariantReport,
    parts: &[Part<'_>],
    offsets: &[u64],
    db: &DatabaseInfo,
) -> VariantReport {
    let aborted = first_abort(parts, offsets);
    let verdict = verdict::rejudge(&measured, &strictest(parts), aborted);
    let diagnosis = diagnosis::after_verdict(diagnose(&measured, parts, db), &verdict);
    VariantReport {
        verdict,
        diagnosis,
        ..measured
    }
}

/// The first machine to abort the variant, on the merged clock (review of 2026-12-03: a
/// machine's own `at_ms` was kept, 0.6 s early for one started 0.6 s late), naming it.
fn first_abort(parts: &[Part<'_>], offsets: &[u64]) -> Option<Aborted> {
    let (part, offset, a) = (parts.iter().zip(offsets))
        .filter_map(|(p, o)| Some((p, *o, p.variant.verdict.aborted.as_ref()?)))
        .min_by_key(|(_, o, a)| a.at_ms.saturating_add(*o))?;
    Some(Aborted {
        metric: a.metric.clone(),
        at_ms: a.at_ms.saturating_add(offset),
        detail: format!("on {}: {}", part.input.file.display(), a.detail),
    })
}

/// Every machine's checks, each metric once at its strictest limit. Review of 2026-12-03:
/// the first report's were used, so a first machine without checks made the merge pass.
fn strictest(parts: &[Part<'_>]) -> Vec<Check> {
    let mut out: Vec<Check> = Vec::new();
    for c in parts.iter().flat_map(|p| &p.variant.verdict.checks) {
        match out.iter_mut().find(|o| o.metric == c.metric) {
            None => out.push(c.clone()),
            Some(o) => {
                let stricter = match c.bound {
                    crate::metric::Direction::Max => c.limit < o.limit,
                    crate::metric::Direction::Min => c.limit > o.limit,
                };
                if stricter {
                    *o = c.clone();
                }
            }
        }
    }
    out
}

/// One machine's settings as the merged numbers see them: `machines` copies of the
/// application, each with its tasks, pools and arrival rate. Review of 2026-12-03: the merged
/// diagnosis divided two machines' throughput by one machine's tasks and pools, and advised a
/// pool twice the size each machine's own report did.
pub(super) fn fleet(one: &Settings, machines: usize) -> Settings {
    let n = u32::try_from(machines).unwrap_or(u32::MAX);
    let mut all = one.clone();
    all.load.tasks = all.load.tasks.saturating_mul(n);
    all.access.instances = all.access.instances.saturating_mul(n);
    all.load.rate = all.load.rate.map(|r| r * f64::from(n));
    all
}

/// The findings on the merged numbers; the machines' own (deduplicated by class) when the
/// settings cannot be read back.
fn diagnose(v: &VariantReport, parts: &[Part<'_>], db: &DatabaseInfo) -> Vec<Finding> {
    if let Some(one) = v.settings.typed() {
        let settings = &fleet(one, v.machines.len().max(1));
        let cx = Context {
            settings,
            max_connections: db.max_connections,
            reserved_connections: db.superuser_reserved_connections,
            superuser: db.superuser,
        };
        return diagnosis::diagnose(v, &cx);
    }
    let mut out: Vec<Finding> = Vec::new();
    for f in parts.iter().flat_map(|p| &p.variant.diagnosis) {
        // The comparison across variants is made again on the merged report.
        if f.class != "comparison" && !out.iter().any(|o| o.class == f.class) {
            out.push(f.clone());
        }
    }
    out
}
