//! A finding per error class present: what happened, in this run's numbers, and what to change.

use super::{Context, ms, pct};
use crate::record::errors::ErrorClass;
use crate::report::model::{Finding, VariantReport};
use crate::scenario::model::{AccessMode, FaultKind, Settings};

pub(crate) fn findings(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    let mut classes: Vec<_> = r.errors.iter().collect();
    classes.sort_by_key(|(_, stats)| std::cmp::Reverse(stats.count));
    classes
        .into_iter()
        .map(|(class, stats)| {
            let head = format!(
                "{} of {} operations ({}) failed with {class}, from {} ms to {} ms into the run.",
                stats.count,
                r.operations.total,
                pct(stats.count, r.operations.total),
                stats.first_at_ms,
                stats.last_at_ms
            );
            let (detail, advice) = explain(*class, stats.count, r, cx);
            let detail = if detail.is_empty() {
                String::new()
            } else {
                format!(" {detail}")
            };
            Finding {
                class: class.name().to_string(),
                finding: format!("{head}{detail} First: \"{}\".", stats.sample),
                advice,
            }
        })
        .collect()
}

/// Workloads that hold their connection through a sleep, with the longest such sleep.
fn holding_sleeps(s: &Settings) -> Vec<String> {
    s.workload
        .iter()
        .filter_map(|w| {
            let longest = w.step.iter().filter_map(|st| st.sleep).max()?;
            let inside = if w.transaction {
                " inside a transaction"
            } else {
                ""
            };
            Some(format!(
                "workload `{}` holds its connection through a {} sleep{inside}",
                w.name,
                humantime::format_duration(longest)
            ))
        })
        .collect()
}

fn explain(class: ErrorClass, count: u64, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    match class {
        ErrorClass::OperationInProgress => operation_in_progress(r, cx),
        ErrorClass::PoolTimeout => pool_timeout(r, cx),
        ErrorClass::TooManyConnections => too_many_connections(r, cx),
        ErrorClass::AdminTerminated | ErrorClass::ConnectionClosed | ErrorClass::ServerCrash => {
            connection_lost(count, r, cx)
        }
        ErrorClass::CommitIndeterminate => commit_indeterminate(r),
        ErrorClass::InFailedTransaction => in_failed_transaction(r, cx),
        ErrorClass::OpDeadlineExceeded => op_deadline(r, cx),
        ErrorClass::PoolClosed => pool_closed(count, r, cx),
        ErrorClass::TaskCancelled => super::races::task_cancelled(r, cx),
        ErrorClass::SerializationFailure | ErrorClass::DeadlockDetected => retryable(class, r, cx),
        ErrorClass::StatementTimeout | ErrorClass::SessionTimeout | ErrorClass::LockTimeout => {
            server_timeout(class, r, cx)
        }
        ErrorClass::ConnectRefused | ErrorClass::ConnectTimeout | ErrorClass::ServerUnavailable => {
            unreachable_server(r)
        }
        ErrorClass::CachedPlanInvalid => super::server_races::cached_plan_invalid(r, cx),
        ErrorClass::ReadOnlyTransaction => super::server_races::read_only(r, cx),
        ErrorClass::PoolerError => super::pooler::pooler_error(r, cx),
        ErrorClass::PreparedStatementMismatch => super::pooler::prepared_mismatch(cx),
        _ => (String::new(), advice_for(class).into()),
    }
}

fn operation_in_progress(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    let overlap = r.isolation.max_operations_per_backend;
    (
        format!(
            "{} tasks shared {} connection(s); up to {overlap} operations were in flight on one backend at \
             once, and a statement sent while another was in flight failed at once.",
            s.load.tasks, s.access.instances
        ),
        // Regression (review of 2026-12-03): the advice asked for a pool of "at least" the
        // deepest overlap seen, 2 with 5 tasks (a collision ends its operation at once, so the
        // overlap seen is a floor), in a variant whose own [pool] of 50 shared mode never used.
        format!(
            "Give each task its own connection for the whole operation: access.mode = \"pool\" (shared mode \
             uses no pool; [pool] settings are ignored in it) with {} of about {} per instance, one per task in \
             flight. The deepest overlap seen, {overlap}, is only a floor: a collision ends its operation at once.",
            s.pool.words().size,
            s.load.tasks.div_ceil(s.access.instances.max(1))
        ),
    )
}

