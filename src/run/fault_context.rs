//! What every fault acts on (the [`Context`]) and the helpers the fault kinds share: the end of
//! the load as the faults see it ([`Stop`]), signalling this run's backends, listing them. The
//! kinds themselves (`fault_*.rs`, `pause_pooler.rs`, ...) and the runner that dispatches to them
//! (`faults.rs`) sit above this file, so no fault kind imports its dispatcher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::admin::Admin;
use super::task::LoadRun;
use crate::access::gauges::Gauges;
use crate::database::ServerHandle;
use crate::record::errors::describe;
use crate::scenario::model::FaultSettings;

/// One occurrence of a fault, into the measured phase.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scheduled {
    /// Index into the variant's `[[fault]]` list.
    pub(crate) fault: usize,
    pub(crate) at: Duration,
}

/// What the fault runner acts on.
pub(crate) struct Context {
    pub(crate) load: Arc<LoadRun>,
    pub(crate) admin: Arc<Admin>,
    pub(crate) server: Option<ServerHandle>,
    /// `[database.pgbouncer]`, for restart_pooler and pause_pooler.
    pub(crate) pooler: Option<crate::database::PoolerHandle>,
    pub(crate) run_id: String,
    pub(crate) gauges: Arc<Gauges>,
    /// `stress:<run id>:%` as a LIKE pattern.
    pub(crate) pattern: String,
    pub(crate) faults: Vec<FaultSettings>,
    pub(crate) schedule: Vec<Scheduled>,
    pub(crate) seed: u64,
}

/// The end of the load, as the faults see it: a fault that holds something (a lock, a
/// read-only server) for `for` lets go early when the load ends, then undoes what it did.
pub(super) struct Stop {
    signal: oneshot::Receiver<()>,
    stopped: bool,
}

impl Stop {
    /// The load ends when `signal` fires (or its sender is dropped).
    pub(super) fn new(signal: oneshot::Receiver<()>) -> Stop {
        Stop {
            signal,
            stopped: false,
        }
    }

    /// Waits until `when`, or until the load ends (then true).
    pub(super) async fn hold_until(&mut self, when: Instant) -> bool {
        if !self.stopped {
            tokio::select! {
                () = tokio::time::sleep_until(when.into()) => {}
                _ = &mut self.signal => self.stopped = true,
            }
        }
        self.stopped
    }

    /// Runs `work` unless the load ends first (then `None`, and `work` is dropped).
    pub(super) async fn race<T>(
        &mut self,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if self.stopped {
            return None;
        }
        tokio::select! {
            done = work => Some(done),
            _ = &mut self.signal => {
                self.stopped = true;
                None
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    Terminate,
}

pub(super) async fn signal_backends(
    cx: &Context,
    fraction: f64,
    rng: &mut fastrand::Rng,
    signal: Signal,
) -> String {
    let client = match cx.admin.client().await {
        Ok(c) => c,
        Err(e) => return format!("could not reach the server: {e}"),
    };
    let (filter, function, verb) = match signal {
        // cancel_queries aims its requests at statements: see `fault_cancel.rs`.
        Signal::Terminate => ("", "pg_terminate_backend", "terminated"),
    };
    let query = format!(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 AND application_name <> $2 \
         AND pid <> pg_backend_pid(){filter}"
    );
    let pids: Vec<i32> = match client.query(&query, &[&cx.pattern, &cx.admin.name]).await {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(e) => return format!("could not list this run's backends: {}", describe(&e)),
    };
    let wanted = ((pids.len() as f64) * fraction).ceil() as usize;
    let mut chosen = pids.clone();
    rng.shuffle(&mut chosen);
    chosen.truncate(wanted.min(pids.len()));
    let sql =
        format!("SELECT count(*) FILTER (WHERE {function}(pid)) FROM unnest($1::int[]) AS pid");
    match client.query_one(&sql, &[&chosen]).await {
        Ok(row) => format!(
            "{verb} {} of {} backend(s)",
            row.get::<_, i64>(0),
            pids.len()
        ),
        Err(e) => format!("could not signal the backends: {}", describe(&e)),
    }
}

/// This run's backends (pid, state), those running a statement first; the error says why the
/// fault was not fired.
pub(super) async fn candidates(cx: &Context) -> Result<Vec<(i32, String)>, String> {
    let client = match cx.admin.client().await {
        Ok(c) => c,
        Err(e) => return Err(format!("not fired: could not reach the server: {e}")),
    };
    let query = "SELECT pid, coalesce(state, '') FROM pg_stat_activity \
                 WHERE application_name LIKE $1 AND application_name <> $2 \
                 AND pid <> pg_backend_pid() ORDER BY state = 'active' DESC NULLS LAST, pid";
    match client.query(query, &[&cx.pattern, &cx.admin.name]).await {
        Ok(rows) => Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect()),
        Err(e) => Err(format!(
            "not fired: could not list this run's backends: {}",
            describe(&e)
        )),
    }
}
