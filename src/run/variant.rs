//! One variant, start to end: setup, statement preparation, access, the load with its sampler
//! and faults, teardown (which runs whenever setup ran), and the variant's report section.
//! An interrupt after setup skips the load; a second one cancels the setup or teardown
//! statement in flight (the server's cancel request) and skips the rest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::admin::{Admin, ServerInfo};
use super::env::Env;
use super::faults::{self, Fired};
use super::ledger::Ledger;
use super::sampler::{self, BackendQuery, ProgressLine};
use super::task::LoadRun;
use super::workers::{self, Workers};
use super::{Interrupt, RunError};
use crate::access::gauges::Gauges;
use crate::database::Database;
use crate::record::errors::ErrorClass;
use crate::record::writes::Writes;
use crate::record::{Timeline, Totals};
use crate::report::build::{self, VariantData};
use crate::report::model::{Aborted, FaultEvent, VariantReport};
use crate::scenario::Variant;

/// What running a variant gave.
pub(crate) enum Outcome {
    /// The load ran; `cut` when the interrupt stopped it before its end.
    Measured {
        report: Box<VariantReport>,
        cut: bool,
    },
    /// Interrupted before its load began: nothing measured.
    NotRun,
}

/// Runs a variant on `db`: setup, the load, teardown.
pub(crate) async fn run(
    variant: &Variant,
    db: &Database,
    admin: &Arc<Admin>,
    info: &ServerInfo,
    env: &Env<'_>,
) -> Result<Outcome, RunError> {
    refuse_restart_without_server(variant, db)?;
    let database = &variant.settings.database;
    let stop = env.interrupt;
    env.phase(&variant.name, "setup");
    let loaded = match run_all(admin, "database.setup", &database.setup, stop).await {
        Ok(()) if stop.is_raised() => Ok(None),
        Ok(()) => {
            env.phase(&variant.name, "load");
            load(variant, db, admin, env).await.map(Some)
        }
        Err(e) => Err(RunError::BadInput(e)),
    };
    // Teardown runs whenever setup ran, also after a failed load.
    env.phase(&variant.name, "teardown");
    let teardown = run_all(admin, "database.teardown", &database.teardown, stop).await;
    let mut l = match loaded {
        Ok(Some(l)) => l,
        other => {
            // No report will hold this variant, so what was not run is said here or nowhere:
            // a setup cut by the interrupt (its error is the interrupt's, not reported as a
            // failure) and a teardown skipped leave objects on a server of one's own.
            let cut_setup = other.as_ref().err().filter(|_| stop.is_raised());
            for w in cut_setup
                .map(ToString::to_string)
                .into_iter()
                .chain(teardown.err())
            {
                crate::console::errln!("stress: [{}] warning: {w}", variant.name);
            }
            return other.map(|_| Outcome::NotRun);
        }
    };
    // The report is assembled here, once every input is known, the teardown's warning too.
    l.warnings.extend(teardown.err());
    let cut = l.measured.cut;
    Ok(Outcome::Measured {
        report: Box::new(l.measured.report(variant, info, l.writes, l.warnings)),
        cut,
    })
}

fn refuse_restart_without_server(variant: &Variant, db: &Database) -> Result<(), RunError> {
    let needs = variant
        .settings
        .fault
        .iter()
        .position(|f| f.kind.needs_embedded_server());
    match needs {
        Some(i) if db.server.is_none() => Err(RunError::BadInput(format!(
            "fault[{i}].kind: {} needs the embedded server (or a [database.docker] container), and variant `{}` runs on {}",
            variant.settings.fault[i].kind.as_str(),
            variant.name,
            db.display_url
        ))),
        _ => Ok(()),
    }
}

