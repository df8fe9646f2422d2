//! `[[fault]]`: something that goes wrong at a chosen moment of the measured phase.
//!
//! ```toml
//! [[fault]]
//! kind = "close_pool"        # close_pool | terminate_backends | restart_server | cancel_queries
//!                            # | kill_backend | sql | read_only | cancel_tasks | network
//!                            # | restart_pooler | pause_pooler
//! at = "1s"                  # into the measured phase
//! every = "2s"               # optional: again and again
//! drain = false              # close_pool: cut held connections (false) or let them finish (true)
//! reopen_after = "500ms"     # close_pool: build a fresh pool, as recovery code does
//! fraction = 0.5             # terminate_backends, cancel_queries: share of this run's backends;
//!                            # cancel_tasks: share of the tasks holding a connection
//! mode = "fast"              # restart_server: fast | immediate; restart_pooler: graceful | immediate
//! down_for = "1s"            # restart_server, restart_pooler: how long it stays down
//! sql = ["ALTER TABLE t ADD COLUMN c int"]  # sql: statements run on a connection of the harness
//! for = "2s"                 # sql: run them in a transaction held this long (a held lock);
//!                            # read_only: how long the server refuses writes;
//!                            # network: how long the toxic stays (to the end without it);
//!                            # pause_pooler: how long PgBouncer stays paused (PAUSE ... RESUME)
//! terminate = false          # read_only: also terminate this run's sessions, as a failover does
//! guard = true               # cancel_queries: no statement starts on a targeted connection
//!                            # until its cancel is delivered (the drivers' fix of the race)
//! toxic = "timeout"          # network: latency | bandwidth | timeout | reset_peer | slow_close
//!                            # | slicer | limit_data | down (toxiproxy's names; see
//!                            # model/toxics.rs for their keys)
//! stream = "both"            # network: upstream | downstream | both
//! idle_only = true           # network: only connections idle at that moment
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::toxics::{StreamName, ToxicName};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The pool is closed; acquires fail at once with `pool_closed` until it is reopened.
    ClosePool,
    /// `pg_terminate_backend` on a fraction of this run's backends.
    TerminateBackends,
    /// The embedded server stops (`fast` or `immediate`), stays down, starts again.
    RestartServer,
    /// `pg_cancel_backend` on a fraction of this run's active backends.
    CancelQueries,
    /// SIGKILL to one of this run's backends on the embedded server: the postmaster then resets
    /// every backend (`server_crash`, 57P02) and recovers.
    KillBackend,
    /// Statements run on a connection of the harness (an `ALTER TABLE`, a `LOCK TABLE` held in
    /// a transaction for `for`, `VACUUM FULL`, `pg_reload_conf()`); see `run/fault_sql.rs`.
    Sql,
    /// The server refuses writes for `for` (`default_transaction_read_only` set and reloaded,
    /// as a former primary after a failover); see `run/fault_read_only.rs`.
    ReadOnly,
    /// The operation futures of a fraction of the tasks holding a connection are dropped, as a
    /// runtime drops a cancelled request; the tasks go on with their next operation.
    CancelTasks,
    /// A toxic on the proxy between the load and the server (see `src/network/`).
    Network,
    /// `[database.pgbouncer]` stops (`graceful`: SIGINT, in-flight transactions finish first;
    /// `immediate`: SIGTERM, every connection cut), stays down for `down_for`, starts again.
    RestartPooler,
    /// PgBouncer's `PAUSE` (server connections released, clients queue) for `for`, then `RESUME`.
    PausePooler,
}

