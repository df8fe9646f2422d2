//! Findings and advice built from a variant's own numbers: one per error class present, one
//! per anomaly seen, or one saying the variant ran clean.

use super::model::{Finding, VariantReport};
use crate::record::errors::ErrorClass;
use crate::scenario::model::{AccessMode, Settings};

/// What the diagnosis needs beyond the report.
pub struct Context<'a> {
    pub settings: &'a Settings,
    pub max_connections: u32,
    pub reserved_connections: u32,
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// Findings for a variant, most important first.
pub fn diagnose(r: &VariantReport, cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut classes: Vec<_> = r.errors.iter().collect();
    classes.sort_by_key(|(_, stats)| std::cmp::Reverse(stats.count));
    for (class, stats) in classes {
        let head = format!(
            "{} of {} operations ({}) failed with {class}, from {} ms to {} ms into the run",
            stats.count,
            r.operations.total,
            pct(stats.count, r.operations.total),
            stats.first_at_ms,
            stats.last_at_ms
        );
        let (detail, advice) = explain(*class, r, cx);
        findings.push(Finding {
            class: class.name().to_string(),
            finding: format!("{head}. {detail} First: \"{}\".", stats.sample),
            advice,
        });
    }
    if r.anomalies.transaction_interleaved > 0 {
        findings.push(Finding {
            class: "anomalies.transaction_interleaved".into(),
            finding: format!(
                "The server warned {} time(s) that a BEGIN met an open transaction or a COMMIT/ROLLBACK \
                 found none: transactions of different tasks ran on one connection. Such a COMMIT can \
                 end another task's transaction, and its writes then commit or vanish with it.",
                r.anomalies.transaction_interleaved
            ),
            advice: "Never share a connection between tasks that use transactions: take a connection from a pool for the whole transaction.".into(),
        });
    }
    if r.anomalies.returned_in_transaction > 0 {
        findings.push(Finding {
            class: "anomalies.returned_in_transaction".into(),
            finding: format!(
                "{} pooled connection(s) went back to the pool inside an open transaction (an operation \
                 abandoned mid-transaction); bb8 does not reset connections, so the next user inherits it.",
                r.anomalies.returned_in_transaction
            ),
            advice: "Roll back before giving a connection back (or discard it) when an operation is cancelled.".into(),
        });
    }
    if findings.is_empty() {
        findings.push(Finding {
            class: "clean".into(),
            finding: format!(
                "All {} operations succeeded: {:.0} ops/s, operation p99 {}, acquire p99 {}; no anomaly seen.",
                r.operations.ok,
                r.throughput_ops_s,
                ms(r.latency_ms.operation.p99),
                ms(r.latency_ms.acquire.p99)
            ),
            advice: "Nothing to fix at this load. Raise load.tasks or shorten think_time to find where it breaks.".into(),
        });
    }
    findings
}

