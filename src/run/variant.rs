//! One variant, start to end: admin connection, setup, statement preparation, access, load,
//! per-second sampling, teardown (which runs whenever setup ran), report section.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_postgres::{Client, NoTls};

use super::sampler::{self, BackendQuery, ProgressLine};
use super::task::LoadRun;
use super::workers::{self, Workers};
use super::{Interrupt, RunError};
use crate::access::Access;
use crate::access::conn::{Connector, application_prefix};
use crate::access::gauges::Gauges;
use crate::database::Database;
use crate::record::errors::{ErrorClass, describe};
use crate::record::{Timeline, Totals};
use crate::report::build::{self, VariantData};
use crate::report::model::{Anomalies, VariantReport};
use crate::scenario::Variant;
use crate::scenario::model::DEFAULT_DURATION;
use crate::workload::prepare::{self, StatementInfo};

/// What the run tells every variant.
pub struct Env<'a> {
    pub run_id: &'a str,
    pub interrupt: &'a Arc<Interrupt>,
    pub progress: bool,
}

/// The server as the admin connection sees it.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub version: String,
    pub max_connections: u32,
    pub reserved_connections: u32,
}

/// The harness's own connection (setup, teardown, preparation, sampling); never counted.
pub struct Admin {
    pub client: Arc<Client>,
    pub name: String,
}

impl Admin {
    pub async fn connect(db: &Database, run_id: &str) -> Result<Admin, RunError> {
        let name = format!("{}admin", application_prefix(run_id));
        let mut config = db.config.clone();
        config.application_name(&name);
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            RunError::Infra(format!(
                "cannot connect to {}: {}",
                db.display_url,
                describe(&e)
            ))
        })?;
        // Its errors surface on its own queries.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Admin {
            client: Arc::new(client),
            name,
        })
    }

    pub async fn server_info(&self) -> Result<ServerInfo, RunError> {
        let row = self
            .client
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('max_connections')::int, \
                        current_setting('superuser_reserved_connections')::int",
                &[],
            )
            .await
            .map_err(|e| {
                RunError::Infra(format!(
                    "cannot read the server's settings: {}",
                    describe(&e)
                ))
            })?;
        let n = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
        Ok(ServerInfo {
            version: row
                .get::<_, String>(0)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
            max_connections: n(1),
            reserved_connections: n(2),
        })
    }
}

/// Runs a variant on `db` and returns its report section.
pub async fn run(
    variant: &Variant,
    db: &Database,
    admin: &Admin,
    info: &ServerInfo,
    env: &Env<'_>,
) -> Result<VariantReport, RunError> {
    let database = &variant.settings.database;
    let mut result = Ok(());
    for (i, sql) in database.setup.iter().enumerate() {
        if let Err(e) = admin.client.batch_execute(sql).await {
            result = Err(RunError::BadInput(format!(
                "database.setup[{i}]: the server rejects `{}`: {}",
                sql.trim(),
                server_message(&e)
            )));
            break;
        }
    }
    let report = match result {
        Ok(()) => load(variant, db, admin, info, env).await,
        Err(e) => Err(e),
    };
    let mut warnings = Vec::new();
    for (i, sql) in database.teardown.iter().enumerate() {
        if let Err(e) = admin.client.batch_execute(sql).await {
            warnings.push(format!(
                "database.teardown[{i}] failed: {}",
                server_message(&e)
            ));
        }
    }
    report.map(|mut r| {
        r.warnings.extend(warnings);
        r
    })
}

fn server_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => describe(e),
    }
}

async fn connector(
    variant: &Variant,
    db: &Database,
    env: &Env<'_>,
    statements: Arc<[StatementInfo]>,
) -> Result<Arc<Connector>, RunError> {
    let s = &variant.settings;
    let make = |gauges| {
        Connector::new(
            db.config.clone(),
            env.run_id,
            &s.access,
            statements.clone(),
            gauges,
        )
    };
    // One probe connection, not counted: bad session settings are the scenario's fault (exit 2),
    // an unreachable server is not (exit 3).
    match make(Arc::new(Gauges::default())).connect().await {
        Ok(_) => Ok(Arc::new(make(Arc::new(Gauges::default())))),
        Err(e) if e.class == ErrorClass::SqlError && !s.access.session_settings.is_empty() => {
            Err(RunError::BadInput(format!(
                "access.session_settings: the server rejects them: {}",
                e.message
            )))
        }
        Err(e) => Err(RunError::Infra(format!(
            "cannot connect to {}: {e}",
            db.display_url
        ))),
    }
}

