//! The JSON report's types (schema version 1). The JSON Schema shipped in `schema/` is derived
//! from these with schemars, and a test keeps the two equal.
//!
//! Field names are snake_case; times are milliseconds unless the name says otherwise.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::failures::{FaultEffect, FaultEvent, OutageWindow, Outages};
pub(crate) use super::harness::Harness;
use crate::metric::Direction;
use crate::record::errors::ErrorClass;
pub(crate) use crate::record::errors::ErrorStats;
pub(crate) use crate::record::timeline::{ServerBackends, TimelineEntry};
pub(crate) use crate::record::writes::Writes;

pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A run of one scenario: every variant that ran.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub(crate) schema_version: u32,
    pub(crate) tool: Tool,
    /// Also in every connection's `application_name` (`stress:<run id>:<n>`).
    pub run_id: String,
    /// The scenario.
    pub scenario: ScenarioInfo,
    /// RFC 3339, UTC, milliseconds.
    pub(crate) started_at: String,
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run before it measured all it was asked
    /// to (a load cut short, variants not run); the numbers cover what ran until then.
    pub interrupted: bool,
    pub(crate) environment: Environment,
    /// The server the run used.
    pub database: DatabaseInfo,
    /// One entry per variant that ran.
    pub variants: Vec<VariantReport>,
    /// The scenario's verdict.
    pub verdict: Verdict,
    /// A merged report (`stress merge`): the reports it was made from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedSource>,
}

/// One of the reports a merged report was made from.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MergedSource {
    pub(crate) run_id: String,
    pub(crate) host: String,
    pub(crate) started_at: String,
    /// The report file it was read from.
    pub(crate) file: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// The scenario the run came from.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// The scenario's `name`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    pub(crate) file: String,
    /// Hash of the effective settings of every variant (comments and formatting do not count).
    pub settings_sha256: String,
    /// The variants the scenario declares that this run did not select (`--variant`): a
    /// baseline variant missing from a run is a regression unless it is named here. Absent in
    /// reports of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) variants_left_out: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Environment {
    pub(crate) host: String,
    pub(crate) cores: u32,
    pub(crate) os: String,
    pub(crate) stress_version: String,
}

/// The server the run used.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseInfo {
    /// `embedded` or `url`.
    pub source: String,
    /// The server's `server_version`.
    pub server_version: String,
    /// The server's `max_connections`.
    pub max_connections: u32,
    pub(crate) superuser_reserved_connections: u32,
    /// Whether the load connected as a superuser (who may use the reserved slots too).
    #[serde(default)]
    pub(crate) superuser: bool,
    /// With the password replaced by `***`.
    pub url: String,
    /// Server settings of the embedded server (`[database.embedded]`), as given.
    pub(crate) settings: BTreeMap<String, String>,
    /// `[database.pgbouncer]`: the pooler in between, which the load connected through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<super::pooler::PoolerInfo>,
}

/// One variant's results.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantReport {
    /// The variant's name (`default` when the scenario declares none).
    pub name: String,
    /// The variant's effective settings, as `stress check --print` shows them (the database
    /// URL's password redacted).
    #[schemars(with = "serde_json::Value")]
    pub settings: super::settings::VariantSettings,
    /// Hash of this variant's effective settings, as `scenario.settings_sha256` but for this
    /// variant alone: a run of some variants (`--variant`) can be held against a baseline of all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) settings_sha256: String,
    /// Seed of the parameter streams (the scenario's, or the one drawn for this run).
    pub(crate) seed: u64,
    /// Operation counts.
    pub operations: Operations,
    /// Length of the measured phase, in seconds.
    pub measured_s: f64,
    /// Successful operations per second of the measured phase: `ok / measured_s`.
    pub throughput_ops_s: f64,
    /// Latency summaries.
    pub latency_ms: Latency,
    /// Failed operations by class; every failed operation is in exactly one.
    pub errors: BTreeMap<ErrorClass, ErrorStats>,
    /// Silent races.
    pub anomalies: Anomalies,
    /// Connection and pool statistics.
    pub pool: PoolStats,
    /// This run's backends as the server saw them.
    pub server: ServerStats,
    /// `[database.pgbouncer]`: the pooler's peaks over the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooler: Option<super::pooler::PoolerStats>,
    /// Faults injected, one entry per firing.
    pub faults: Vec<FaultEvent>,
    /// Failures in time: the outage windows and the error rate by time. Absent in reports
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outages: Option<Outages>,
    /// Which connections served the operations.
    #[serde(default)]
    pub isolation: Isolation,
    /// What the operations cancelled by `cancel_tasks` carried back to the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_tasks: Option<super::races::CancelledTasks>,
    /// The acknowledged-writes check, when a workload is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<Writes>,
    /// Per workload, operations that held a connection longer than `access.leak_threshold`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub leaks: BTreeMap<String, Leak>,
    /// One entry per second of the measured phase; sums equal the totals.
    pub timeline: Vec<TimelineEntry>,
    /// Findings and advice.
    pub diagnosis: Vec<Finding>,
    /// Whether the variant met its `[expect]`.
    pub verdict: VariantVerdict,
    /// Things that went wrong around the load (a teardown statement that failed, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Wall-clock start of the measured phase (RFC 3339, UTC, milliseconds): merges align the
    /// timelines of several machines on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_at: Option<String>,
    /// A merged report: each machine's own peaks and totals. Peaks are not summed (the
    /// machines' peaks need not coincide); `pool` and `server` hold the highest of them, and
    /// the timeline's per-second sums show what was in use at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<MachinePeaks>,
    /// The harness's own CPU use during the load (absent in reports written before it
    /// existed; in a merged report, the busiest machine's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<Harness>,
    /// The version of the server this variant ran on (`SHOW server_version`): variants on
    /// different images (`[database.docker] image` per variant) differ here. Absent in
    /// reports written before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_version: String,
}

