//! A finding per silent race seen: no operation failed with it, yet something went wrong.

use super::{Context, ms, pct};
use crate::report::model::{Finding, VariantReport};
use crate::scenario::model::{AccessMode, ResetOnReturn};

pub(crate) fn findings(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    [
        lost_writes(r, cx),
        phantom_writes(r),
        interleaved(r, cx),
        returned_in_transaction(r, cx),
        leaks(r),
        retries(r, cx),
        unfair_waits(r, cx),
        super::server_races::misdirected_cancels(r, cx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// On a pooled run the way two tasks' transactions meet on one connection is a connection given
/// back inside a transaction, and the fix is the pool's reset, not "a pool" (review of
/// 2026-12-03: a cancelled task's pool race was told to stop sharing a connection).
fn pooled_cause(r: &VariantReport, cx: &Context<'_>) -> Option<(String, String)> {
    let (n, pool) = (r.anomalies.returned_in_transaction, &cx.settings.pool);
    let unreset = pool.model.is_bb8() && pool.reset_on_return == ResetOnReturn::None;
    if cx.settings.access.mode != AccessMode::Pool || n == 0 || !unreset {
        return None;
    }
    Some((
        format!(
            " On this pooled run {n} connection(s) went back to the pool inside a transaction: \
             their next users ran inside it."
        ),
        "Roll back a connection's transaction when it goes back to the pool \
         (pool.reset_on_return = \"rollback\"), so that no user inherits another's."
            .into(),
    ))
}

fn lost_writes(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let w = r.writes.as_ref().filter(|w| w.lost > 0)?;
    let pooled = pooled_cause(r, cx);
    Some(Finding {
        class: "anomalies.lost_writes".into(),
        finding: format!(
            "{} of {} writes acknowledged as committed ({}) are missing from the ledger: the client was told \
             COMMIT succeeded, and the data is gone. On this run {} operations were in flight on one backend at \
             once and the server warned {} time(s) about interleaved transactions: a COMMIT that ends an \
             aborted transaction returns no error.",
            w.lost,
            w.acknowledged,
            pct(w.lost, w.acknowledged),
            r.isolation.max_operations_per_backend,
            r.anomalies.transaction_interleaved
        ) + pooled.as_ref().map_or("", |p| &p.0),
        advice: pooled.map_or_else(
            || {
                "Give every transaction a connection of its own for its whole length (a pool), and \
                 never share one between tasks."
                    .into()
            },
            |p| p.1,
        ),
    })
}

fn phantom_writes(r: &VariantReport) -> Option<Finding> {
    let w = r.writes.as_ref().filter(|w| w.phantom > 0)?;
    Some(Finding {
        class: "anomalies.phantom_writes".into(),
        finding: format!(
            "{} of {} writes reported as failed are present in the ledger: another task's COMMIT (or the next \
             user of a connection given back inside a transaction) committed them.",
            w.phantom, w.failed
        ),
        advice: "Roll back a failed transaction on its own connection before anyone else can use it; never leave \
                 a transaction open on a connection that goes back to a pool."
            .into(),
    })
}

fn interleaved(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let n = r.anomalies.transaction_interleaved;
    let pooled = pooled_cause(r, cx);
    (n > 0).then(|| Finding {
        class: "anomalies.transaction_interleaved".into(),
        finding: format!(
            "The server warned {n} time(s) that a BEGIN met an open transaction or a COMMIT/ROLLBACK found none \
             (25001/25P01): transactions of different tasks ran on one connection, up to {} operations at once. \
             Such a COMMIT can end another task's transaction, and its writes then commit or vanish with it.",
            r.isolation.max_operations_per_backend
        ) + pooled.as_ref().map_or("", |p| &p.0),
        advice: pooled.map_or_else(
            || {
                "Never share a connection between tasks that use transactions: take a connection \
                 from a pool for the whole transaction."
                    .into()
            },
            |p| p.1,
        ),
    })
}

fn returned_in_transaction(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let n = r.anomalies.returned_in_transaction;
    if n == 0 || cx.settings.access.mode != AccessMode::Pool {
        return None;
    }
    // Reset on return (the model's own, or `reset_on_return`) and no next user inherited one:
    // nothing to fix.
    let pool = &cx.settings.pool;
    let reset = pool.resets_on_return();
    if reset && r.isolation.after_dirty_return.is_empty() {
        return None;
    }
    let met: Vec<String> = r
        .isolation
        .after_dirty_return
        .iter()
        .map(|(what, count)| format!("{count} {what}"))
        .collect();
    Some(Finding {
        class: "anomalies.returned_in_transaction".into(),
        finding: format!(
            "{n} pooled connection(s) went back to the pool inside an open transaction (an operation abandoned \
             mid-transaction, by op_timeout say); {}. Their next users met: {}. \
             Backends sat idle in a transaction for up to {} ms (peak {} at once).",
            if reset {
                format!("{} reset them on return", pool.words().library)
            } else {
                format!(
                    "{} did not reset them (reset_on_return = \"none\")",
                    pool.words().library
                )
            },
            if met.is_empty() { "nothing yet".to_string() } else { met.join(", ") },
            r.server.longest_idle_in_transaction_ms,
            r.server.peak_idle_in_transaction
        ),
        advice: "Roll back (or discard the connection) when an operation is cancelled mid-transaction, before \
                 the connection goes back to the pool."
            .into(),
    })
}

fn leaks(r: &VariantReport) -> Option<Finding> {
    if r.leaks.is_empty() {
        return None;
    }
    let parts: Vec<String> = r
        .leaks
        .iter()
        .map(|(w, l)| {
            format!(
                "workload `{w}`: {} operation(s), longest hold {}",
                l.count,
                ms(l.longest_ms)
            )
        })
        .collect();
    Some(Finding {
        class: "anomalies.leaks".into(),
        finding: format!(
            "Operations held a connection longer than leak_threshold: {}.",
            parts.join("; ")
        ),
        advice: "Release the connection before slow work (remote calls, sleeps, user input) and take it again \
                 after, or raise the threshold if such holds are intended."
            .into(),
    })
}

/// Retries hide failures from the error classes: say what they absorbed.
fn retries(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let o = &r.operations;
    if o.retried == 0 {
        return None;
    }
    let faults: Vec<String> = r
        .faults
        .iter()
        .map(|f| format!("{} at {} ms", f.kind, f.at_ms))
        .collect();
    let mut finding = format!(
        "{} operation(s) needed more than one try ({} extra tries in all); {} of them still failed on their \
         last try.",
        o.retried, o.retries, o.retries_exhausted
    );
    if r.pool.died_idle > 0 {
        finding.push_str(&format!(
            " {} tries met a pooled connection that had died while idle.",
            r.pool.died_idle
        ));
    }
    if !faults.is_empty() {
        finding.push_str(&format!(" Faults injected: {}.", faults.join(", ")));
    }
    Some(Finding {
        class: "operations.retried".into(),
        finding,
        advice: format!(
            "Retries keep these failures from users at the cost of latency (a retried operation's latency \
             covers all its tries); {}.",
            // Review of 2026-12-03: the pre-ping was advised where no try met a dead idle
            // connection (a shared connection, a closed pool).
            match (r.pool.died_idle, cx.settings.pool.words().pre_ping) {
                (0, _) => "watch what the retried classes cost beside what they save".to_string(),
                (_, Some(key)) =>
                    format!("pre-ping ({key}) avoids the tries lost to dead idle connections"),
                (_, None) => format!(
                    "{} has no pre-ping: the retries are what covers connections that died idle",
                    cx.settings.pool.words().library
                ),
            }
        ),
    })
}

/// `pool.unfair_waits`: the longest acquire is at least this long (milliseconds).
pub(crate) const UNFAIR_MIN_MAX_MS: f64 = 1000.0;

/// Whether the long waits fall in a fault's window, so that the fault, not the pool, explains
/// them: a fault fired, and every second of the timeline whose slowest operation took at least
/// [`UNFAIR_MIN_MAX_MS`] could have been waiting when a fault fired (the operation ended in that
/// second and lasted as long as its slowest, so it began at most that long before the second).
/// A long acquire found in no second (a failed operation's) is put down to the fault as well:
/// the pool is not blamed on a guess.
fn in_fault_window(r: &VariantReport) -> bool {
    if r.faults.is_empty() {
        return false;
    }
    r.timeline.iter().all(|e| {
        let slowest = crate::record::histogram::decode(&e.hdr)
            .ok()
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| crate::record::histogram::ms(h.max()));
        if slowest < UNFAIR_MIN_MAX_MS {
            return true;
        }
        let from = e.t_ms as f64 - 1000.0 - slowest;
        r.faults
            .iter()
            .any(|f| (from..=e.t_ms as f64).contains(&(f.at_ms as f64)))
    })
}

/// Whether a fault explains the longest acquire: its measured window when the report has one
/// (`faults[].effect`, see `fault_window.rs`), the timeline otherwise (older reports). One
/// mechanism decides, never both.
fn fault_explains_the_wait(r: &VariantReport) -> bool {
    super::fault_window::explains_longest_wait(r).unwrap_or_else(|| in_fault_window(r))
}

/// A few acquires waited far longer than almost all others: bb8 hands a released connection to
/// whoever asks next (often the task that just released it), not to the longest waiter, and
/// SQLAlchemy's async queue lets a newcomer barge; asyncpg and psycopg_pool serve waiters in
/// arrival order, so their long waits are not this (the model's `barging` words).
fn unfair_waits(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let a = &r.latency_ms.acquire;
    let words = cx.settings.pool.words();
    let barging = words.barging?;
    let starved = cx.settings.access.mode == AccessMode::Pool
        && r.pool.peak_waiting > 0
        && a.max >= UNFAIR_MIN_MAX_MS
        && a.max > 50.0 * a.p99.max(0.01)
        && !fault_explains_the_wait(r);
    starved.then(|| Finding {
        class: "pool.unfair_waits".into(),
        finding: format!(
            "Acquire p99 was {} but the longest acquire took {}: with up to {} tasks waiting, {}, and some \
             tasks waited for most of the run.",
            ms(a.p99),
            ms(a.max),
            r.pool.peak_waiting,
            barging
        ),
        advice: format!(
            "Size the pool to the concurrency ({} of at least the tasks that use it at once), or leave time \
             between giving a connection back and asking for the next (think_time), so a waiter gets its \
             turn; a pool that hands a returned connection to the oldest waiter (asyncpg's, psycopg_pool's) \
             avoids this.",
            words.size
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    /// Review of 2026-12-03: interleaved transactions on a pool without a reset (a cancelled
    /// task's connection given back in a transaction) were told to stop sharing a connection.
    #[test]
    fn pooled_interleaving_is_answered_with_the_pool_s_reset() {
        let cx = |s| Context {
            settings: s,
            max_connections: 100,
            reserved_connections: 3,
            superuser: true,
        };
        let mut r = fixtures::variant("v", 100, 0, serde_json::json!({}));
        (
            r.anomalies.transaction_interleaved,
            r.anomalies.returned_in_transaction,
        ) = (3, 2);
        let pooled =
            fixtures::settings("[access]\nmode = \"pool\"\n[pool]\nreset_on_return = \"none\"");
        let f = interleaved(&r, &cx(&pooled)).unwrap();
        assert!(
            f.finding
                .contains("2 connection(s) went back to the pool inside a transaction")
        );
        assert!(
            f.advice.contains("pool.reset_on_return = \"rollback\""),
            "{}",
            f.advice
        );
        let shared = fixtures::settings("[access]\nmode = \"shared\"");
        let f = interleaved(&r, &cx(&shared)).unwrap();
        assert!(
            f.advice.contains("Never share a connection"),
            "{}",
            f.advice
        );
    }
}