/// Runs statements on the admin connection; the error names the key and index. A second
/// interrupt cancels the statement in flight and skips the rest.
async fn run_all(
    admin: &Admin,
    key: &str,
    statements: &[String],
    stop: &Interrupt,
) -> Result<(), String> {
    for (i, sql) in statements.iter().enumerate() {
        if stop.is_urgent() {
            return Err(format!(
                "{key}[{i}..]: skipped: interrupted twice (run them by hand if the database is kept)"
            ));
        }
        let client = admin
            .client()
            .await
            .map_err(|e| format!("{key}[{i}]: {e}"))?;
        let cancel = client.cancel_token();
        let result = tokio::select! {
            r = client.batch_execute(sql) => r,
            () = stop.urgent() => {
                admin.cancel(&cancel).await;
                let rest = match statements.len() - i {
                    1 => "run it".to_string(),
                    _ => format!("{key}[{}..] skipped: run them", i + 1),
                };
                return Err(format!(
                    "{key}[{i}]: cancelled: interrupted twice ({rest} by hand if the database is kept)"
                ));
            }
        };
        if let Err(e) = result {
            return Err(format!(
                "{key}[{i}]: the server rejects `{}`: {}",
                sql.trim(),
                super::prepare::server_message(&e)
            ));
        }
    }
    Ok(())
}

/// The helpers that run beside the workers on the control thread.
struct Helpers {
    sampler: (oneshot::Sender<Instant>, JoinHandle<()>),
    faults: (oneshot::Sender<()>, JoinHandle<Vec<Fired>>),
    progress: (ProgressLine, JoinHandle<()>),
}

impl Helpers {
    fn start(
        load: &Arc<LoadRun>,
        variant: &Variant,
        db: &Database,
        admin: &Arc<Admin>,
        env: &Env<'_>,
        workers: &Workers,
        schedule: Vec<faults::Scheduled>,
    ) -> Helpers {
        let gauges = load.access.gauges().clone();
        let pattern = own_backends(load);
        let backends = Arc::new(BackendQuery {
            admin: admin.clone(),
            pattern: pattern.clone(),
            pooler: db.pooler.as_ref().map(|p| {
                let p = p.lock().expect("pooler lock");
                Arc::new(super::pooler::PoolerConsole::new(&p, env.run_id))
            }),
        });
        let (stop_sampler, sampler) = Self::sampler(load, backends);
        let (stop_faults, stopped) = oneshot::channel();
        let cx = faults::Context {
            load: load.clone(),
            admin: admin.clone(),
            server: db.server.clone(),
            pooler: db.pooler.clone(),
            run_id: env.run_id.to_string(),
            gauges,
            pattern,
            faults: variant.settings.fault.clone(),
            schedule,
            seed: load.seed,
        };
        let faults = tokio::spawn(faults::run(cx, stopped));
        let progress = ProgressLine::new(env.progress, &variant.name, env.position);
        let ticker = tokio::spawn(progress.handle().run(sampler::Live {
            counters: workers.progress.clone(),
            gauges: load.access.gauges().clone(),
            timeline: load.timeline.clone(),
            start: load.start,
            measure_start: load.measure_start,
            deadline: load.deadline,
        }));
        Helpers {
            sampler: (stop_sampler, sampler),
            faults: (stop_faults, faults),
            progress: (progress, ticker),
        }
    }

    /// The per-second sampler, which also begins the measured phase when the warmup ends.
    fn sampler(
        load: &Arc<LoadRun>,
        backends: Arc<BackendQuery>,
    ) -> (oneshot::Sender<Instant>, JoinHandle<()>) {
        let (stop, stopped) = oneshot::channel();
        // Without a warmup, `measure` began the measured phase before the tasks started.
        let measured = (load.measure_start > load.start).then(|| load.clone());
        let sampler = tokio::spawn(sampler::sample_seconds(
            load.measure_start,
            move || {
                if let Some(load) = measured {
                    load.access.begin_measured_phase();
                }
            },
            load.access.gauges().clone(),
            load.timeline.clone(),
            backends,
            stopped,
        ));
        (stop, sampler)
    }

    /// Stops them after the load ended at `end`; returns the faults that fired.
    async fn stop(self, end: Instant) -> Vec<Fired> {
        self.progress.1.abort();
        // Awaited so that the ticker's reference to the timeline is gone when this returns.
        let _ = self.progress.1.await;
        self.progress.0.finish();
        let _ = self.sampler.0.send(end);
        let _ = self.sampler.1.await;
        let _ = self.faults.0.send(());
        self.faults.1.await.unwrap_or_default()
    }
}

/// What the load gave: what it measured, the acknowledged-writes check, and the warnings
/// around it.
struct Loaded {
    measured: Measured,
    writes: Option<Writes>,
    warnings: Vec<String>,
}