/// One machine's peaks in a merged report, and its contribution to the totals.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MachinePeaks {
    /// The machine's run id.
    pub run_id: String,
    pub(crate) host: String,
    pub(crate) peak_in_use: u64,
    pub(crate) peak_waiting: u64,
    pub(crate) peak_backends: u64,
    pub(crate) peak_idle_in_transaction: u64,
    /// What this machine measured of the variant (absent in merged reports written before it
    /// existed): its operations add up to the merged ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<MachineTotals>,
}

/// One machine's own figures of a variant in a merged report, as its report had them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MachineTotals {
    /// Its `operations`.
    pub operations: Operations,
    /// Its measured phase, in seconds.
    pub measured_s: f64,
    /// Its successful operations per second over its own measured phase.
    pub throughput_ops_s: f64,
    /// p99 of its successful operations, in milliseconds.
    pub operation_p99_ms: f64,
}

/// `total = ok + failed`; `dropped` is outside `total`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    /// Operations finished in the measured phase: `ok + failed`.
    pub total: u64,
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations that failed (each in one error class).
    pub failed: u64,
    /// Open model: arrivals that found every task busy.
    pub dropped: u64,
    /// Operations that needed more than one try.
    pub retried: u64,
    /// Tries beyond the first, in all (latency of a retried operation covers all its tries).
    #[serde(default)]
    pub retries: u64,
    /// Operations that failed with a retryable class on their last try (counted in `failed`).
    #[serde(default)]
    pub retries_exhausted: u64,
    /// `failed` by workload, every workload named (0 included); its successful ones are
    /// `latency_ms.by_workload.<name>.count`. Absent (read as empty) in reports of an older
    /// `stress`, and in a merge with one.
    #[serde(default)]
    pub failed_by_workload: BTreeMap<String, u64>,
}

/// Latency summaries in milliseconds, each with its histogram.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Successful operations, from the start of the acquire to the release.
    pub operation: LatencySummary,
    /// Failed operations.
    pub failed: LatencySummary,
    /// Every acquire attempt, successful or not.
    pub acquire: LatencySummary,
    /// From acquire to release, for operations that got a connection.
    pub hold: LatencySummary,
    /// Successful operations by workload.
    pub by_workload: BTreeMap<String, LatencySummary>,
}

/// A latency summary, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencySummary {
    /// Values recorded. When 0 the statistics are 0 and mean "not measured".
    pub count: u64,
    pub(crate) min: f64,
    /// Mean, ms.
    pub mean: f64,
    /// Median, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    pub p999: f64,
    /// Largest, ms.
    pub max: f64,
    /// Base64 of the HdrHistogram (V2 + deflate) of the values in microseconds.
    pub hdr: String,
}

