//! The race counters of a variant in its report ([`sections`]), and how those parts of several
//! machines' reports merge. Apart from the [`super::races`] types so that the report model,
//! which holds those types, is below the code that fills it.

use std::collections::BTreeMap;

use super::model::VariantReport;
use super::races::CancelledTasks;
use crate::access::races::RaceCounts;
use crate::record::errors::ErrorClass;
use crate::scenario::model::{AccessMode, Builtin, FaultKind, ResetOnReturn, Settings};

/// The race counters' parts of a variant's report. Each is present (even when 0) only when the
/// scenario measures it, so that a check on one that was not measured never passes as 0. The
/// advisory locks held at the end are read for every run (a user's workload may take them).
pub(crate) struct RaceSections {
    pub(crate) session_state_leaked: Option<u64>,
    pub(crate) advisory_unlock_failed: Option<u64>,
    pub(crate) advisory_locks_held: Option<u64>,
    pub(crate) resets: Option<u64>,
    pub(crate) reset_failures: BTreeMap<ErrorClass, u64>,
    pub(crate) cancelled_tasks: Option<CancelledTasks>,
}

/// The race counters of a variant, as its report shows them.
pub(crate) fn sections(settings: &Settings, c: &RaceCounts) -> RaceSections {
    let builtin = |b: Builtin| settings.workload.iter().any(|w| w.builtin == Some(b));
    let advisory = builtin(Builtin::AdvisoryLock) || builtin(Builtin::AdvisoryXactLock);
    let resetting = settings.access.mode == AccessMode::Pool
        && settings.pool.reset_on_return != ResetOnReturn::None;
    let cancelling = (settings.fault.iter()).any(|f| f.kind == FaultKind::CancelTasks);
    RaceSections {
        session_state_leaked: builtin(Builtin::SessionState).then_some(c.session_state_leaked),
        advisory_unlock_failed: advisory.then_some(c.advisory_unlock_failed),
        advisory_locks_held: c.advisory_locks_held,
        resets: resetting.then_some(c.resets),
        reset_failures: c.reset_failures.clone(),
        cancelled_tasks: cancelling.then(|| CancelledTasks::from_counts(c)),
    }
}

/// The machines' cancelled tasks, summed (absent when no machine had any).
pub(crate) fn merge_cancelled<'a>(
    variants: impl Iterator<Item = &'a VariantReport>,
) -> Option<CancelledTasks> {
    let mut out: Option<CancelledTasks> = None;
    for c in variants.filter_map(|v| v.cancelled_tasks.as_ref()) {
        let o = out.get_or_insert_with(CancelledTasks::default);
        o.cancelled += c.cancelled;
        o.in_transaction += c.in_transaction;
        o.statement_in_flight += c.statement_in_flight;
    }
    out
}

/// The machines' failed resets on return, summed by class.
pub(crate) fn merge_reset_failures<'a>(
    variants: impl Iterator<Item = &'a VariantReport>,
) -> BTreeMap<ErrorClass, u64> {
    let mut out = BTreeMap::new();
    for v in variants {
        for (class, n) in &v.pool.reset_failures {
            *out.entry(*class).or_default() += n;
        }
    }
    out
}
