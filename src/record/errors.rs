//! Error classes: every failed operation lands in exactly one.
//!
//! Classification follows the SQLSTATE where there is one, the driver's error kind otherwise,
//! and message text only where a code is shared (57014 is both `statement_timeout` and
//! `query_canceled`; the server says which). A connection that died without an error on the
//! statement is looked up in the connection task's own terminal error, which bb8-postgres would
//! have dropped: that is how a terminated backend is `admin_terminated`, not `connection_closed`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_postgres::error::SqlState;

/// The stable names of the contract's error classes (CI configurations refer to them). Each is
/// described in `docs/errors.md`; the variants carry `//` comments, not `///`, because schemars
/// would turn documented unit variants into a `oneOf`, and the report's schema would lose the
/// class names as the keys of `errors` and of every other map keyed by class.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    // A statement sent on a shared, exclusive connection while another was in flight.
    OperationInProgress,
    // 25P02: a statement in a transaction an earlier error had aborted.
    InFailedTransaction,
    // The connection was lost while COMMIT was in flight: the outcome is unknown (takes
    // precedence over the class of the loss).
    CommitIndeterminate,
    // The client-side `load.op_timeout` fired.
    OpDeadlineExceeded,
    // No connection from the pool within its wait, and no connect error during the wait.
    PoolTimeout,
    // An acquire on a closed pool, or a held connection cut by a close without drain.
    PoolClosed,
    // Opening the connection failed: refused, unreachable, reset.
    ConnectRefused,
    // Opening the connection timed out.
    ConnectTimeout,
    // 28P01, 28000, 3D000: bad password, authorization refused, no such database.
    AuthFailed,
    // The TLS handshake or the certificate's verification failed, or TLS that `sslmode`
    // requires is not offered.
    TlsFailed,
    // 53300: the server's connection slots are full.
    TooManyConnections,
    // 57P03: the server is starting up, shutting down or in recovery.
    ServerUnavailable,
    // 57P01: the backend was terminated (`pg_terminate_backend`, a fast shutdown).
    AdminTerminated,
    // 57P02: the server is resetting after another backend crashed.
    ServerCrash,
    // 25P03, 57P05: the server ended an idle transaction or session.
    SessionTimeout,
    // The connection died mid-operation without an error that says why.
    ConnectionClosed,
    // 57014 caused by `statement_timeout`.
    StatementTimeout,
    // 57014 otherwise: `pg_cancel_backend`, a client's cancel request.
    QueryCanceled,
    // 55P03: waited for a lock longer than `lock_timeout`.
    LockTimeout,
    // 40001: could not serialize access (retryable).
    SerializationFailure,
    // 40P01: deadlock detected (retryable).
    DeadlockDetected,
    // 08P01: a pooler in between (PgBouncer) refused the operation; the reason is kept.
    PoolerError,
    // 26000, 42P05: a prepared statement missing or already present on the
    // connection (transaction pooling).
    PreparedStatementMismatch,
    // 53xxx other than 53300: the server ran out of a resource.
    ResourceExhausted,
    // Any other SQLSTATE: the server rejected the statement (kept per code).
    SqlError,
    // Anything else: a bug of ours or of the driver. Never silent.
    ClientError,
    // 0A000 "cached plan must not change result type": a cached prepared statement
    // whose result columns changed.
    CachedPlanInvalid,
    // 25006: a write in a read-only transaction (a standby, a demoted primary).
    ReadOnlyTransaction,
    // The operation's task was cancelled (its future dropped) by a `cancel_tasks` fault.
    TaskCancelled,
}

impl ErrorClass {
    /// Every class, in the order the docs list them.
    pub const ALL: [ErrorClass; 29] = [
        ErrorClass::OperationInProgress,
        ErrorClass::InFailedTransaction,
        ErrorClass::CommitIndeterminate,
        ErrorClass::OpDeadlineExceeded,
        ErrorClass::PoolTimeout,
        ErrorClass::PoolClosed,
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::AuthFailed,
        ErrorClass::TlsFailed,
        ErrorClass::TooManyConnections,
        ErrorClass::ServerUnavailable,
        ErrorClass::AdminTerminated,
        ErrorClass::ServerCrash,
        ErrorClass::SessionTimeout,
        ErrorClass::ConnectionClosed,
        ErrorClass::StatementTimeout,
        ErrorClass::QueryCanceled,
        ErrorClass::LockTimeout,
        ErrorClass::SerializationFailure,
        ErrorClass::DeadlockDetected,
        ErrorClass::PoolerError,
        ErrorClass::PreparedStatementMismatch,
        ErrorClass::ResourceExhausted,
        ErrorClass::SqlError,
        ErrorClass::ClientError,
        ErrorClass::CachedPlanInvalid,
        ErrorClass::ReadOnlyTransaction,
        ErrorClass::TaskCancelled,
    ];

