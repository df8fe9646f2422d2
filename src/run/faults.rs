//! Injecting faults at their scheduled moments of the measured phase, and recording what each
//! met: when it fired, what was in flight, and what it did.
//!
//! Faults that signal backends act only on this run's (found by `application_name`), never on
//! anyone else's, and never on the harness's own admin connection; `kill_backend` also checks
//! that the process it signals is a child of this run's postmaster. The server-wide kinds
//! (`restart_server`, `read_only`, `sql`) act on the server as a whole, as documented per kind
//! in docs/scenario.md: on the embedded server that is this run's own.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub(crate) use super::fault_context::{Context, Scheduled};
use super::fault_context::{Signal, Stop, candidates, signal_backends};
use super::fault_read_only::Lingering;
use crate::database::StopMode;
use crate::scenario::faults::DEFAULT_DOWN_FOR;
use crate::scenario::model::{FaultKind, FaultSettings, RestartMode};

/// At most this many repetitions of one `every` fault are scheduled.
const MAX_REPEATS: u32 = 10_000;

/// Every occurrence of the faults, sorted by time; `every` repeats until `until` (the end of
/// the measured phase, when known).
pub(crate) fn schedule(faults: &[FaultSettings], until: Option<Duration>) -> Vec<Scheduled> {
    let mut all = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let mut at = f.at;
        for _ in 0..MAX_REPEATS {
            if until.is_some_and(|u| at >= u) {
                break;
            }
            all.push(Scheduled { fault: i, at });
            match f.every {
                Some(every) if !every.is_zero() => at += every,
                _ => break,
            }
        }
    }
    all.sort_by_key(|s| s.at);
    all
}

/// A fault that fired.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Fired {
    /// Index into the schedule.
    pub(crate) scheduled: usize,
    pub(crate) kind: FaultKind,
    /// When it fired, into the measured phase.
    pub(crate) at: Duration,
    /// Operations in flight (holding or waiting for a connection) when it fired.
    pub(crate) in_flight: u64,
    /// What it did, or why it could not.
    pub(crate) detail: String,
}

/// Fires the scheduled faults until told to stop (at the end of the load). A fault in progress
/// (a restart, say) is finished first, so the server is up again for the teardown.
pub(crate) async fn run(cx: Context, stop: oneshot::Receiver<()>) -> Vec<Fired> {
    let mut fired = Vec::new();
    let mut rng = fastrand::Rng::with_seed(cx.seed);
    let mut stop = Stop::new(stop);
    let mut lingering = Lingering::default();
    for (i, s) in cx.schedule.iter().enumerate() {
        let due = cx.load.measure_start + s.at;
        if stop.hold_until(due).await {
            break;
        }
        let gauges = cx.gauges.snapshot();
        let at = Instant::now().saturating_duration_since(cx.load.measure_start);
        let f = &cx.faults[s.fault];
        let detail = fire(&cx, f, &mut rng, &mut stop, &mut lingering).await;
        fired.push(Fired {
            scheduled: i,
            kind: f.kind,
            at,
            in_flight: gauges.in_use + gauges.waiting,
            detail,
        });
    }
    // A read_only fault left the old sessions read-only until the end of the load.
    stop.race(std::future::pending::<()>()).await;
    if let Some(note) = super::fault_read_only::end_of_run(&cx, lingering).await
        && let Some(last) = fired
            .iter_mut()
            .rev()
            .find(|f| f.kind == FaultKind::ReadOnly)
    {
        last.detail.push_str(&note);
    }
    fired
}

async fn fire(
    cx: &Context,
    f: &FaultSettings,
    rng: &mut fastrand::Rng,
    stop: &mut Stop,
    lingering: &mut Lingering,
) -> String {
    match f.kind {
        FaultKind::ClosePool => close_pool(cx, f),
        FaultKind::TerminateBackends => {
            signal_backends(cx, f.fraction(), rng, Signal::Terminate).await
        }
        FaultKind::CancelQueries => super::fault_cancel::cancel(cx, f, rng).await,
        FaultKind::Sql => super::fault_sql::run(cx, f, stop).await,
        FaultKind::ReadOnly => super::fault_read_only::run(cx, f, rng, stop, lingering).await,
        FaultKind::RestartServer => restart(cx, f).await,
        FaultKind::KillBackend => kill_backend(cx).await,
        FaultKind::CancelTasks => {
            super::cancel_tasks::fire(cx.load.cancels.as_deref(), f.fraction(), rng)
        }
        FaultKind::Network => super::network::fire(cx.load.proxy.as_deref(), f),
        FaultKind::RestartPooler => super::restart_pooler::fire(cx, f).await,
        FaultKind::PausePooler => super::pause_pooler::fire(cx, f).await,
    }
}

fn close_pool(cx: &Context, f: &FaultSettings) -> String {
    let held = cx.gauges.snapshot().in_use;
    let swap = f.reopen_after.is_some_and(|d| d.is_zero());
    let closed = cx.load.access.close_pools(f.drain(), swap);
    let mut detail = format!(
        "closed {closed} pool(s) with {held} connection(s) held (drain = {})",
        f.drain()
    );
    if swap {
        detail.push_str("; replaced by a fresh pool in the same step");
    } else if let Some(delay) = f.reopen_after {
        let load = cx.load.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            load.access.reopen_pools();
        });
        detail.push_str(&format!(
            "; reopens after {}",
            humantime::format_duration(delay)
        ));
    }
    detail
}

