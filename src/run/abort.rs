//! The load's stops from outside its tasks: the interrupt (Ctrl-C, SIGTERM), and
//! `abort_on_fail = true`, which stops a variant as soon as one of its checks can no longer
//! pass, as k6's `abortOnFail` does, instead of running the whole duration to a known failure.
//! Both abort the tasks through [`Aborter`], which also raises the load's one stop signal
//! (`pacer.rs`); the deadline and the iterations are the pacers' own.
//!
//! A small watcher task on the control runtime reads the live counters ten times a second and,
//! when a check is lost, records which one and aborts the load tasks (as Ctrl-C does, through
//! [`Aborter`]; in-flight operations are dropped). The next variant still runs: in a sweep the
//! other configurations are what the user came for. Which checks it watches:
//!
//! - `errors.<class>` (maximum): the class's count so far is above the limit. Counts only
//!   grow, so the check is lost for good.
//! - `anomalies.transaction_interleaved`, `anomalies.returned_in_transaction`: likewise, from
//!   the connection gauges.
//! - `error_rate`: with `iterations`, when the failures so far exceed the limit times every
//!   operation the variant will run (lost for good). With a `duration` the number of
//!   operations is not known until the end, and a rate above the limit now can still come back
//!   down (k6 aborts on it anyway, and offers `delayAbortEval` against the false alarms), so
//!   it is judged at the end only: a gate must not fail a run that would have passed.
//! - `workload.<name>.error_rate = 0`: lost by that workload's first failure (a limit above 0
//!   is judged at the end: the workload's share of the mix is not known in advance).
//! - `connections.opened` (maximum): the connections the run opened are above the limit.
//!   They only grow.
//!
//! Latency and throughput checks are judged at the end only. The counters are the timeline's
//! flushed seconds, so the watcher reacts within about a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::task::LoadRun;
use super::workers::Aborter;
use crate::access::gauges::Gauges;
use crate::metric::{Metric, WorkloadMeasure};
use crate::record::Counts;
use crate::record::errors::ErrorClass;
use crate::report::model::Aborted;
use crate::scenario::Variant;

const EVERY: Duration = Duration::from_millis(100);