fn pool_timeout(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    // In the pool model's own terms (SQLAlchemy's pool_timeout and max_overflow, say).
    let (size_key, timeout_key) = (s.pool.words().size, s.pool.words().timeout);
    let timeout = s.pool.acquire_timeout().map_or("none".to_string(), |t| {
        humantime::format_duration(t).to_string()
    });
    let mut detail = format!(
        "Up to {} tasks waited for {} connection(s) per pool (peak in use {}); acquire p99 was {} against a \
         {timeout_key} of {}; connections were held for {} at p99.",
        r.pool.peak_waiting,
        s.pool.size_limit(s.load.tasks),
        r.pool.peak_in_use,
        ms(r.latency_ms.acquire.p99),
        timeout,
        ms(r.latency_ms.hold.p99)
    );
    let holds = holding_sleeps(s);
    if !holds.is_empty() {
        detail.push_str(&format!(
            " The hold comes from the workload: {}.",
            holds.join("; ")
        ));
    }
    if let Some((inside, kinds)) = in_fault_windows(r, ErrorClass::PoolTimeout) {
        // Review of 2026-12-03: timeouts behind a network blackhole, with nothing in use, were
        // answered with pool sizing.
        detail.push_str(&format!(
            " {inside} of them came inside the window of a fault ({kinds}): the connections were \
             stuck behind it, not too few."
        ));
        let advice = "Do not size the pool on these: bound what the fault does to a connection \
                      instead (test_on_check_out with a connection_timeout drops one that no longer \
                      answers; keepalives or tcp_user_timeout in the URL detect a silent network); \
                      see cost.fault_window."
            .to_string();
        return (detail, advice);
    }
    (
        detail,
        format!(
            "Hold connections for less time (no sleeps or remote calls while holding one), or raise {size_key} \
             towards {} (peak in use + peak waiting), within the server's max_connections ({}).",
            r.pool.peak_in_use + r.pool.peak_waiting,
            cx.max_connections
        ),
    )
}

/// How many failures of `class` came inside fault windows, and the faults' kinds, when that is
/// most of them.
fn in_fault_windows(r: &VariantReport, class: ErrorClass) -> Option<(u64, String)> {
    let total = r.errors.get(&class).map_or(0, |e| e.count);
    let mut kinds: Vec<&str> = Vec::new();
    let mut inside = 0;
    for f in &r.faults {
        let n = (f.effect.as_ref())
            .and_then(|e| e.errors.get(&class))
            .copied()
            .unwrap_or(0);
        if n > 0 {
            inside += n;
            if !kinds.contains(&f.kind.as_str()) {
                kinds.push(&f.kind);
            }
        }
    }
    (total > 0 && inside * 2 > total).then(|| (inside.min(total), kinds.join(", ")))
}

fn too_many_connections(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    let (wanted, how) = match s.access.mode {
        AccessMode::Pool => (
            // In u64, as elsewhere: a report read back by `merge` may hold any u32s.
            u64::from(s.access.instances) * u64::from(s.pool.size_limit(s.load.tasks)),
            format!(
                "{} instance(s) × {} {}",
                s.access.instances,
                s.pool.words().size,
                s.pool.size_limit(s.load.tasks)
            ),
        ),
        _ => (
            u64::from(s.load.tasks),
            format!("one per task, {} tasks", s.load.tasks),
        ),
    };
    let role = if cx.superuser {
        "as a superuser, which may use the reserved slots too"
    } else {
        "as an ordinary role"
    };
    (
        format!(
            "The run could want {wanted} connections ({how}); the server allows {} ({role}: max_connections {}, \
             {} reserved for superusers), its own admin connection included; it refused {} connect attempt(s) \
             and this run's backends peaked at {}.",
            cx.usable_connections(),
            cx.max_connections,
            cx.reserved_connections,
            r.pool
                .connect_errors
                .get(&ErrorClass::TooManyConnections)
                .copied()
                .unwrap_or(0),
            r.server.peak_backends
        ),
        format!(
            "Keep instances × {} below max_connections − superuser_reserved_connections (with room for \
             administration), or put a pooler (PgBouncer) between the application and the server.",
            s.pool.words().size
        ),
    )
}