async fn restart(cx: &Context, f: &FaultSettings) -> String {
    let Some(server) = cx.server.clone() else {
        return "no embedded server to restart".into();
    };
    let mode = match f.mode.unwrap_or_default() {
        RestartMode::Fast => StopMode::Fast,
        RestartMode::Immediate => StopMode::Immediate,
        // Refused by validation for restart_server; the server's own orderly stop.
        RestartMode::Graceful => StopMode::Fast,
    };
    let down_for = f.down_for.unwrap_or(DEFAULT_DOWN_FOR);
    let stopping = server.clone();
    let stopped =
        tokio::task::spawn_blocking(move || stopping.lock().expect("server lock").stop(mode)).await;
    match stopped {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return format!("the server could not be stopped: {e}"),
        Err(_) => return "the server could not be stopped".into(),
    }
    tokio::time::sleep(down_for).await;
    let began = Instant::now();
    let started =
        tokio::task::spawn_blocking(move || server.lock().expect("server lock").restart()).await;
    match started {
        Ok(Ok(())) => format!(
            "stopped ({}), down for {}, started again in {} ms",
            if mode == StopMode::Fast {
                "fast"
            } else {
                "immediate"
            },
            humantime::format_duration(down_for),
            began.elapsed().as_millis()
        ),
        Ok(Err(e)) => format!("stopped, but could not start again: {e}"),
        Err(_) => "stopped, but could not start again".into(),
    }
}

/// SIGKILLs one of this run's backends (one running a statement if there is one), after
/// checking that its parent is this run's postmaster: a pid read from `pg_stat_activity` never
/// leads to a signal on a process of another server.
async fn kill_backend(cx: &Context) -> String {
    let Some(server) = cx.server.as_ref() else {
        return "not fired: no embedded server, so no backend of ours to kill".into();
    };
    #[cfg(feature = "docker")]
    if server.lock().expect("server lock").docker().is_some() {
        return super::docker_fault::kill_backend(cx, server.clone()).await;
    }
    let pid = server
        .lock()
        .expect("server lock")
        .embedded()
        .and_then(|s| s.pid());
    let Some(postmaster) = pid else {
        return "not fired: the embedded server is not running".into();
    };
    let candidates = match candidates(cx).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut refused = None;
    for (pid, state) in &candidates {
        match parent_of(*pid) {
            Ok(parent) if parent == postmaster => {
                let target = nix::unistd::Pid::from_raw(*pid);
                return match nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL) {
                    Ok(()) => format!(
                        "killed backend {pid} ({state}), one of this run's {}, with SIGKILL; \
                         the server resets every backend",
                        candidates.len()
                    ),
                    Err(e) => format!("not fired: cannot signal backend {pid}: {e}"),
                };
            }
            Ok(parent) => refused.get_or_insert_with(|| {
                format!(
                    "backend {pid}'s parent is {parent}, not this run's postmaster {postmaster}"
                )
            }),
            Err(e) => refused.get_or_insert_with(|| format!("cannot read backend {pid}: {e}")),
        };
    }
    match refused {
        Some(why) => format!("not fired: {why}"),
        None => "not fired: none of this run's backends was connected".into(),
    }
}

/// The parent pid of `pid`, from `/proc/<pid>/stat` ("pid (comm) state ppid ...": the command
/// may hold spaces and parentheses, so the fields are read after the last `)`).
fn parent_of(pid: i32) -> std::io::Result<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|ppid| ppid.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable /proc/{pid}/stat")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(at_ms: u64, every_ms: Option<u64>) -> FaultSettings {
        FaultSettings {
            kind: FaultKind::TerminateBackends,
            at: Duration::from_millis(at_ms),
            every: every_ms.map(Duration::from_millis),
            drain: None,
            reopen_after: None,
            fraction: None,
            mode: None,
            down_for: None,
            sql: None,
            for_: None,
            terminate: None,
            guard: None,
            toxic: None,
            stream: None,
            idle_only: None,
            latency: None,
            jitter: None,
            rate: None,
            timeout: None,
            delay: None,
            average_size: None,
            size_variation: None,
            bytes: None,
        }
    }

    #[test]
    fn the_parent_is_read_after_the_command_name() {
        let me = std::process::id();
        let parent = parent_of(me as i32).unwrap();
        assert_eq!(parent, nix::unistd::getppid().as_raw() as u32);
        assert!(parent_of(-1).is_err());
    }

    #[test]
    fn repeats_until_the_end_and_sorts() {
        let s = schedule(
            &[fault(1000, Some(2000)), fault(1500, None)],
            Some(Duration::from_secs(6)),
        );
        let at: Vec<_> = s.iter().map(|s| (s.fault, s.at.as_millis())).collect();
        assert_eq!(at, vec![(0, 1000), (1, 1500), (0, 3000), (0, 5000)]);
    }

    #[test]
    fn without_a_known_end_repeats_are_capped() {
        let s = schedule(&[fault(0, Some(1))], None);
        assert_eq!(s.len(), MAX_REPEATS as usize);
    }
}