/// A check the watcher can decide during the run.
#[derive(Clone, Debug, PartialEq)]
enum Watched {
    Class(ErrorClass, f64),
    Anomaly(&'static str, f64),
    /// The limit, and the number of operations the variant will run when that is known
    /// (only a limit of zero is watched without it).
    Rate(f64, Option<u64>),
    /// `workload.<name>.error_rate = 0`: the workload's index in the plan, and its name.
    WorkloadFailed(usize, String),
    /// `connections.opened`'s limit.
    Opened(f64),
}

/// The live numbers the watched checks are decided on.
#[derive(Clone, Debug, Default, PartialEq)]
struct Live {
    counts: Counts,
    interleaved: u64,
    returned_in_transaction: u64,
    /// Connections the run opened (the report's `pool.connections_created`).
    opened: u64,
}

/// The running watcher of the load's stops from outside: the interrupt, and the checks
/// `abort_on_fail` watches.
pub(crate) struct AbortWatch(Option<(oneshot::Sender<()>, JoinHandle<Option<Aborted>>)>);

/// Starts watching: an interrupt (Ctrl-C) aborts the load's tasks, as a lost check does when
/// the variant asked for `abort_on_fail`.
pub(crate) fn watch(variant: &Variant, load: &Arc<LoadRun>, aborter: Aborter) -> AbortWatch {
    let watched = match variant.expect.abort_on_fail {
        true => watched(variant),
        false => Vec::new(),
    };
    let (stop, mut stopped) = oneshot::channel();
    let load = load.clone();
    let handle = tokio::spawn(async move {
        let interrupt = load.interrupt.clone();
        tokio::select! {
            _ = &mut stopped => None,
            () = interrupt.raised() => {
                aborter.abort();
                None
            }
            lost = checks(watched, load, aborter.clone()) => lost,
        }
    });
    AbortWatch(Some((stop, handle)))
}

/// Reads the live counters ten times a second until a watched check is lost: then aborts the
/// load and says which check. Never returns when nothing is watched.
async fn checks(watched: Vec<Watched>, load: Arc<LoadRun>, aborter: Aborter) -> Option<Aborted> {
    if watched.is_empty() {
        return std::future::pending().await;
    }
    let gauges = load.access.gauges().clone();
    loop {
        tokio::time::sleep(EVERY).await;
        if Instant::now() < load.measure_start {
            continue; // the warmup is not judged
        }
        let live = live(&load, &gauges);
        if let Some((metric, detail)) = watched.iter().find_map(|w| lost(w, &live)) {
            aborter.abort();
            let at = Instant::now().saturating_duration_since(load.measure_start);
            return Some(Aborted {
                metric,
                at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
                detail,
            });
        }
    }
}

impl AbortWatch {
    /// Stops the watcher; returns the check that aborted the variant, if one did.
    pub(crate) async fn stop(self) -> Option<Aborted> {
        let (stop, handle) = self.0?;
        let _ = stop.send(());
        handle.await.ok().flatten()
    }
}

fn watched(variant: &Variant) -> Vec<Watched> {
    let load = &variant.settings.load;
    let planned = load
        .iterations
        .map(|n| n.saturating_mul(u64::from(load.tasks)));
    variant
        .expect
        .checks
        .iter()
        .filter_map(|e| match &e.metric {
            Metric::Errors(class) => Some(Watched::Class(*class, e.limit)),
            // Unknown total: only a limit of zero is lost for good (by the first failure).
            Metric::ErrorRate if planned.is_some() || e.limit == 0.0 => {
                Some(Watched::Rate(e.limit, planned))
            }
            Metric::Workload(name, WorkloadMeasure::ErrorRate) if e.limit == 0.0 => {
                let workloads = &variant.plan.workloads;
                let index = workloads.iter().position(|w| &w.name == name)?;
                Some(Watched::WorkloadFailed(index, name.clone()))
            }
            Metric::ConnectionsOpened => Some(Watched::Opened(e.limit)),
            Metric::Anomaly(name) => match name.as_str() {
                "transaction_interleaved" => {
                    Some(Watched::Anomaly("transaction_interleaved", e.limit))
                }
                "returned_in_transaction" => {
                    Some(Watched::Anomaly("returned_in_transaction", e.limit))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn live(load: &LoadRun, gauges: &Gauges) -> Live {
    let measured = gauges.measured();
    Live {
        counts: load.timeline.counts(),
        interleaved: measured.interleaved,
        returned_in_transaction: measured.returned_in_transaction,
        opened: gauges.snapshot().created,
    }
}

/// The metric and why, when the check is lost on these numbers.
fn lost(w: &Watched, live: &Live) -> Option<(String, String)> {
    let over = |metric: String, n: u64, limit: f64| {
        (n as f64 > limit).then(|| {
            let detail = format!("{metric} reached {n}, above its limit of {limit}");
            (metric, detail)
        })
    };
    match w {
        Watched::Class(class, limit) => over(
            Metric::Errors(*class).to_string(),
            live.counts.classes.get(class).copied().unwrap_or(0),
            *limit,
        ),
        Watched::Anomaly(name, limit) => {
            let n = match *name {
                "transaction_interleaved" => live.interleaved,
                _ => live.returned_in_transaction,
            };
            over(format!("anomalies.{name}"), n, *limit)
        }
        Watched::Rate(limit, Some(all)) => {
            let failed = live.counts.failed;
            (failed as f64 > limit * *all as f64).then(|| {
                let detail = format!(
                    "{failed} failed operations already exceed error_rate {limit} of all {all} \
                     the variant runs"
                );
                ("error_rate".to_string(), detail)
            })
        }
        Watched::Rate(limit, None) => (live.counts.failed > 0 && *limit == 0.0).then(|| {
            let detail = format!(
                "{} operations failed: error_rate can no longer be 0",
                live.counts.failed
            );
            ("error_rate".to_string(), detail)
        }),
        Watched::WorkloadFailed(index, name) => {
            let failed = live
                .counts
                .failed_by_workload
                .get(index)
                .copied()
                .unwrap_or(0);
            (failed > 0).then(|| {
                let metric = format!("workload.{name}.error_rate");
                let detail = format!(
                    "{failed} operation(s) of workload `{name}` failed: {metric} can no longer be 0"
                );
                (metric, detail)
            })
        }
        Watched::Opened(limit) => over("connections.opened".into(), live.opened, *limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ok: u64, failed: u64, class: Option<(ErrorClass, u64)>) -> Live {
        let counts = Counts {
            ok,
            failed,
            classes: class.into_iter().collect(),
            ..Counts::default()
        };
        Live {
            counts,
            ..Live::default()
        }
    }

    #[test]
    fn a_count_above_its_limit_is_lost_for_good() {
        let w = Watched::Class(ErrorClass::PoolTimeout, 2.0);
        assert_eq!(
            lost(&w, &live(10, 2, Some((ErrorClass::PoolTimeout, 2)))),
            None
        );
        let (metric, detail) = lost(&w, &live(10, 3, Some((ErrorClass::PoolTimeout, 3)))).unwrap();
        assert_eq!(metric, "errors.pool_timeout");
        assert!(detail.contains("reached 3"), "{detail}");
        assert_eq!(
            lost(&w, &live(10, 9, Some((ErrorClass::SqlError, 9)))),
            None
        );
    }

    #[test]
    fn an_error_rate_with_known_iterations_waits_until_it_cannot_pass() {
        // 1 % of 1000 planned operations: the 11th failure loses it, whatever the rate so far.
        let w = Watched::Rate(0.01, Some(1000));
        assert_eq!(lost(&w, &live(0, 10, None)), None);
        assert!(lost(&w, &live(0, 11, None)).is_some());
        // Without a known total, a rate above its limit so far can still come down: only a
        // limit of zero is decided, by the first failure.
        let w = Watched::Rate(0.01, None);
        assert_eq!(lost(&w, &live(100, 10, None)), None);
        let w = Watched::Rate(0.0, None);
        assert_eq!(lost(&w, &live(500, 0, None)), None);
        assert!(lost(&w, &live(500, 1, None)).is_some());
    }

    #[test]
    fn an_error_rate_over_a_duration_is_watched_only_at_zero() {
        let text = |limit: &str| {
            format!(
                "name = \"a\"\n[load]\nduration = \"1s\"\n[expect]\nabort_on_fail = true\n\
                 error_rate = {limit}\n[[workload]]\nname = \"w\"\n[[workload.step]]\n\
                 sql = \"SELECT 1\"\n"
            )
        };
        let load = |t: String| {
            let path = std::path::Path::new("a.toml");
            crate::scenario::load_str(path, &t, &Default::default()).unwrap()
        };
        assert!(watched(&load(text("0.01")).variants[0]).is_empty());
        assert_eq!(
            watched(&load(text("0")).variants[0]),
            [Watched::Rate(0.0, None)]
        );
    }

    #[test]
    fn anomalies_come_from_the_gauges() {
        let mut l = live(1, 0, None);
        l.interleaved = 1;
        assert!(lost(&Watched::Anomaly("transaction_interleaved", 0.0), &l).is_some());
        assert!(lost(&Watched::Anomaly("returned_in_transaction", 0.0), &l).is_none());
    }

    #[test]
    fn a_workload_failure_or_a_connection_over_the_limit_is_lost_for_good() {
        let w = Watched::WorkloadFailed(1, "export".into());
        let mut l = live(10, 1, None);
        l.counts.failed_by_workload.insert(0, 1);
        assert_eq!(lost(&w, &l), None, "another workload's failure");
        l.counts.failed_by_workload.insert(1, 2);
        let (metric, detail) = lost(&w, &l).unwrap();
        assert_eq!(metric, "workload.export.error_rate");
        assert!(
            detail.contains("2 operation(s) of workload `export` failed"),
            "{detail}"
        );
        let w = Watched::Opened(3.0);
        l.opened = 3;
        assert_eq!(lost(&w, &l), None);
        l.opened = 4;
        assert_eq!(lost(&w, &l).unwrap().0, "connections.opened");
    }

    #[test]
    fn workload_error_rates_are_watched_only_at_zero() {
        let text = "name = \"a\"\n[load]\nduration = \"1s\"\n[expect]\nabort_on_fail = true\n\
                    workload.b.error_rate = 0\nworkload.a.error_rate = 0.5\nconnections.opened = 9\n\
                    [[workload]]\nname = \"a\"\n[[workload.step]]\nsql = \"SELECT 1\"\n\
                    [[workload]]\nname = \"b\"\n[[workload.step]]\nsql = \"SELECT 1\"\n";
        let path = std::path::Path::new("a.toml");
        let s = crate::scenario::load_str(path, text, &Default::default()).unwrap();
        assert_eq!(
            watched(&s.variants[0]),
            [Watched::WorkloadFailed(1, "b".into()), Watched::Opened(9.0)]
        );
    }
}
