//! What a run cost, not only what failed: waiting for a pooled connection
//! (`cost.pool_wait`), opening connections (`cost.connect`), connections held for nothing
//! (`cost.oversized`) and connects the server refused while the pool retried
//! (`cost.connection_limit`). Each fires on explicit thresholds (the constants below, documented
//! in the README's Diagnosis section) and quotes only figures the report holds.

use super::{Context, ms};
use crate::record::errors::ErrorClass;
use crate::report::model::{Finding, VariantReport};
use crate::scenario::model::{AccessMode, Settings};

/// `cost.pool_wait`: the mean acquire is at least this share of the mean operation (which
/// includes the acquire).
pub(crate) const POOL_WAIT_SHARE: f64 = 0.20;
/// `cost.pool_wait`: and the mean acquire is at least this many milliseconds (a wait of
/// microseconds costs nothing, whatever its share of a fast operation).
pub(crate) const POOL_WAIT_MIN_MS: f64 = 1.0;
/// `cost.pool_wait`: and every connection of the pools was in use in at least this share of
/// the seconds in which it was in use (a pool that was never full waited for its connects, not for its size).
pub(crate) const POOL_WAIT_FULL_SHARE: f64 = 0.5;
/// `cost.connect`: connections opened in the measured phase (reopened, for a pool, a shared or a
/// per-task connection) per operation, at least.
pub(crate) const CONNECT_PER_OPERATION: f64 = 0.05;
/// `cost.connect`: and at least this many connections opened in the measured phase.
pub(crate) const CONNECT_MIN: u64 = 10;
/// `cost.oversized`: the peak in use is at most this share of the pools' capacity
/// (instances × the model's size: bb8's `max_size`, SQLAlchemy's `pool_size + max_overflow`).
pub(crate) const OVERSIZED_PEAK_SHARE: f64 = 0.5;
/// `cost.oversized`: and at least this many connections of the capacity were never in use at
/// once.
pub(crate) const OVERSIZED_MIN_SPARE: u64 = 4;