/// Runs the load, with the ledger of the acknowledged-writes check around it when a workload
/// is verified.
async fn load(
    variant: &Variant,
    db: &Database,
    admin: &Arc<Admin>,
    env: &Env<'_>,
) -> Result<Loaded, RunError> {
    let ledger = match variant.plan.workloads.iter().any(|w| w.verify) {
        true => Some(Ledger::create(admin, env.run_id).await?),
        false => None,
    };
    let result = match measure(variant, db, admin, env, ledger.as_ref()).await {
        Ok(m) => match &ledger {
            Some(l) => match l.check(admin, &m.totals.writes).await {
                Ok(w) => Ok((m, Some(w))),
                Err(e) => Err(RunError::Infra(format!("cannot read the ledger back: {e}"))),
            },
            None => Ok((m, None)),
        },
        Err(e) => Err(e),
    };
    let warning = match ledger {
        Some(l) => l.remove(admin).await,
        None => None,
    };
    result.map(|(measured, writes)| Loaded {
        measured,
        writes,
        warnings: warning.into_iter().collect(),
    })
}

/// What the load left for the report.
struct Measured {
    totals: Totals,
    fired: Vec<Fired>,
    scheduled: Vec<faults::Scheduled>,
    gauges: Arc<Gauges>,
    pool: Option<crate::access::PoolStatistics>,
    connect_errors: std::collections::BTreeMap<ErrorClass, u64>,
    seed: u64,
    measured: Duration,
    /// Wall-clock start of the measured phase (to align merged reports).
    started_at: String,
    /// Which check stopped the variant early (`abort_on_fail`).
    aborted: Option<Aborted>,
    timeline: Timeline,
    /// The interrupt stopped the load before its end.
    cut: bool,
    harness: Option<crate::report::model::Harness>,
}

impl Measured {
    fn report(
        self,
        variant: &Variant,
        info: &ServerInfo,
        writes: Option<Writes>,
        warnings: Vec<String>,
    ) -> VariantReport {
        let seconds = self.measured.as_secs() + u64::from(self.measured.subsec_nanos() > 0);
        let faults = fault_events(&self.fired, &self.scheduled, &self.totals, self.measured);
        build::variant_report(VariantData {
            variant,
            seed: self.seed,
            totals: self.totals,
            measured: self.measured,
            timeline: self.timeline.into_entries(seconds),
            gauges: &self.gauges,
            pool: self.pool,
            connect_errors: self.connect_errors,
            faults,
            writes,
            warnings,
            server_max_connections: info.max_connections,
            server_reserved_connections: info.reserved_connections,
            server_superuser: info.superuser,
            harness: self.harness,
            aborted: self.aborted,
            started_at: self.started_at,
            server_version: info.version.clone(),
        })
    }
}

/// The load itself: workers, sampler, faults; then every connection closed.
async fn measure(
    variant: &Variant,
    db: &Database,
    admin: &Arc<Admin>,
    env: &Env<'_>,
    ledger: Option<&Ledger>,
) -> Result<Measured, RunError> {
    let scheduled = faults::schedule(
        &variant.settings.fault,
        variant.settings.load.measured_length(),
    );
    let load = super::prepare::prepare_load(variant, db, admin, env, &scheduled, ledger).await?;
    let tasks = variant.settings.load.tasks as usize;
    if load.measure_start <= load.start {
        load.access.begin_measured_phase(); // No warmup: building the pool was setup, not load.
    }
    let threads = workers::thread_count(tasks);
    let cpu = super::cpu::CpuClock::start();
    let mut workers = Workers::start(threads, tasks, &load)
        .map_err(|e| RunError::Infra(format!("cannot start worker threads: {e}")))?;
    let helpers = Helpers::start(&load, variant, db, admin, env, &workers, scheduled.clone());
    // The interrupt and `abort_on_fail` stop the load through the one stop signal.
    let abort = super::abort::watch(variant, &load, workers.aborter());

    let totals = sum_totals(&mut workers, variant.plan.workloads.len(), scheduled.len()).await;
    let end = Instant::now();
    let harness = cpu.finish(threads);
    let cut = env.interrupt.is_raised();
    let aborted = abort.stop().await;
    let fired = helpers.stop(end).await;

    let gauges = load.access.gauges().clone();
    settle_backends(&load, admin, cut || aborted.is_some()).await;
    let pool = load.access.pool_statistics();
    let connect_errors = load.access.connect_errors();
    let (measure_start, seed, timeline) = (load.measure_start, load.seed, load.timeline.clone());
    // Close every connection while the worker runtimes (and the proxy) that carry them run.
    let proxy = load.proxy.clone();
    drop(load);
    wait_for_io(&gauges, Duration::from_secs(2)).await;
    drop(proxy);
    workers.release();
    Ok(Measured {
        totals,
        fired,
        scheduled,
        gauges,
        pool,
        connect_errors,
        seed,
        measured: end.saturating_duration_since(measure_start),
        started_at: super::wall_clock(measure_start),
        aborted,
        // An aborted helper task may hold it still: take the data (tests/cost.rs once panicked).
        timeline: Arc::try_unwrap(timeline).unwrap_or_else(|shared| shared.take()),
        cut,
        harness,
    })
}