/// Silent races: no operation failed, yet something went wrong. `null` means not measured in
/// this run (no verified workload, no `leak_threshold`), which is not the same as 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Anomalies {
    /// Server notices 25001 (BEGIN inside another's transaction) and 25P01 (COMMIT or ROLLBACK
    /// with none in progress): transactions of different tasks met on one connection.
    pub transaction_interleaved: u64,
    /// Pooled connections given back while inside a transaction.
    pub returned_in_transaction: u64,
    /// Writes acknowledged as committed but absent from the ledger afterwards.
    #[serde(default)]
    pub lost_writes: Option<u64>,
    /// Writes reported failed but present in the ledger afterwards.
    #[serde(default)]
    pub(crate) phantom_writes: Option<u64>,
    /// Operations that held a connection longer than `access.leak_threshold`.
    #[serde(default)]
    pub leaks: Option<u64>,
    /// Statements that failed with `query_canceled` from a `cancel_queries` request aimed at
    /// another statement of their connection (it arrived after that one ended). Measured with a
    /// `cancel_queries` fault.
    #[serde(default)]
    pub cancel_requests_misdirected: Option<u64>,
    /// Operations of `builtin = "session_state"` that found another task's session mark.
    #[serde(default)]
    pub session_state_leaked: Option<u64>,
    /// `pg_advisory_unlock` calls of `builtin = "advisory_lock"` that returned false.
    #[serde(default)]
    pub advisory_unlock_failed: Option<u64>,
    /// Advisory locks this run's backends still held when the load ended (`pg_locks`).
    #[serde(default)]
    pub advisory_locks_held: Option<u64>,
}

impl Anomalies {
    /// An anomaly's count by its name in the report (`anomalies.<name>`); `None` when it was
    /// not measured, or when no anomaly has that name.
    pub(crate) fn count(&self, name: &str) -> Option<u64> {
        match name {
            "transaction_interleaved" => Some(self.transaction_interleaved),
            "returned_in_transaction" => Some(self.returned_in_transaction),
            "lost_writes" => self.lost_writes,
            "phantom_writes" => self.phantom_writes,
            "leaks" => self.leaks,
            "cancel_requests_misdirected" => self.cancel_requests_misdirected,
            "session_state_leaked" => self.session_state_leaked,
            "advisory_unlock_failed" => self.advisory_unlock_failed,
            "advisory_locks_held" => self.advisory_locks_held,
            _ => None,
        }
    }

    /// Adds another machine's: the counts summed, each optional one only when both measured it.
    pub(crate) fn merge(&mut self, o: &Anomalies) {
        // Destructured, so that a new field cannot be left out.
        let Anomalies {
            transaction_interleaved,
            returned_in_transaction,
            lost_writes,
            phantom_writes,
            leaks,
            cancel_requests_misdirected,
            session_state_leaked,
            advisory_unlock_failed,
            advisory_locks_held,
        } = *o;
        let both = |a: &mut Option<u64>, b: Option<u64>| {
            *a = a.zip(b).map(|(a, b)| a.saturating_add(b));
        };
        self.transaction_interleaved =
            (self.transaction_interleaved).saturating_add(transaction_interleaved);
        self.returned_in_transaction =
            (self.returned_in_transaction).saturating_add(returned_in_transaction);
        both(&mut self.lost_writes, lost_writes);
        both(&mut self.phantom_writes, phantom_writes);
        both(&mut self.leaks, leaks);
        both(
            &mut self.cancel_requests_misdirected,
            cancel_requests_misdirected,
        );
        both(&mut self.session_state_leaked, session_state_leaked);
        both(&mut self.advisory_unlock_failed, advisory_unlock_failed);
        both(&mut self.advisory_locks_held, advisory_locks_held);
    }
}

/// Which connections (backends) served the operations.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Isolation {
    /// Connections that served at least one operation (each is one backend).
    pub backends_used: u64,
    /// Most operations in flight on one backend at once: 1 when every operation had its
    /// connection to itself, more on a shared connection.
    pub max_operations_per_backend: u64,
    /// What the operation that next used a connection given back inside a transaction met:
    /// `ok` or an error class, with counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub after_dirty_return: BTreeMap<String, u64>,
}

/// Operations of one workload that held a connection too long.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Leak {
    /// Operations of the workload that held a connection longer than `leak_threshold`.
    pub count: u64,
    /// The longest hold, ms.
    pub longest_ms: f64,
}