async fn load(
    variant: &Variant,
    db: &Database,
    admin: &Admin,
    info: &ServerInfo,
    env: &Env<'_>,
) -> Result<VariantReport, RunError> {
    let s = &variant.settings;
    let statements: Arc<[StatementInfo]> = prepare::describe_all(&admin.client, &variant.plan)
        .await
        .map_err(|e| RunError::BadInput(e.to_string()))?
        .into();
    let connector = connector(variant, db, env, statements).await?;
    let gauges = connector.gauges.clone();
    let access = Access::open(s, connector.clone()).await.map_err(|e| {
        RunError::Infra(format!(
            "cannot open the shared connection to {}: {e}",
            db.display_url
        ))
    })?;
    let seed = s.seed.unwrap_or_else(|| fastrand::u64(..));
    let measure_start = Instant::now() + s.load.warmup;
    let deadline = match (s.load.duration, s.load.iterations) {
        (Some(d), _) => Some(measure_start + d),
        (None, Some(_)) => None,
        (None, None) => Some(measure_start + DEFAULT_DURATION),
    };
    let load = Arc::new(LoadRun {
        plan: variant.plan.clone(),
        access,
        seed,
        seqs: (0..variant.plan.seq_sites)
            .map(|_| AtomicI64::new(0))
            .collect(),
        measure_start,
        deadline,
        iterations: s.load.iterations,
        think_time: s.load.think_time,
        op_timeout: s.load.op_timeout,
        interrupt: env.interrupt.clone(),
    });
    let tasks = s.load.tasks as usize;
    let timeline = Arc::new(Timeline::default());
    let mut workers = Workers::start(workers::thread_count(tasks), tasks, &load, &timeline)
        .map_err(|e| RunError::Infra(format!("cannot start worker threads: {e}")))?;

    let backends = Arc::new(BackendQuery {
        client: admin.client.clone(),
        prefix_pattern: format!("{}%", like_escape(&connector.application_prefix())),
        admin_name: admin.name.clone(),
    });
    let (stop_sampler, stopped) = oneshot::channel();
    let sampler = tokio::spawn(sampler::sample_seconds(
        measure_start,
        gauges.clone(),
        timeline.clone(),
        backends,
        stopped,
    ));
    let progress = ProgressLine::new(env.progress, &variant.name);
    let progress_task = tokio::spawn(
        progress
            .handle()
            .run(workers.progress.clone(), measure_start),
    );
    let aborts = workers.aborter();
    let interrupt = env.interrupt.clone();
    let watcher = tokio::spawn(async move {
        interrupt.wait().await;
        aborts.abort();
    });

    let workloads = variant.plan.workloads.len();
    let mut totals = Totals::new(workloads);
    for t in workers.totals(workloads).await {
        totals.merge(&t);
    }
    let end = Instant::now();
    watcher.abort();
    progress_task.abort();
    progress.finish();
    let _ = stop_sampler.send(end);
    let _ = sampler.await;

    let pool = load.access.pool_statistics();
    let connect_errors = load.access.connect_errors();
    let anomalies = Anomalies {
        transaction_interleaved: gauges.notices_active_transaction.load(Ordering::Relaxed)
            + gauges.notices_no_transaction.load(Ordering::Relaxed),
        returned_in_transaction: gauges.returned_in_transaction.load(Ordering::Relaxed),
        ..Anomalies::default()
    };
    // Close every connection while the worker runtimes that drive them still run.
    drop(load);
    drop(connector);
    wait_for_io(&gauges, Duration::from_secs(2)).await;
    workers.release();

    let measured = end.saturating_duration_since(measure_start);
    let seconds = measured.as_secs() + u64::from(measured.subsec_nanos() > 0);
    let timeline = Arc::try_unwrap(timeline).expect("the sampler and workers have ended");
    Ok(build::variant_report(VariantData {
        variant,
        seed,
        totals,
        measured,
        timeline: timeline.into_buckets(seconds),
        gauges: gauges.snapshot(),
        anomalies,
        pool,
        connect_errors,
        warnings: Vec::new(),
        server_max_connections: info.max_connections,
        server_reserved_connections: info.reserved_connections,
    }))
}

async fn wait_for_io(gauges: &Gauges, limit: Duration) {
    let deadline = Instant::now() + limit;
    while gauges.io_tasks() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