impl FaultKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FaultKind::ClosePool => "close_pool",
            FaultKind::TerminateBackends => "terminate_backends",
            FaultKind::RestartServer => "restart_server",
            FaultKind::CancelQueries => "cancel_queries",
            FaultKind::KillBackend => "kill_backend",
            FaultKind::Sql => "sql",
            FaultKind::ReadOnly => "read_only",
            FaultKind::CancelTasks => "cancel_tasks",
            FaultKind::Network => "network",
            FaultKind::RestartPooler => "restart_pooler",
            FaultKind::PausePooler => "pause_pooler",
        }
    }

    /// Whether it acts on the embedded server's processes, so needs that server.
    pub(crate) fn needs_embedded_server(self) -> bool {
        matches!(self, FaultKind::RestartServer | FaultKind::KillBackend)
    }

    /// Whether it acts on `[database.pgbouncer]`, so needs one.
    pub(crate) fn needs_pooler(self) -> bool {
        matches!(self, FaultKind::RestartPooler | FaultKind::PausePooler)
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RestartMode {
    /// SIGINT: transactions are aborted, clients disconnected, a shutdown checkpoint is written.
    #[default]
    Fast,
    /// SIGQUIT: no checkpoint; crash recovery at the next start (restart_pooler: every
    /// connection cut at once, SIGTERM before PgBouncer 1.23, SIGQUIT from 1.23).
    Immediate,
    /// restart_pooler only: SIGINT, PgBouncer pauses (in-flight transactions finish), then
    /// exits.
    Graceful,
}

/// One `[[fault]]` entry; the keys that do not belong to its kind are refused by validation.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSettings {
    pub(crate) kind: FaultKind,
    #[serde(with = "super::duration")]
    pub(crate) at: Duration,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) every: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) drain: Option<bool>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) reopen_after: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fraction: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<RestartMode>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) down_for: Option<Duration>,
    /// `sql`: the statements, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sql: Option<Vec<String>>,
    /// `sql`: hold the statements' transaction this long; `read_only`: how long it lasts;
    /// `network`: how long the toxic stays; `pause_pooler`: how long the pause lasts.
    #[serde(
        default,
        rename = "for",
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) for_: Option<Duration>,
    /// `read_only`: terminate this run's sessions too (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) terminate: Option<bool>,
    /// `cancel_queries`: hold back the targeted connection's next statement until the cancel
    /// is delivered (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) guard: Option<bool>,
    // The keys of `kind = "network"` (see model/network.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) toxic: Option<ToxicName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<StreamName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) idle_only: Option<bool>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) latency: Option<Duration>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) jitter: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate: Option<u64>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) timeout: Option<Duration>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) average_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) size_variation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bytes: Option<u64>,
}

/// How long a restarted server stays down when `down_for` is not given.
pub(crate) const DEFAULT_DOWN_FOR: Duration = Duration::from_secs(1);

impl FaultSettings {
    pub(crate) fn drain(&self) -> bool {
        self.drain.unwrap_or(false)
    }

    pub(crate) fn fraction(&self) -> f64 {
        self.fraction.unwrap_or(1.0)
    }

    /// How long after it fires its action lasts, for its window (see `record::spells`): a
    /// restart's `down_for`, a closed pool's `reopen_after` (`None`: closed for good), at once
    /// for the kinds that only signal.
    pub(crate) fn settles_after(&self) -> Option<Duration> {
        match self.kind {
            FaultKind::RestartServer | FaultKind::RestartPooler => {
                Some(self.down_for.unwrap_or(DEFAULT_DOWN_FOR))
            }
            FaultKind::PausePooler => Some(self.for_.unwrap_or(DEFAULT_DOWN_FOR)),
            FaultKind::ClosePool => self.reopen_after,
            FaultKind::Sql | FaultKind::ReadOnly => Some(self.for_.unwrap_or_default()),
            FaultKind::Network => self.for_,
            _ => Some(Duration::ZERO),
        }
    }

    /// The keys given that do not apply to this kind.
    pub(crate) fn foreign_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let k = self.kind;
        if k != FaultKind::ClosePool {
            if self.drain.is_some() {
                keys.push("drain");
            }
            if self.reopen_after.is_some() {
                keys.push("reopen_after");
            }
        }
        if !matches!(
            k,
            FaultKind::TerminateBackends
                | FaultKind::CancelQueries
                | FaultKind::CancelTasks
                | FaultKind::Network
        ) && self.fraction.is_some()
        {
            keys.push("fraction");
        }
        if !matches!(k, FaultKind::RestartServer | FaultKind::RestartPooler) {
            if self.mode.is_some() {
                keys.push("mode");
            }
            if self.down_for.is_some() {
                keys.push("down_for");
            }
        }
        keys.extend(self.foreign_race_keys());
        keys.extend(foreign_network_keys(self));
        keys
    }

    /// The keys of `sql`, `read_only` and `cancel_queries`'s `guard`, and `for` (`sql`,
    /// `read_only`, `network`, `pause_pooler`), given to another kind.
    fn foreign_race_keys(&self) -> Vec<&'static str> {
        let k = self.kind;
        let mut keys = Vec::new();
        if k != FaultKind::Sql && self.sql.is_some() {
            keys.push("sql");
        }
        if !matches!(
            k,
            FaultKind::Sql | FaultKind::ReadOnly | FaultKind::Network | FaultKind::PausePooler
        ) && self.for_.is_some()
        {
            keys.push("for");
        }
        if k != FaultKind::ReadOnly && self.terminate.is_some() {
            keys.push("terminate");
        }
        if k != FaultKind::CancelQueries && self.guard.is_some() {
            keys.push("guard");
        }
        keys
    }
}