    /// The class's stable name, as the report and `[expect]` spell it (`pool_timeout`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::OperationInProgress => "operation_in_progress",
            ErrorClass::InFailedTransaction => "in_failed_transaction",
            ErrorClass::CommitIndeterminate => "commit_indeterminate",
            ErrorClass::OpDeadlineExceeded => "op_deadline_exceeded",
            ErrorClass::PoolTimeout => "pool_timeout",
            ErrorClass::PoolClosed => "pool_closed",
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::AuthFailed => "auth_failed",
            ErrorClass::TlsFailed => "tls_failed",
            ErrorClass::TooManyConnections => "too_many_connections",
            ErrorClass::ServerUnavailable => "server_unavailable",
            ErrorClass::AdminTerminated => "admin_terminated",
            ErrorClass::ServerCrash => "server_crash",
            ErrorClass::SessionTimeout => "session_timeout",
            ErrorClass::ConnectionClosed => "connection_closed",
            ErrorClass::StatementTimeout => "statement_timeout",
            ErrorClass::QueryCanceled => "query_canceled",
            ErrorClass::LockTimeout => "lock_timeout",
            ErrorClass::SerializationFailure => "serialization_failure",
            ErrorClass::DeadlockDetected => "deadlock_detected",
            ErrorClass::PoolerError => "pooler_error",
            ErrorClass::PreparedStatementMismatch => "prepared_statement_mismatch",
            ErrorClass::ResourceExhausted => "resource_exhausted",
            ErrorClass::SqlError => "sql_error",
            ErrorClass::ClientError => "client_error",
            ErrorClass::CachedPlanInvalid => "cached_plan_invalid",
            ErrorClass::ReadOnlyTransaction => "read_only_transaction",
            ErrorClass::TaskCancelled => "task_cancelled",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Classes that mean the connection itself is gone: a COMMIT that meets one of them has an
    /// unknown outcome.
    pub(crate) fn is_connection_loss(self) -> bool {
        matches!(
            self,
            ErrorClass::ConnectionClosed
                | ErrorClass::AdminTerminated
                | ErrorClass::ServerCrash
                | ErrorClass::ServerUnavailable
                | ErrorClass::SessionTimeout
        )
    }
}