fn explain(class: ErrorClass, r: &VariantReport, cx: &Context<'_>) -> (String, String) {
    let s = cx.settings;
    let tasks = s.load.tasks;
    let instances = s.access.instances;
    match class {
        ErrorClass::OperationInProgress => {
            let per_conn = tasks.div_ceil(instances);
            (
                format!(
                    "{tasks} tasks shared {instances} connection(s) ({per_conn} per connection), and a \
                     statement sent while another was in flight failed at once."
                ),
                format!(
                    "Give each task its own connection for the whole operation: a pool with max_size of at \
                     least {per_conn} per instance would have avoided every one of these."
                ),
            )
        }
        ErrorClass::PoolTimeout => (
            format!(
                "Up to {} tasks waited for {} connection(s) per pool (peak in use {}); acquire p99 was {} \
                 against a connection_timeout of {}; connections were held for {} at p99.",
                r.pool.peak_waiting,
                s.pool.max_size,
                r.pool.peak_in_use,
                ms(r.latency_ms.acquire.p99),
                humantime::format_duration(s.pool.connection_timeout),
                ms(r.latency_ms.hold.p99)
            ),
            format!(
                "Hold connections for less time (no sleeps or remote calls while holding one), or raise \
                 max_size towards {} (peak in use + peak waiting), within the server's max_connections.",
                r.pool.peak_in_use + r.pool.peak_waiting
            ),
        ),
        ErrorClass::TooManyConnections => {
            let wanted = match s.access.mode {
                AccessMode::Pool => u64::from(instances) * u64::from(s.pool.max_size),
                _ => u64::from(tasks),
            };
            (
                format!(
                    "The run could want {wanted} connections ({}), the server allows {} (max_connections {}, \
                     {} reserved for superusers); the server refused {} connect attempt(s).",
                    match s.access.mode {
                        AccessMode::Pool => format!("{instances} instance(s) × max_size {}", s.pool.max_size),
                        _ => format!("one per task, {tasks} tasks"),
                    },
                    cx.max_connections.saturating_sub(cx.reserved_connections),
                    cx.max_connections,
                    cx.reserved_connections,
                    r.pool.connect_errors.get(&class).copied().unwrap_or(0)
                ),
                "Keep instances × max_size below max_connections − superuser_reserved_connections, or put a \
                 pooler (PgBouncer) between the application and the server."
                    .into(),
            )
        }
        ErrorClass::AdminTerminated | ErrorClass::ConnectionClosed | ErrorClass::ServerCrash => (
            format!(
                "Connections died under their users; {} connection(s) were found broken when given back.",
                r.pool.closed_broken
            ),
            if s.access.mode == AccessMode::Pool && !s.pool.test_on_check_out {
                "Turn on test_on_check_out (pre-ping) so a dead idle connection is replaced before use, and retry idempotent operations once.".into()
            } else {
                "Retry idempotent operations once on a fresh connection; pre-ping catches only connections that died while idle.".into()
            },
        ),
        ErrorClass::CommitIndeterminate => (
            "The connection was lost while COMMIT was in flight: these transactions may or may not have committed.".into(),
            "Make writes idempotent (a unique key per write) and check after reconnecting instead of blindly retrying.".into(),
        ),
        ErrorClass::OpDeadlineExceeded => (
            format!(
                "The client-side op_timeout gave up on them; the server may still have run them. Operation p99 was {}.",
                ms(r.latency_ms.operation.p99)
            ),
            "Use statement_timeout on the server instead, or roll back the connection after a client-side timeout.".into(),
        ),
        _ => (String::new(), advice_for(class).into()),
    }
}

fn advice_for(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InFailedTransaction => {
            "A statement failed inside a transaction and later ones were ignored: roll back at the first error."
        }
        ErrorClass::PoolClosed => {
            "Do not close a pool while operations use it: drain it first, or swap in a new pool atomically."
        }
        ErrorClass::ConnectRefused | ErrorClass::ConnectTimeout => {
            "The server could not be reached: check that it is up and reachable, and retry connects with backoff."
        }
        ErrorClass::AuthFailed => {
            "Check the user, password and database name of the connection string."
        }
        ErrorClass::ServerUnavailable => {
            "The server was starting or shutting down: retry with backoff during restarts."
        }
        ErrorClass::SessionTimeout => {
            "The server ended idle sessions or transactions: do not hold a transaction open while idle."
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
        ErrorClass::SerializationFailure | ErrorClass::DeadlockDetected => {
            "Retry the whole transaction (load.retry) and keep transactions short."
        }
        ErrorClass::PoolerError => {
            "The pooler in between refused the operation: check its limits and mode."
        }
        ErrorClass::PreparedStatementMismatch => {
            "Prepared statements do not survive transaction pooling: use query_mode = \"extended\" or \"simple\" behind PgBouncer."
        }
        ErrorClass::ResourceExhausted => {
            "The server ran out of a resource (memory, disk, locks): check its logs and limits."
        }
        ErrorClass::SqlError => {
            "The server rejected statements: see the SQLSTATE codes and fix the workload."
        }
        ErrorClass::ClientError => {
            "A client-side failure (a bug of ours or of the driver): please report it with this report."
        }
        _ => "",
    }
}
