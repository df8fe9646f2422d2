//! A variant's load prepared before it starts: its statements described on the server, its
//! connector (through the network proxy or the pooler when there is one), and the [`LoadRun`]
//! that the workers share.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Instant;

use super::RunError;
use super::admin::Admin;
use super::cancel_tasks::TaskCancels;
use super::env::Env;
use super::faults;
use super::ledger::Ledger;
use super::shape::Shape;
use super::task::LoadRun;
use crate::access::Access;
use crate::access::conn::Connector;
use crate::access::gauges::Gauges;
use crate::database::Database;
use crate::record::Timeline;
use crate::record::errors::{ErrorClass, describe};
use crate::record::spells::FaultSpec;
use crate::scenario::Variant;
use crate::scenario::model::{FaultKind, Settings};
use crate::value::StatementInfo;
use crate::workload::prepare;

pub(super) fn server_message(e: &tokio_postgres::Error) -> String {
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
    proxy: Option<std::net::SocketAddr>,
) -> Result<Arc<Connector>, RunError> {
    let s = &variant.settings;
    let make = |gauges| {
        Connector::new(
            db.harness_config(),
            db.harness_tls(),
            env.run_id,
            &s.access,
            statements.clone(),
            gauges,
        )
        .dialing(proxy)
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

/// Describes the workload's statements on the admin connection, and the ledger's after them
/// (its index is returned beside them).
async fn statements(
    variant: &Variant,
    admin: &Admin,
    ledger: Option<&Ledger>,
) -> Result<(Vec<StatementInfo>, Option<usize>), RunError> {
    let client = admin.client().await?;
    let mut statements = prepare::describe_all(&client, &variant.plan)
        .await
        .map_err(|e| RunError::BadInput(e.to_string()))?;
    let Some(l) = ledger else {
        return Ok((statements, None));
    };
    let info = prepare::describe_one(&client, &l.insert_sql())
        .await
        .map_err(|e| RunError::BadInput(format!("the ledger statement: {e}")))?;
    statements.push(info);
    let at = statements.len() - 1;
    Ok((statements, Some(at)))
}

/// Prepares the statements (with the ledger's) and opens the access, then builds what the
/// tasks share.
pub(super) async fn prepare_load(
    variant: &Variant,
    db: &Database,
    admin: &Admin,
    env: &Env<'_>,
    schedule: &[faults::Scheduled],
    ledger: Option<&Ledger>,
) -> Result<Arc<LoadRun>, RunError> {
    let s = &variant.settings;
    let (statements, ledger_statement) = statements(variant, admin, ledger).await?;
    // In front of what the harness would reach: the pooler when there is one.
    let proxy = super::network::start(s, &db.harness_config())?;
    let dial = proxy.as_ref().map(|p| p.addr());
    let connector = connector(variant, db, env, statements.into(), dial).await?;
    let access = Access::open(s, connector).await.map_err(|e| {
        RunError::Infra(format!(
            "cannot open the shared connection to {}: {e}",
            db.display_url
        ))
    })?;
    let start = Instant::now();
    let measure_start = start + s.load.warmup;
    Ok(Arc::new(LoadRun {
        plan: variant.plan.clone(),
        access,
        // Drawn within TOML's integers, so that the report's seed can be written back as `seed`.
        seed: s.seed.unwrap_or_else(|| fastrand::u64(..=i64::MAX as u64)),
        seqs: (0..variant.plan.seq_sites)
            .map(|_| AtomicI64::new(0))
            .collect(),
        shape: Shape::of(&s.load),
        start,
        measure_start,
        deadline: variant
            .settings
            .load
            .measured_length()
            .map(|d| measure_start + d),
        iterations: s.load.iterations,
        think_time: s.load.think_time,
        op_timeout: s.load.op_timeout,
        retry: s.load.retry.clone(),
        pacing: s.load.on_failure.pacing(),
        leak_threshold: s.access.leak_threshold,
        ledger: ledger_statement,
        faults: schedule.iter().map(|f| f.at).collect(),
        fault_specs: fault_specs(s, schedule).into(),
        timeline: Arc::new(Timeline::default()),
        interrupt: env.interrupt.clone(),
        cancels: task_cancels(s),
        proxy,
    }))
}

/// When each scheduled fault fires and how long its effect is expected to last.
fn fault_specs(s: &Settings, schedule: &[faults::Scheduled]) -> Vec<FaultSpec> {
    schedule
        .iter()
        .map(|f| FaultSpec {
            at: f.at,
            settles_after: s.fault[f.fault].settles_after(),
        })
        .collect()
}

/// The tasks' cancel slots, when a `cancel_tasks` fault is scheduled.
fn task_cancels(s: &Settings) -> Option<Arc<TaskCancels>> {
    s.fault
        .iter()
        .any(|f| f.kind == FaultKind::CancelTasks)
        .then(|| Arc::new(TaskCancels::new(s.load.tasks as usize)))
}