/// The cost findings of a variant that measured operations.
pub(crate) fn findings(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    [
        pool_wait(r, cx),
        connect(r, cx),
        oversized(r, cx),
        connection_limit(r, cx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Connections the pools may hold: instances × the model's size.
fn capacity(s: &Settings) -> u64 {
    u64::from(s.access.instances) * u64::from(s.pool.size_limit(s.load.tasks))
}

/// Seconds of the timeline whose sample found the pools full: every connection in use, or
/// every connection open and tasks waiting (a connection counted idle then is one being handed
/// from the task that gave it back to the next waiter: a pool of 2 under 10 tasks sampled as
/// 1 in use, 1 idle, 8 waiting).
fn seconds_full(r: &VariantReport, capacity: u64) -> usize {
    r.timeline
        .iter()
        .filter(|e| e.in_use >= capacity || (e.in_use + e.idle >= capacity && e.waiting > 0))
        .count()
}

/// Seconds whose sample saw the pools in use (a connection held or a task waiting): the sample
/// of the last, partial second is taken after the load ended and sees nothing.
fn seconds_active(r: &VariantReport) -> usize {
    r.timeline
        .iter()
        .filter(|e| e.in_use > 0 || e.waiting > 0)
        .count()
}

/// Whether the pools were full for [`POOL_WAIT_FULL_SHARE`] of the seconds in which they were
/// in use (without such a second, whether they were full at their peak).
fn mostly_full(r: &VariantReport, capacity: u64) -> bool {
    match seconds_active(r) {
        0 => r.pool.peak_in_use >= capacity,
        active => seconds_full(r, capacity) as f64 >= POOL_WAIT_FULL_SHARE * active as f64,
    }
}

/// Little's law: the connections in use at once are the throughput times the hold. Without the
/// wait, a task's cycle is its measured cycle (tasks / throughput) less the mean acquire; the
/// open model's arrival rate is given. Returns (operations per second, connections in all).
pub(crate) fn little(r: &VariantReport, s: &Settings) -> Option<(f64, f64)> {
    let hold_s = r.latency_ms.hold.mean / 1000.0;
    if r.measured_s <= 0.0 || r.operations.total == 0 || hold_s <= 0.0 {
        return None;
    }
    let rate = match s.load.rate {
        Some(rate) => rate,
        None => {
            let tasks = f64::from(s.load.tasks);
            let cycle_s = tasks * r.measured_s / r.operations.total as f64;
            let without_wait = (cycle_s - r.latency_ms.acquire.mean / 1000.0).max(hold_s);
            tasks / without_wait
        }
    };
    Some((rate, rate * hold_s))
}

fn pool_wait(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let s = cx.settings;
    let (a, op) = (&r.latency_ms.acquire, &r.latency_ms.operation);
    // No more tasks than connections: nobody waited for the size, only for connects.
    let waited = s.access.mode == AccessMode::Pool
        && u64::from(s.load.tasks) > capacity(s)
        && r.operations.ok > 0
        && r.pool.peak_waiting > 0
        && a.mean >= POOL_WAIT_MIN_MS
        && a.mean >= POOL_WAIT_SHARE * op.mean
        && mostly_full(r, capacity(s));
    if !waited {
        return None;
    }
    let cap = capacity(s);
    let finding = format!(
        "Tasks waited for a connection: acquire mean {} of an operation mean {} ({:.0}%), acquire p50 {}, \
         p99 {}; up to {} tasks waited at once, and all {cap} connection(s) were in use in {} of {} \
         seconds in which the pool was in use. Connections were held {} on average, at {:.0} ok/s.",
        ms(a.mean),
        ms(op.mean),
        100.0 * a.mean / op.mean.max(f64::MIN_POSITIVE),
        ms(a.p50),
        ms(a.p99),
        r.pool.peak_waiting,
        seconds_full(r, cap),
        seconds_active(r),
        ms(r.latency_ms.hold.mean),
        r.throughput_ops_s
    );
    Some(Finding {
        class: "cost.pool_wait".into(),
        finding,
        advice: pool_wait_advice(r, cx),
    })
}

fn pool_wait_advice(r: &VariantReport, cx: &Context<'_>) -> String {
    let s = cx.settings;
    let instances = u64::from(s.access.instances.max(1));
    let Some((rate, in_use)) = little(r, s) else {
        return format!(
            "Hold connections for less time, or raise {}.",
            s.pool.words().size
        );
    };
    let per_pool = (in_use / instances as f64).ceil().max(1.0) as u64;
    let law = format!(
        "by Little's law, in use ≈ throughput × hold: without the wait the tasks would ask for about \
         {rate:.0} operations/s × {} hold ≈ {in_use:.1} connection(s)",
        ms(r.latency_ms.hold.mean)
    );
    let size_key = s.pool.words().size;
    let usable = u64::from(cx.usable_connections());
    if per_pool > u64::from(s.pool.size_limit(s.load.tasks)) {
        if usable > 0 && per_pool * instances > usable {
            // Regression (review of 2026-12-03): this said "about 18 per instance (≈ 104.8
            // connections), within the 100 connections the server allows" with 6 instances.
            return format!(
                "{size_key} would need about {per_pool} per instance ({law}), {} in all: more than the {usable} \
                 connections the server allows ({} per instance). Hold connections for less time, run fewer \
                 instances, or share server connections through a pooler (PgBouncer).",
                per_pool * instances,
                usable / instances
            );
        }
        format!(
            "Raise {size_key} to about {per_pool} per instance ({law}), within the {usable} connections the \
             server allows; or hold connections for less time."
        )
    } else {
        format!(
            "The size is not what waits: {law}, no more than {size_key} {}. Shorten the holds or spread the \
             bursts (think_time) instead of growing the pool.",
            s.pool.size_limit(s.load.tasks)
        )
    }
}

/// Connections opened in the measured phase that cost a connect: every one per operation;
/// otherwise only those that replaced a closed one (a pool filling up is not churn).
fn reopened(r: &VariantReport, mode: AccessMode) -> u64 {
    let opened: u64 = r.timeline.iter().map(|e| e.connections_created).sum();
    let closed: u64 = r.timeline.iter().map(|e| e.connections_closed).sum();
    match mode {
        AccessMode::PerOperation => opened,
        _ => opened.min(closed),
    }
}

fn connect(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let mode = cx.settings.access.mode;
    let opened = reopened(r, mode);
    let total = r.operations.total;
    if opened < CONNECT_MIN || (opened as f64) < CONNECT_PER_OPERATION * total as f64 {
        return None;
    }
    let a = &r.latency_ms.acquire;
    let mut finding = format!(
        "{opened} connections were opened in {:.1} s of measured load ({:.0}/s) for {total} operations; \
         the acquire, which includes each connect, took p50 {}, mean {}, {} of an operation's mean {}; \
         {}.",
        r.measured_s,
        opened as f64 / r.measured_s.max(f64::MIN_POSITIVE),
        ms(a.p50),
        ms(a.mean),
        crate::metric::format_pct(
            a.mean / r.latency_ms.operation.mean.max(f64::MIN_POSITIVE),
            0
        ),
        ms(r.latency_ms.operation.mean),
        backends_at_once(r, mode)
    );
    let advice = if mode == AccessMode::PerOperation {
        let pool = little(r, cx.settings)
            .map(|(_, n)| {
                format!(
                    " (about {:.0} connection(s) at this load: throughput × hold)",
                    n.ceil()
                )
            })
            .unwrap_or_default();
        format!(
            "Open connections once and reuse them: a pool{pool} pays the connect once per connection, not \
             once per operation."
        )
    } else {
        finding.push_str(&churn(r, cx.settings));
        churn_advice(r, cx.settings)
    };
    Some(Finding {
        class: "cost.connect".into(),
        finding,
        advice,
    })
}

/// How many connections were open at once. The server is sampled once a second, which mostly
/// misses a connection that lives one operation: with a connection per operation, the count
/// the harness kept (connections held at once, each its own) comes first.
fn backends_at_once(r: &VariantReport, mode: AccessMode) -> String {
    let sampled = r.server.peak_backends;
    if mode == AccessMode::PerOperation && r.pool.peak_in_use > sampled {
        format!(
            "up to {} connections were open at once, one per operation in flight (the server, \
             sampled once a second, caught at most {sampled} of them)",
            r.pool.peak_in_use
        )
    } else {
        format!("this run's backends on the server peaked at {sampled}")
    }
}

/// What to change for connections that were replaced: the pool's own settings (in the
/// model's words), or what broke them (a fault of this run, say).
fn churn_advice(r: &VariantReport, s: &Settings) -> String {
    let p = &r.pool;
    let timers = p.closed_max_lifetime.unwrap_or(0)
        + p.closed_idle_timeout.unwrap_or(0)
        + p.closed_overflow.unwrap_or(0);
    let broke = p.closed_broken + p.closed_invalid.unwrap_or(0);
    if timers >= broke {
        return format!(
            "The pool replaced its own connections while the load ran: {}, so the operations stop paying \
             for connects.",
            s.pool.words().keep_longer
        );
    }
    let faults: Vec<String> = r
        .faults
        .iter()
        .map(|f| format!("{} at {} ms", f.kind, f.at_ms))
        .collect();
    if faults.is_empty() {
        "The connections broke and were replaced: find why (the server's log, a proxy's timeouts); \
         the connects are the price of those failures."
            .into()
    } else {
        format!(
            "The connections broke under this run's faults ({}) and were replaced: the connects are the \
             price of the fault, not of the pool's settings.",
            faults.join(", ")
        )
    }
}

/// Why a pool's connections were closed, from its counters, in the model's words.
fn churn(r: &VariantReport, s: &Settings) -> String {
    let p = &r.pool;
    let words = s.pool.words();
    let parts: Vec<String> = [
        (words.lifetime, p.closed_max_lifetime.unwrap_or(0)),
        (
            words.idle.unwrap_or("idle"),
            p.closed_idle_timeout.unwrap_or(0),
        ),
        (
            "overflow closed when given back (pool_size idle)",
            p.closed_overflow.unwrap_or(0),
        ),
        ("broken when given back", p.closed_broken),
        ("failed the pre-ping", p.closed_invalid.unwrap_or(0)),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(why, n)| format!("{n} {why}"))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" Closed over the run: {}.", parts.join(", "))
    }
}

fn oversized(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let s = cx.settings;
    if s.access.mode != AccessMode::Pool {
        return None;
    }
    let words = s.pool.words();
    let kept = u64::from(s.access.instances) * u64::from(s.pool.kept_open());
    let cap = capacity(s);
    let peak = r.pool.peak_in_use;
    let spare = cap.saturating_sub(peak);
    if peak == 0 || spare < OVERSIZED_MIN_SPARE || peak as f64 > OVERSIZED_PEAK_SHARE * cap as f64 {
        return None;
    }
    let mut finding = format!(
        "At most {peak} of {cap} connection(s) ({} instance(s) × {} {}) were in use at once under {} \
         tasks; this run's backends peaked at {} of the {} the server allows.",
        s.access.instances,
        words.size,
        s.pool.size_limit(s.load.tasks),
        s.load.tasks,
        r.server.peak_backends,
        cx.usable_connections()
    );
    if let Some(key) = words.kept_open.filter(|_| kept > peak) {
        finding.push_str(&format!(
            " {key} kept {kept} open, {} more than were ever used at once.",
            kept - peak
        ));
    }
    let per_pool = peak.div_ceil(u64::from(s.access.instances.max(1)));
    Some(Finding {
        class: "cost.oversized".into(),
        finding,
        advice: format!(
            "At this load a {} near {per_pool} per instance (the peak, plus headroom for bursts) would do; \
             each idle connection is a backend on the server and counts against max_connections, which other \
             clients may need.",
            words.size
        ),
    })
}

fn connection_limit(r: &VariantReport, cx: &Context<'_>) -> Option<Finding> {
    let refused = r
        .pool
        .connect_errors
        .get(&ErrorClass::TooManyConnections)
        .copied()
        .unwrap_or(0);
    if refused == 0 || r.errors.contains_key(&ErrorClass::TooManyConnections) {
        return None;
    }
    let s = cx.settings;
    let (wanted, how) = match s.access.mode {
        AccessMode::Pool => (
            capacity(s),
            format!(
                "{} instance(s) × {} {}",
                s.access.instances,
                s.pool.words().size,
                s.pool.size_limit(s.load.tasks)
            ),
        ),
        _ => (u64::from(s.load.tasks), format!("{} tasks", s.load.tasks)),
    };
    Some(Finding {
        class: "cost.connection_limit".into(),
        finding: format!(
            "The server refused {refused} connect attempt(s) (too many connections) that were retried without \
             an operation failing: the run may open {wanted} ({how}) and the server allows {} (max_connections \
             {}, {} reserved for superusers); this run's backends peaked at {}. Meanwhile up to {} tasks waited \
             and the acquire took p99 {}.",
            cx.usable_connections(),
            cx.max_connections,
            cx.reserved_connections,
            r.server.peak_backends,
            r.pool.peak_waiting,
            ms(r.latency_ms.acquire.p99)
        ),
        advice: format!(
            "Keep instances × {} ({wanted}) below the {} connections the server allows, with room for \
             administration: the pool hid these refusals, and its waiters paid for them.",
            s.pool.words().size,
            cx.usable_connections()
        ),
    })
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;