impl ErrorClass {
    /// Classes the application's own connection handling raises, the server not involved: a
    /// shared connection's collision, a pool's wait, close or cancelled task.
    pub(crate) fn is_client_side(self) -> bool {
        matches!(
            self,
            ErrorClass::OperationInProgress
                | ErrorClass::PoolTimeout
                | ErrorClass::PoolClosed
                | ErrorClass::TaskCancelled
                | ErrorClass::ClientError
        )
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed operation's error: its class, SQLSTATE if any, and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// The class it lands in.
    pub class: ErrorClass,
    pub(crate) sqlstate: Option<String>,
    pub(crate) message: String,
}

impl OpError {
    pub(crate) fn new(class: ErrorClass, message: impl Into<String>) -> OpError {
        OpError {
            class,
            sqlstate: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sqlstate {
            Some(code) => write!(f, "{}: {} ({code})", self.class, self.message),
            None => write!(f, "{}: {}", self.class, self.message),
        }
    }
}

impl std::error::Error for OpError {}

/// The server's message when a cached prepared statement's result type changed (0A000, a
/// code shared with every other feature that is not supported).
const CACHED_PLAN_MESSAGE: &str = "cached plan must not change result type";

/// The class of a server error by its SQLSTATE (and, for 57014 and 0A000, its message).
pub(crate) fn class_of_sqlstate(code: &SqlState, message: &str) -> ErrorClass {
    if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        return ErrorClass::ReadOnlyTransaction;
    }
    if *code == SqlState::FEATURE_NOT_SUPPORTED && message.contains(CACHED_PLAN_MESSAGE) {
        return ErrorClass::CachedPlanInvalid;
    }
    if *code == SqlState::QUERY_CANCELED {
        // 57014 is shared: the server's message is the only thing that tells the cause.
        return if message.contains("statement timeout") {
            ErrorClass::StatementTimeout
        } else {
            ErrorClass::QueryCanceled
        };
    }
    if let Some((_, class)) = BY_SQLSTATE.iter().find(|(c, _)| c == code) {
        return *class;
    }
    if code.code().starts_with("53") {
        ErrorClass::ResourceExhausted
    } else {
        ErrorClass::SqlError
    }
}

/// The SQLSTATEs that name their class alone, grouped by class (rust-postgres' constants).
const BY_SQLSTATE: &[(SqlState, ErrorClass)] = &[
    (
        SqlState::IN_FAILED_SQL_TRANSACTION,
        ErrorClass::InFailedTransaction,
    ),
    (SqlState::INVALID_PASSWORD, ErrorClass::AuthFailed),
    (
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        ErrorClass::AuthFailed,
    ),
    (SqlState::UNDEFINED_DATABASE, ErrorClass::AuthFailed),
    (
        SqlState::TOO_MANY_CONNECTIONS,
        ErrorClass::TooManyConnections,
    ),
    (SqlState::CANNOT_CONNECT_NOW, ErrorClass::ServerUnavailable),
    (SqlState::ADMIN_SHUTDOWN, ErrorClass::AdminTerminated),
    (SqlState::CRASH_SHUTDOWN, ErrorClass::ServerCrash),
    (
        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
        ErrorClass::SessionTimeout,
    ),
    (SqlState::IDLE_SESSION_TIMEOUT, ErrorClass::SessionTimeout),
    (SqlState::LOCK_NOT_AVAILABLE, ErrorClass::LockTimeout),
    (
        SqlState::T_R_SERIALIZATION_FAILURE,
        ErrorClass::SerializationFailure,
    ),
    (
        SqlState::T_R_DEADLOCK_DETECTED,
        ErrorClass::DeadlockDetected,
    ),
    (SqlState::PROTOCOL_VIOLATION, ErrorClass::PoolerError),
    (
        SqlState::INVALID_SQL_STATEMENT_NAME,
        ErrorClass::PreparedStatementMismatch,
    ),
    (
        SqlState::DUPLICATE_PSTATEMENT,
        ErrorClass::PreparedStatementMismatch,
    ),
];

/// What the harness was doing when a driver error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Opening a connection.
    Connect,
    /// A statement (or a pre-ping) on an open connection.
    Statement,
    /// COMMIT in flight: a lost connection makes the outcome unknown.
    Commit,
}

/// Classifies a tokio-postgres error. `terminal` is the error the connection task ended with,
/// if it has ended: it explains a bare "connection closed".
pub(crate) fn classify(
    e: &tokio_postgres::Error,
    phase: Phase,
    terminal: Option<&OpError>,
) -> OpError {
    let base = classify_driver(e, phase, terminal);
    if phase == Phase::Commit && base.class.is_connection_loss() {
        return OpError {
            class: ErrorClass::CommitIndeterminate,
            sqlstate: base.sqlstate,
            message: format!(
                "connection lost while COMMIT was in flight: {}",
                base.message
            ),
        };
    }
    base
}

/// How tokio-postgres starts the message of a TLS error (it has no public error kind): the
/// handshake or the verification failed, or the server refused TLS that `sslmode` requires.
const TLS_ERROR: &str = "error performing TLS handshake";

fn classify_driver(e: &tokio_postgres::Error, phase: Phase, terminal: Option<&OpError>) -> OpError {
    if let Some(db) = e.as_db_error() {
        return OpError {
            class: class_of_sqlstate(db.code(), db.message()),
            sqlstate: Some(db.code().code().to_string()),
            message: db.message().to_string(),
        };
    }
    let io_kind = io_error(e).map(io::Error::kind);
    if phase == Phase::Connect && e.to_string().starts_with(TLS_ERROR) {
        return OpError::new(ErrorClass::TlsFailed, describe(e));
    }
    if phase == Phase::Connect {
        let class = match io_kind {
            Some(io::ErrorKind::TimedOut) => ErrorClass::ConnectTimeout,
            _ => ErrorClass::ConnectRefused,
        };
        return OpError::new(class, describe(e));
    }
    if let Some(t) = terminal
        && t.class != ErrorClass::ClientError
    {
        return ended(describe(e), t);
    }
    if e.is_closed() || io_kind.is_some() {
        return OpError::new(ErrorClass::ConnectionClosed, describe(e));
    }
    OpError::new(ErrorClass::ClientError, describe(e))
}

/// What an error on a connection that has ended is: the class of how it ended.
fn ended(what: String, terminal: &OpError) -> OpError {
    OpError {
        class: terminal.class,
        sqlstate: terminal.sqlstate.clone(),
        message: format!("{what} (the connection had ended: {})", terminal.message),
    }
}