/// Waits for every worker's totals and adds them up.
async fn sum_totals(workers: &mut Workers, workloads: usize, faults: usize) -> Totals {
    let mut totals = Totals::new(workloads, faults);
    for t in workers.totals(workloads).await {
        totals.merge(&t);
    }
    totals
}

/// What is read and done on this run's backends once the load has stopped, before its
/// connections close: the advisory locks held read, then an aborted load's statements
/// cancelled.
async fn settle_backends(load: &LoadRun, admin: &Admin, aborted: bool) {
    advisory_locks_held(load, admin).await;
    if aborted {
        cancel_abandoned(load, admin).await;
    }
}

/// An aborted load (an interrupt, `abort_on_fail`) drops its operations in flight, but their
/// statements run on in the server until they end: past `stress`'s exit on a server of one's
/// own, holding locks the teardown then waits for. A cancel request to each of this run's
/// backends still running one stops them (`pg_cancel_backend`: only our own, by the run's
/// application name). Bounded: a server that does not answer in 2 s is not waited for.
async fn cancel_abandoned(load: &LoadRun, admin: &Admin) {
    let pattern = own_backends(load);
    let sql = "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM pg_stat_activity \
               WHERE application_name LIKE $1 AND application_name <> $2 \
               AND pid <> pg_backend_pid() AND state = 'active'";
    let cancel = async {
        let client = admin.client().await.ok()?;
        client.query_one(sql, &[&pattern, &admin.name]).await.ok()
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
}

/// Reads the advisory locks this run's backends hold, before the connections close (which
/// would release them).
async fn advisory_locks_held(load: &LoadRun, admin: &Admin) {
    let pattern = own_backends(load);
    let held = super::advisory::locks_held(admin, &pattern).await;
    load.access.gauges().races.set_advisory_locks_held(held);
}

fn fault_events(
    fired: &[Fired],
    scheduled: &[faults::Scheduled],
    totals: &Totals,
    measured: Duration,
) -> Vec<FaultEvent> {
    fired
        .iter()
        .map(|f| FaultEvent {
            kind: f.kind.as_str().to_string(),
            at_ms: f.at.as_millis() as u64,
            scheduled_ms: scheduled[f.scheduled].at.as_millis() as u64,
            in_flight: f.in_flight,
            failed_next_1s: totals
                .after_faults
                .get(f.scheduled)
                .cloned()
                .unwrap_or_default(),
            detail: f.detail.clone(),
            effect: totals.fault_effects.get(f.scheduled).map(|e| {
                let next = scheduled.get(f.scheduled + 1).map(|s| s.at);
                crate::report::outages::effect(e, scheduled[f.scheduled].at, next, measured)
            }),
        })
        .collect()
}

async fn wait_for_io(gauges: &Gauges, limit: Duration) {
    let deadline = Instant::now() + limit;
    while gauges.io_tasks() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The LIKE pattern of this run's own backends' application names.
fn own_backends(load: &LoadRun) -> String {
    format!(
        "{}%",
        like_escape(&load.access.connector.application_prefix())
    )
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