/// This run's faults that end backends, in words.
fn backend_faults(r: &VariantReport) -> Vec<String> {
    r.faults
        .iter()
        .filter(|f| {
            matches!(
                f.kind.as_str(),
                "terminate_backends" | "restart_server" | "kill_backend"
            )
        })
        .map(|f| format!("{} at {} ms ({})", f.kind, f.at_ms, f.detail))
        .collect()
}

fn connection_lost(count: u64, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    let terminated = backend_faults(r);
    let mut detail = format!(
        "Connections died under their users; {} connection(s) were found broken when given back.",
        r.pool.closed_broken
    );
    if !terminated.is_empty() {
        detail.push_str(&format!(" Faults: {}.", terminated.join("; ")));
    }
    let pool = s.access.mode == AccessMode::Pool;
    let advice = if pool && !s.pool.pings_on_checkout() {
        // `died_idle` counts tries: with retries it includes tries that were retried and
        // succeeded, so it is not a part of `count`.
        let hit = if s.load.retry.is_some() {
            format!(
                "{} tries (retried ones included) met a reused connection",
                r.pool.died_idle
            )
        } else {
            format!(
                "{} of these {count} failures hit a reused connection",
                r.pool.died_idle
            )
        };
        detail.push_str(&format!(
            " {hit} at its first statement: it had died while idle in the pool."
        ));
        if r.pool.died_idle == 0 {
            // No advice about a count of zero: pre-ping would have caught none of these.
            "None died while idle, so pre-ping would not have helped: these connections died while in use. \
             Retry idempotent operations once on a fresh connection."
                .into()
        } else {
            pre_ping_advice(s, r.pool.died_idle)
        }
    } else {
        if pool {
            detail.push_str(&format!(
                " Pre-ping replaced {} dead connection(s) before use; these died while in use.",
                r.pool.closed_invalid.unwrap_or(0)
            ));
        }
        "Retry idempotent operations once on a fresh connection; pre-ping only catches connections that died \
         while idle."
            .into()
    };
    (detail, advice)
}

/// Advice for `died` connections that died while idle in a pool that does not check them, in
/// the model's words (asyncpg's pool has no such check).
fn pre_ping_advice(s: &Settings, died: u64) -> String {
    match s.pool.words().pre_ping {
        Some(key) => format!(
            "Turn on {key} (pre-ping): it would have replaced the {died} connections that died while idle \
             before handing them out. Retry idempotent operations once for the ones that die in use."
        ),
        None => format!(
            "{} has no check at acquire to turn on: catch ConnectionDoesNotExistError and retry idempotent \
             operations once on a fresh connection ({died} connections died while idle), or set \
             max_inactive_connection_lifetime below the idle time at which they die.",
            s.pool.words().library
        ),
    }
}

fn commit_indeterminate(r: &VariantReport) -> (String, String) {
    let detail = match &r.writes {
        Some(w) => format!(
            "The connection was lost while COMMIT was in flight: {} write(s) had an unknown outcome; reading \
             the ledger back found {} committed and {} rolled back.",
            w.indeterminate, w.indeterminate_committed, w.indeterminate_rolled_back
        ),
        None => "The connection was lost while COMMIT was in flight: these transactions may or may not have \
                 committed (verify = \"acknowledged_writes\" would resolve them)."
            .into(),
    };
    (
        detail,
        "Make writes idempotent (a unique key per write) and check after reconnecting instead of blindly retrying."
            .into(),
    )
}

fn in_failed_transaction(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let shared = cx.settings.access.mode == AccessMode::Shared;
    let mut detail =
        "A statement failed inside a transaction and later statements were ignored (25P02)."
            .to_string();
    if shared {
        detail.push_str(&format!(
            " On this shared connection the transaction was not the task's own: {} operations were in flight on \
             one backend at once and the server warned {} time(s) about interleaved BEGIN/COMMIT.",
            r.isolation.max_operations_per_backend, r.anomalies.transaction_interleaved
        ));
    }
    let advice = if shared {
        "Never run transactions of several tasks on one connection: a pool gives each its own."
    } else {
        "Roll back at the first error of a transaction instead of sending more statements into it."
    };
    (detail, advice.into())
}

