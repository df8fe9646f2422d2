//! The once-a-second sampler of the measured phase: connection gauges, and this run's backends
//! in `pg_stat_activity` by state, asked on the separate admin connection (which is not
//! counted). Plus the live progress line ([`ProgressLine`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use super::admin::Admin;
use crate::access::gauges::{Gauges, Snapshot};
use crate::metric::format_ms;
use crate::record::Progress;
use crate::record::timeline::{ServerBackends, Timeline};

/// Asks the server about this run's backends (all but the admin connection).
pub(crate) struct BackendQuery {
    pub(crate) admin: Arc<Admin>,
    /// `stress:<run id>:%`, escaped for LIKE.
    pub(crate) pattern: String,
    /// `[database.pgbouncer]`'s admin console: its pools go into the timeline too.
    pub(crate) pooler: Option<Arc<super::pooler::PoolerConsole>>,
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
pub(crate) async fn sample_seconds(
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
    if let Some(console) = &backends.pooler {
        console.prime().await;
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
pub(crate) async fn sample_once(
    second: u64,
    previous: Snapshot,
    gauges: &Gauges,
    timeline: &Timeline,
    backends: &BackendQuery,
) -> Snapshot {
    let now = gauges.snapshot();
    let server = backends.ask().await;
    let pooler = match &backends.pooler {
        Some(console) => console.sample().await,
        None => None,
    };
    timeline.sample(second, |e| {
        e.in_use = now.in_use;
        e.idle = now.open.saturating_sub(now.in_use);
        e.waiting = now.waiting;
        e.connections_created = now.created.saturating_sub(previous.created);
        e.connections_closed = now.closed.saturating_sub(previous.closed);
        e.server_backends = server;
        e.pooler = pooler;
    });
    now
}

/// What the progress line reads: the workers' counters, the connection gauges, the timeline,
/// and the load's clock.
pub(crate) struct Live {
    pub(crate) counters: Vec<Arc<Progress>>,
    pub(crate) gauges: Arc<Gauges>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) start: Instant,
    pub(crate) measure_start: Instant,
    /// No operation starts after this (none in iterations mode).
    pub(crate) deadline: Option<Instant>,
}

/// One state of the progress line.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Status {
    pub(crate) warmup: bool,
    /// Into the warmup, or into the measured phase.
    pub(crate) elapsed: Duration,
    /// Of the warmup, or of the measured phase (unknown in iterations mode).
    pub(crate) total: Option<Duration>,
    /// Successful operations per second, over the last second.
    pub(crate) ok_per_s: f64,
    pub(crate) failed: u64,
    pub(crate) in_use: u64,
    pub(crate) waiting: u64,
    /// Of the last whole second's successful operations.
    pub(crate) p99_us: Option<u64>,
}

impl Status {
    /// `12s/30s  257 ok/s  2 failed  in use 10  waiting 3  p99 4.20ms`, `warmup 2s/5s ...`.
    pub(crate) fn message(&self) -> String {
        let phase = if self.warmup { "warmup " } else { "" };
        let total = self
            .total
            .map_or_else(String::new, |t| format!("/{}", clock(t)));
        let p99 = self
            .p99_us
            .map_or_else(|| "-".into(), |us| format_ms(us as f64 / 1000.0));
        format!(
            "{phase}{}{total}  {:.0} ok/s  {} failed  in use {}  waiting {}  p99 {p99}",
            clock(self.elapsed),
            self.ok_per_s,
            self.failed,
            self.in_use,
            self.waiting,
        )
    }
}

/// Whole seconds as a clock: `7s`, `1m05s`, `2h03m`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

impl Live {
    /// The status at `now`, the rate measured since `since` (successes then, and when).
    fn status(&self, now: Instant, since: (u64, Instant)) -> (Status, u64) {
        let sum = |f: fn(&Progress) -> &std::sync::atomic::AtomicU64| -> u64 {
            self.counters
                .iter()
                .map(|c| f(c).load(Ordering::Relaxed))
                .sum()
        };
        let (ok, failed) = (sum(|c| &c.ok), sum(|c| &c.failed));
        let warmup = now < self.measure_start;
        let (from, total) = match warmup {
            true => (self.start, Some(self.measure_start - self.start)),
            false => (
                self.measure_start,
                self.deadline
                    .map(|d| d.saturating_duration_since(self.measure_start)),
            ),
        };
        let elapsed = now.saturating_duration_since(from);
        let window = now.saturating_duration_since(since.1).as_secs_f64();
        let gauges = self.gauges.snapshot();
        // The second before the current one: its workers have flushed it, or nearly.
        let last = (!warmup)
            .then(|| elapsed.as_secs().checked_sub(1))
            .flatten();
        let status = Status {
            warmup,
            elapsed,
            total,
            ok_per_s: match window > 0.0 {
                true => ok.saturating_sub(since.0) as f64 / window,
                false => 0.0,
            },
            failed,
            in_use: gauges.in_use,
            waiting: gauges.waiting,
            p99_us: last.and_then(|s| self.timeline.p99_us(s)),
        };
        (status, ok)
    }
}

/// The live progress line, on a terminal only and never with `--quiet`: the variant's place
/// in the run, the time elapsed of the total, ok/s, failed, connections in use, tasks
/// waiting, and the p99 of the last second.
pub(crate) struct ProgressLine {
    bar: ProgressBar,
    /// The variant's name, last on the line: what a narrow terminal cuts first.
    name: String,
}

impl ProgressLine {
    /// For variant `name`, the `k`th of `n`.
    pub(crate) fn new(visible: bool, name: &str, (k, n): (usize, usize)) -> ProgressLine {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}  {wide_msg}").expect("valid template"),
        );
        bar.set_prefix(format!("variant {k}/{n}"));
        ProgressLine {
            bar,
            name: name.to_string(),
        }
    }

    /// Refreshes the line four times a second until aborted; the rate is over the last second.
    pub(crate) async fn run(self, live: Live) {
        let mut seen: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut p99 = None;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = Instant::now();
            let since = seen.front().copied().unwrap_or((0, live.start));
            let (mut status, ok) = live.status(now, since);
            // A second not flushed yet (long operations) keeps the last p99 on the line.
            p99 = status.p99_us.or(p99);
            status.p99_us = p99;
            seen.push_back((ok, now));
            while seen.len() > 4 {
                seen.pop_front();
            }
            self.bar
                .set_message(format!("{}  {}", status.message(), self.name));
            self.bar.tick();
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub(crate) fn handle(&self) -> ProgressLine {
        ProgressLine {
            bar: self.bar.clone(),
            name: self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_says_where_the_run_is_and_how_it_goes() {
        let mut s = Status {
            warmup: false,
            elapsed: Duration::from_millis(12_400),
            total: Some(Duration::from_secs(30)),
            ok_per_s: 257.4,
            failed: 2,
            in_use: 10,
            waiting: 3,
            p99_us: Some(42),
        };
        assert_eq!(
            s.message(),
            "12s/30s  257 ok/s  2 failed  in use 10  waiting 3  p99 42µs"
        );
        s.warmup = true;
        s.total = None;
        s.elapsed = Duration::from_secs(65);
        s.p99_us = None;
        assert_eq!(
            s.message(),
            "warmup 1m05s  257 ok/s  2 failed  in use 10  waiting 3  p99 -"
        );
        assert_eq!(clock(Duration::from_secs(7380)), "2h03m");
    }

    /// The line reads the gauges, the workers' counters and the last whole second's p99.
    #[test]
    fn the_status_comes_from_the_gauges_counters_and_timeline() {
        use crate::record::timeline::Interval;
        let now = Instant::now();
        let timeline = Arc::new(Timeline::default());
        let mut second = Interval::new(0);
        for ms in 1..=100 {
            second.add(Duration::from_millis(ms), None, 0);
        }
        timeline.add(second);
        let gauges = Arc::new(Gauges::default());
        gauges.acquired();
        gauges.acquired();
        gauges.wait_started();
        let counters = vec![Arc::new(Progress::default()), Arc::new(Progress::default())];
        counters[0].ok.store(300, Ordering::Relaxed);
        counters[1].ok.store(200, Ordering::Relaxed);
        counters[1].failed.store(7, Ordering::Relaxed);
        let live = Live {
            counters,
            gauges,
            timeline,
            start: now - Duration::from_millis(2500),
            measure_start: now - Duration::from_millis(1500),
            deadline: Some(now + Duration::from_millis(1500)),
        };
        let (status, ok) = live.status(now, (250, now - Duration::from_millis(500)));
        assert_eq!(ok, 500);
        assert_eq!((status.in_use, status.waiting, status.failed), (2, 1, 7));
        assert!(!status.warmup);
        assert_eq!(
            (status.elapsed.as_secs(), status.total),
            (1, Some(Duration::from_secs(3)))
        );
        assert_eq!(status.ok_per_s.round(), 500.0);
        // 99 ms, within the histogram's precision.
        let p99 = status.p99_us.expect("second 0 has latencies");
        assert!((98_000..=100_000).contains(&p99), "{p99}");
        let (warm, _) = live.status(now - Duration::from_millis(1600), (0, live.start));
        assert!(warm.warmup && warm.p99_us.is_none(), "{warm:?}");
    }
}