/// Connections of the variant (every mode) and bb8's own statistics (pool mode).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolStats {
    /// Most connections held for an operation at once (measured phase).
    pub peak_in_use: u64,
    /// Most tasks waiting to get a connection at once (measured phase).
    pub peak_waiting: u64,
    /// Connections opened over the whole run, including those opened before the load (a shared
    /// connection, `min_idle`) and during the warmup. The other counters below cover the
    /// measured phase only.
    pub connections_created: u64,
    /// Connections closed over the whole run, as `connections_created`.
    pub(crate) connections_closed: u64,
    /// Connections found dead when given back (whole run, as `connections_created`).
    pub closed_broken: u64,
    /// Pool gets that timed out (bb8).
    pub(crate) timed_out_gets: u64,
    /// Operations whose connection was cut under them by a pool closed without drain
    /// (counted in `errors.pool_closed` too).
    #[serde(default)]
    pub cut_by_close: u64,
    /// Failures on the first statement of a reused pooled connection that had died while idle:
    /// what `test_on_check_out` (a pre-ping) would have caught.
    #[serde(default)]
    pub died_idle: u64,
    /// Pool gets that had to wait (bb8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) waited_gets: Option<u64>,
    /// Connections that failed the pre-ping (bb8's `test_on_check_out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_invalid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) closed_idle_timeout: Option<u64>,
    /// Connections closed by `max_lifetime` (pool mode only; under a pool model for their age
    /// or use: psycopg_pool's `max_lifetime`, SQLAlchemy's `pool_recycle`, asyncpg's
    /// `max_queries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_max_lifetime: Option<u64>,
    /// Overflow connections closed when given back while `pool_size` were idle, to be opened
    /// again at the next burst (`pool.model = "sqlalchemy"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_overflow: Option<u64>,
    /// Connect attempts that failed, by class, including those bb8 retried silently.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connect_errors: BTreeMap<ErrorClass, u64>,
    /// Resets sent on return (`pool.reset_on_return`; absent when it is `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets: Option<u64>,
    /// Resets on return that failed, by class (each such connection was discarded).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reset_failures: BTreeMap<ErrorClass, u64>,
}

/// This run's backends as the server saw them (sampled once a second).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerStats {
    /// Most backends of this run at once.
    pub peak_backends: u64,
    pub(crate) peak_idle_in_transaction: u64,
    /// The longest any of this run's backends sat idle inside a transaction (sampled).
    #[serde(default)]
    pub(crate) longest_idle_in_transaction_ms: u64,
    /// Seconds in which some backend of this run was idle inside a transaction.
    #[serde(default)]
    pub(crate) seconds_with_idle_in_transaction: u64,
}

/// What happened and what to change, from this run's numbers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// An error class, an anomaly (`anomalies.<name>`), a cost (`cost.<name>`), `clean`,
    /// `not_measured`, `verdict.failed`, or `comparison` (across the variants, on the last one).
    pub class: String,
    /// What happened, quoting this run's figures.
    pub finding: String,
    /// What to change.
    pub advice: String,
}

/// Whether a variant met its `[expect]`: every check, with its limit and the value measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantVerdict {
    /// Every check passed (true when there are none).
    pub pass: bool,
    /// Every `[expect]` check, judged.
    pub checks: Vec<Check>,
    /// `abort_on_fail`: the check that stopped the variant early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Aborted>,
}

/// One expectation, judged.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// In the metric vocabulary: `operation.p99`, `errors.pool_timeout`, `throughput`, ...
    pub metric: String,
    /// `max`: the value must not exceed the limit; `min` (throughput): must not fall below it.
    pub(crate) bound: Direction,
    /// In the metric's unit: milliseconds for latencies, a fraction for `error_rate`,
    /// operations per second for `throughput`, counts otherwise.
    pub(crate) limit: f64,
    /// Null when the run could not measure it; the check then fails and `note` says why.
    pub actual: Option<f64>,
    /// Whether the check held.
    pub pass: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// A variant stopped by `abort_on_fail` as soon as a check could no longer pass.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Aborted {
    /// The check that could no longer pass.
    pub metric: String,
    /// Milliseconds into the measured phase.
    pub(crate) at_ms: u64,
    pub(crate) detail: String,
}

/// The scenario's verdict: every variant passed. With expectations and several variants (a
/// sweep, say), also the cheapest configuration that met them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Every variant passed.
    pub pass: bool,
    /// With expectations and several variants (a sweep, say): the cheapest configuration
    /// that met them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cheapest: Option<Cheapest>,
}

/// The configuration that met every expectation with the fewest connections.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cheapest {
    /// Null when no variant met its expectations.
    pub variant: Option<String>,
    /// Connections it may open: instances × max_size (pool), instances (shared), tasks
    /// (per_task, per_operation).
    pub connections: Option<u64>,
    /// How it was chosen, or why none was.
    pub(crate) detail: String,
}