/// tokio-postgres's "connection closed" met by a statement (the wire's, `access/wire.rs`),
/// classified as `classify` does.
pub(crate) fn closed(terminal: Option<&OpError>) -> OpError {
    const CLOSED: &str = "connection closed";
    match terminal {
        Some(t) if t.class != ErrorClass::ClientError => ended(CLOSED.to_string(), t),
        _ => OpError::new(ErrorClass::ConnectionClosed, CLOSED),
    }
}

/// A socket that could not be opened: the server could not be reached.
pub(crate) fn connect_failed(e: io::Error) -> OpError {
    let class = match e.kind() {
        io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        _ => ErrorClass::ConnectRefused,
    };
    OpError::new(class, format!("error connecting to server: {e}"))
}

/// The connection task's own terminal error, classified for later lookups.
pub(crate) fn classify_terminal(e: &tokio_postgres::Error) -> OpError {
    match e.as_db_error() {
        Some(db) => OpError {
            class: class_of_sqlstate(db.code(), db.message()),
            sqlstate: Some(db.code().code().to_string()),
            message: db.message().to_string(),
        },
        None => OpError::new(ErrorClass::ConnectionClosed, describe(e)),
    }
}

fn io_error(e: &tokio_postgres::Error) -> Option<&io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// The error with its causes, `: `-separated ("error connecting to server: Connection refused").
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// The failed operations of one class: the report's `errors.<class>`.
// Kept the same way in a recorder (for a worker, merged over workers) and in the report
// (merged over machines by the same `merge`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorStats {
    /// Failed operations of this class.
    pub count: u64,
    /// SQLSTATE codes seen in this class, with counts.
    pub sqlstates: BTreeMap<String, u64>,
    /// `pooler_error` only: the pooler's reasons (`max_client_conn`, `query_wait_timeout`,
    /// `server_conn_crashed`, ...; see docs/errors.md), with counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reasons: BTreeMap<String, u64>,
    /// When the first one failed, in milliseconds into the measured phase.
    pub first_at_ms: u64,
    /// When the last one failed, in milliseconds into the measured phase.
    pub last_at_ms: u64,
    /// The message of the first one.
    pub sample: String,
}

impl ErrorStats {
    /// Counts one failed operation, at `at_ms` into the measured phase.
    fn add(&mut self, e: &OpError, at_ms: u64) {
        if let Some(code) = &e.sqlstate {
            *self.sqlstates.entry(code.clone()).or_default() += 1;
        }
        if e.class == ErrorClass::PoolerError {
            let key = super::pooler::reason(&e.message);
            *self.reasons.entry(key.to_string()).or_default() += 1;
        }
        self.note(1, at_ms, at_ms, &e.message);
    }

    /// Adds `o`'s counts (another worker's, or another machine's shifted to this one's
    /// clock): the earliest sample wins, the latest end.
    pub(crate) fn merge(&mut self, o: &ErrorStats) {
        for (code, n) in &o.sqlstates {
            let t = self.sqlstates.entry(code.clone()).or_default();
            *t = t.saturating_add(*n);
        }
        for (key, n) in &o.reasons {
            let t = self.reasons.entry(key.clone()).or_default();
            *t = t.saturating_add(*n);
        }
        self.note(o.count, o.first_at_ms, o.last_at_ms, &o.sample);
    }

    /// `count` more, seen from `first` to `last`, the first one saying `sample`.
    fn note(&mut self, count: u64, first: u64, last: u64, sample: &str) {
        let empty = self.count == 0;
        self.count = self.count.saturating_add(count);
        if empty || first < self.first_at_ms {
            self.first_at_ms = first;
            self.sample = sample.to_string();
        }
        self.last_at_ms = if empty {
            last
        } else {
            self.last_at_ms.max(last)
        };
    }
}

/// Failed operations by class.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ErrorTally {
    pub(crate) classes: BTreeMap<ErrorClass, ErrorStats>,
}

impl ErrorTally {
    /// Counts one failed operation, at `at_ms` into the measured phase.
    pub(crate) fn add(&mut self, e: &OpError, at_ms: u64) {
        self.classes.entry(e.class).or_default().add(e, at_ms);
    }

    pub(crate) fn merge(&mut self, other: &ErrorTally) {
        for (class, o) in &other.classes {
            self.classes.entry(*class).or_default().merge(o);
        }
    }
}

#[cfg(test)]
#[path = "errors_tests.rs"]
mod tests;