/// The keys of a fault that only `network` faults take, with whether this one gives them.
fn network_keys(f: &FaultSettings) -> [(&'static str, bool); 11] {
    [
        ("toxic", f.toxic.is_some()),
        ("stream", f.stream.is_some()),
        ("idle_only", f.idle_only.is_some()),
        ("latency", f.latency.is_some()),
        ("jitter", f.jitter.is_some()),
        ("rate", f.rate.is_some()),
        ("timeout", f.timeout.is_some()),
        ("delay", f.delay.is_some()),
        ("average_size", f.average_size.is_some()),
        ("size_variation", f.size_variation.is_some()),
        ("bytes", f.bytes.is_some()),
    ]
}

/// The network keys given that do not apply to this fault (all of them unless it is a
/// `network` fault; a toxic's own keys unless it is that toxic).
pub(crate) fn foreign_network_keys(f: &FaultSettings) -> Vec<&'static str> {
    let given = network_keys(f)
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(k, _)| k);
    if f.kind != FaultKind::Network {
        return given.collect();
    }
    let own = f.toxic.map_or(&[][..], |t| t.keys());
    given
        .filter(|k| is_toxic_key(k) && !own.contains(k))
        .collect()
}

fn is_toxic_key(k: &str) -> bool {
    !["toxic", "for", "stream", "idle_only"].contains(&k)
}

/// What is missing or out of range in a `network` fault: `(key, message)`.
pub(crate) fn network_fault_problems(f: &FaultSettings) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    if f.kind != FaultKind::Network {
        return p;
    }
    let Some(toxic) = f.toxic else {
        p.push((
            "toxic",
            "a network fault needs a toxic: latency, bandwidth, timeout, reset_peer, slow_close, \
             slicer, limit_data or down"
                .to_string(),
        ));
        return p;
    };
    // `given` is None when the key is absent, Some(false) when its value is out of range
    // (review of 2026-12-03: `average_size = 0` read "needs `average_size`").
    let need =
        |p: &mut Vec<(&'static str, String)>, key: &'static str, given: Option<bool>| match given {
            None => p.push((key, format!("toxic = \"{}\" needs `{key}`", toxic.as_str()))),
            Some(false) => p.push((key, "must be positive".to_string())),
            Some(true) => {}
        };
    match toxic {
        ToxicName::Latency => need(&mut p, "latency", f.latency.map(|_| true)),
        ToxicName::Bandwidth => need(&mut p, "rate", f.rate.map(|r| r > 0)),
        ToxicName::SlowClose => need(&mut p, "delay", f.delay.map(|_| true)),
        ToxicName::Slicer => need(&mut p, "average_size", f.average_size.map(|s| s > 0)),
        ToxicName::LimitData => need(&mut p, "bytes", f.bytes.map(|_| true)),
        ToxicName::Timeout | ToxicName::ResetPeer | ToxicName::Down => {}
    }
    if toxic == ToxicName::Down {
        let given = [
            ("stream", f.stream.is_some()),
            ("idle_only", f.idle_only.is_some()),
            ("fraction", f.fraction.is_some()),
        ];
        for (key, _) in given.into_iter().filter(|(_, g)| *g) {
            p.push((
                key,
                format!("`{key}` does not apply to toxic = \"down\": it acts on the whole proxy"),
            ));
        }
    }
    if f.for_.is_some_and(|d| d.is_zero()) {
        p.push((
            "for",
            "must be positive (leave it out to keep the toxic to the end)".into(),
        ));
    }
    if f.every.is_some() && f.for_.is_none() {
        p.push((
            "for",
            "a repeated network fault needs `for` (each occurrence must end)".into(),
        ));
    }
    p
}