fn op_deadline(r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let limit = cx.settings.load.op_timeout.map(humantime::format_duration);
    let limit = limit.map_or("unset".to_string(), |l| l.to_string());
    let failed_connects: u64 = r.pool.connect_errors.values().sum();
    // Review of 2026-12-03: under a network fault that refused every connect, the deadlines
    // passed in the acquire, with no statement sent, and the finding said the server "may
    // still have run them" and advised statement_timeout.
    if failed_connects > 0 {
        let classes: Vec<String> = (r.pool.connect_errors.iter())
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        return (
            format!(
                "The client-side op_timeout ({limit}) gave up on them while {failed_connects} connect \
                 attempt(s) failed ({}): an operation whose deadline passed while it waited for a \
                 connection sent no statement. Operation p99 was {}.",
                classes.join(", "),
                ms(r.latency_ms.operation.p99)
            ),
            "Look at why connects failed (a fault of this run, the server, the network): the deadline \
             is where the wait for a connection ended, not its cause."
                .into(),
        );
    }
    // Review of 2026-12-03: behind a network fault, "use statement_timeout instead" (a server
    // timeout cannot reach a client the network cut off) contradicted the scenario's own fix.
    if let Some((inside, kinds)) = in_fault_windows(r, ErrorClass::OpDeadlineExceeded) {
        return (
            format!(
                "The client-side op_timeout ({limit}) gave up on them; {inside} came inside the \
                 window of a fault ({kinds}), whose replies were late or never came. Operation p99 \
                 was {}.",
                ms(r.latency_ms.operation.p99)
            ),
            "Here the client-side deadline is the defence: without it these operations would \
             have waited for the fault to end, or for ever. Discard (or roll back) a connection \
             after its deadline, and check connections on check-out so that a dead one is \
             replaced."
                .into(),
        );
    }
    (
        format!(
            "The client-side op_timeout ({limit}) gave up on them; the server may still have run them. \
             Operation p99 was {}; {} pooled connection(s) went back to the pool inside a transaction.",
            ms(r.latency_ms.operation.p99),
            r.anomalies.returned_in_transaction
        ),
        "Use statement_timeout on the server instead, or roll back (or discard) the connection after a \
         client-side timeout."
            .into(),
    )
}

fn pool_closed(count: u64, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let closes: Vec<String> = r
        .faults
        .iter()
        .filter(|f| f.kind == "close_pool")
        .map(|f| {
            format!(
                "at {} ms with {} operation(s) in flight ({})",
                f.at_ms, f.in_flight, f.detail
            )
        })
        .collect();
    (
        format!(
            "The pool was closed {}: {} operation(s) had their connection cut under them, {} found it already \
             closed when they asked for a connection.",
            closes.join("; "),
            r.pool.cut_by_close,
            count.saturating_sub(r.pool.cut_by_close)
        ),
        pool_closed_advice(cx.settings),
    )
}

/// A pool rebuilt (a close with `reopen_after`) is to be replaced atomically; one closed for
/// good (a shutdown) is closed after the work stops, which the review of 2026-12-03 found the
/// advice did not tell apart.
pub(crate) fn pool_closed_advice(settings: &Settings) -> String {
    let rebuilt = settings
        .fault
        .iter()
        .any(|f| f.kind == FaultKind::ClosePool && f.reopen_after.is_some());
    match rebuilt {
        true => "Do not close a pool while operations use it: replace it atomically with a fresh one and let \
                 the old one drain (close_pool with drain = true and reopen_after = \"0s\" shows the fix)."
            .into(),
        false => "A pool closed for good (a shutdown) must first stop the work that uses it: stop taking \
                  requests, let the operations in flight finish (close_pool with drain = true), then close; \
                  whatever still asks for a connection fails."
            .into(),
    }
}

