//! The once-a-second sampler of the measured phase: connection gauges, and this run's backends
//! in `pg_stat_activity` by state, asked on the separate admin connection (which is not
//! counted). Plus the live progress line.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use super::admin::Admin;
use crate::access::gauges::{Gauges, Snapshot};
use crate::record::Progress;
use crate::record::timeline::{Sample, ServerBackends, Timeline};

/// Asks the server about this run's backends (all but the admin connection).
pub struct BackendQuery {
    pub admin: Arc<Admin>,
    /// `stress:<run id>:%`, escaped for LIKE.
    pub pattern: String,
}

impl BackendQuery {
    async fn ask(&self) -> Option<ServerBackends> {
        let client = self.admin.client().await.ok()?;
        let row = client
            .query_one(
                "SELECT count(*), \
                        count(*) FILTER (WHERE state = 'active'), \
                        count(*) FILTER (WHERE state = 'idle'), \
                        count(*) FILTER (WHERE state LIKE 'idle in transaction%'), \
                        coalesce(max(extract(epoch FROM now() - state_change) * 1000) \
                          FILTER (WHERE state LIKE 'idle in transaction%'), 0)::bigint \
                 FROM pg_stat_activity WHERE application_name LIKE $1 AND application_name <> $2",
                &[&self.pattern, &self.admin.name],
            )
            .await
            .ok()?;
        let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
        Some(ServerBackends {
            total: n(0),
            active: n(1),
            idle: n(2),
            idle_in_transaction: n(3),
            longest_idle_in_transaction_ms: n(4),
        })
    }
}

/// At the start of the measured phase calls `begin` (the gauges count from there); then
/// samples at the end of every second of it; when told the load's end, takes a last sample for
/// the partial second and returns.
pub async fn sample_seconds(
    measure_start: Instant,
    begin: impl FnOnce(),
    gauges: Arc<Gauges>,
    timeline: Arc<Timeline>,
    backends: Arc<BackendQuery>,
    mut stop: oneshot::Receiver<Instant>,
) {
    tokio::select! {
        () = tokio::time::sleep_until(measure_start.into()) => begin(),
        _ = &mut stop => return,
    }
    let mut previous = gauges.snapshot();
    let mut second: u64 = 0;
    loop {
        let at = measure_start + Duration::from_secs(second + 1);
        tokio::select! {
            () = tokio::time::sleep_until(at.into()) => {
                previous = sample_once(second, previous, &gauges, &timeline, &backends).await;
                second += 1;
            }
            end = &mut stop => {
                if end.is_ok_and(|end| end > measure_start + Duration::from_secs(second)) {
                    sample_once(second, previous, &gauges, &timeline, &backends).await;
                }
                return;
            }
        }
    }
}

/// Takes one sample for `second`, returning the gauges it was based on.
pub async fn sample_once(
    second: u64,
    previous: Snapshot,
    gauges: &Gauges,
    timeline: &Timeline,
    backends: &BackendQuery,
) -> Snapshot {
    let now = gauges.snapshot();
    let server = backends.ask().await;
    timeline.sample(
        second,
        Sample {
            in_use: now.in_use,
            idle: now.open.saturating_sub(now.in_use),
            waiting: now.waiting,
            connections_created: now.created.saturating_sub(previous.created),
            connections_closed: now.closed.saturating_sub(previous.closed),
            server,
        },
    );
    now
}

/// The live progress line: on a terminal only, and never with `--quiet`.
pub struct ProgressLine {
    bar: ProgressBar,
}

impl ProgressLine {
    pub fn new(visible: bool, variant: &str) -> ProgressLine {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(variant.to_string());
        ProgressLine { bar }
    }

    /// Refreshes the line four times a second until aborted.
    pub async fn run(self, counters: Vec<Arc<Progress>>, measure_start: Instant) {
        let mut last = (0u64, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let ok: u64 = counters.iter().map(|c| c.ok.load(Ordering::Relaxed)).sum();
            let failed: u64 = counters
                .iter()
                .map(|c| c.failed.load(Ordering::Relaxed))
                .sum();
            let now = Instant::now();
            let rate = (ok + failed - last.0) as f64 / now.duration_since(last.1).as_secs_f64();
            last = (ok + failed, now);
            let phase = if now < measure_start { "warmup " } else { "" };
            self.bar
                .set_message(format!("{phase}{ok} ok  {failed} failed  {rate:.0} ops/s"));
            self.bar.tick();
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub fn handle(&self) -> ProgressLine {
        ProgressLine {
            bar: self.bar.clone(),
        }
    }
}