fn retryable(class: ErrorClass, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let retry = cx.settings.load.retry.as_ref();
    let detail = match retry {
        Some(rt) if rt.on.contains(&class) => format!(
            "Retries were on (max_tries {}): {} operation(s) were retried ({} extra tries), and {} still failed \
             on their last try.",
            rt.max_tries,
            r.operations.retried,
            r.operations.retries,
            r.operations.retries_exhausted
        ),
        _ => "These were not retried (load.retry does not name this class).".into(),
    };
    // Review of 2026-12-03: with the retry already set, it advised setting it.
    let advice = match retry {
        Some(rt) if rt.on.contains(&class) => format!(
            "The retries are on: keep transactions short so fewer of them meet, and raise \
             load.retry's max_tries ({}) only if the operations that still failed matter more \
             than their latency.",
            rt.max_tries
        ),
        _ => format!(
            "Retry the whole transaction on {class} (load.retry = {{ on = [\"{class}\"], max_tries = 3 }}), and \
             keep transactions short so fewer of them meet."
        ),
    };
    (detail, advice)
}

fn server_timeout(class: ErrorClass, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let setting = match class {
        ErrorClass::StatementTimeout => "statement_timeout",
        ErrorClass::LockTimeout => "lock_timeout",
        _ => "idle_in_transaction_session_timeout",
    };
    let s = cx.settings;
    let value = s
        .access
        .session_settings
        .get(setting)
        .or_else(|| s.database.embedded.settings.get(setting))
        .map_or("the server's setting".to_string(), |v| {
            format!("{setting} = {}", v.0)
        });
    let mut detail = format!(
        "The server ended them at {value}; failed operations took {} at p99.",
        ms(r.latency_ms.failed.p99)
    );
    if class == ErrorClass::SessionTimeout {
        detail.push_str(&format!(
            " This run's backends sat idle in a transaction for up to {} ms.",
            r.server.longest_idle_in_transaction_ms
        ));
        let holds = holding_sleeps(s);
        if !holds.is_empty() {
            detail.push_str(&format!(" {}.", holds.join("; ")));
        }
    }
    (detail, advice_for(class).into())
}

fn unreachable_server(r: &VariantReport) -> (String, String) {
    let restarts: Vec<String> = r
        .faults
        .iter()
        .filter(|f| f.kind == "restart_server" || f.kind == "kill_backend")
        .map(|f| format!("{} at {} ms: {}", f.kind, f.at_ms, f.detail))
        .collect();
    let detail = if restarts.is_empty() {
        String::new()
    } else {
        format!(
            "The server was restarted or crashed by a fault: {}.",
            restarts.join("; ")
        )
    };
    (
        detail,
        "The server could not be reached or was starting up: retry connects with backoff during restarts."
            .into(),
    )
}

fn advice_for(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::AuthFailed => {
            "Check the user, password and database name of the connection string."
        }
        ErrorClass::TlsFailed => {
            "Check sslmode, sslrootcert (the CA that signed the server's certificate) and the host name the certificate carries; the sample says which failed."
        }
        ErrorClass::SessionTimeout => {
            "Do not hold a transaction open while waiting on something else; commit first, or raise the timeout."
        }
        ErrorClass::StatementTimeout => {
            "Statements ran longer than statement_timeout: make them faster or raise the limit."
        }
        ErrorClass::QueryCanceled => {
            "Statements were cancelled (pg_cancel_backend or a client cancel): retry idempotent ones."
        }
        ErrorClass::LockTimeout => {
            "Statements waited for locks longer than lock_timeout: shorten the transactions that hold them."
        }
        ErrorClass::PoolerError => {
            "The pooler in between refused the operation: check its limits and mode."
        }
        ErrorClass::PreparedStatementMismatch => {
            "Prepared statements were missing on the connection (transaction pooling, DEALLOCATE): use query_mode = \
             \"extended\" or \"simple\" behind PgBouncer."
        }
        ErrorClass::ResourceExhausted => {
            "The server ran out of a resource (memory, disk, a configured limit): see the SQLSTATE and its logs."
        }
        ErrorClass::SqlError => {
            "The server rejected statements: see the SQLSTATE codes and fix the workload."
        }
        ErrorClass::ClientError => {
            "A client-side failure (a bug of ours or of the driver, or a workload that captured no row)."
        }
        _ => "",
    }
}

#[cfg(test)]
#[path = "classes_tests.rs"]
mod tests;
