//! Running scenarios: the closed-model load ([`task`]) on one current-thread runtime per core
//! ([`workers`]), the per-second sampler and progress line ([`sampler`]), one variant from setup
//! to teardown ([`variant`]), `abort_on_fail` ([`abort`]), and here, a whole scenario into a
//! [`Report`] with its verdict.

pub(crate) mod abort;
pub(crate) mod admin;
mod advisory;
pub(crate) mod arrivals;
pub(crate) mod cancel_tasks;
pub(crate) mod cpu;
#[cfg(feature = "docker")]
mod docker_fault;
mod env;
mod fault_cancel;
mod fault_context;
mod fault_read_only;
mod fault_sql;
pub(crate) mod faults;
pub(crate) mod ledger;
pub(crate) mod network;
pub(crate) mod pacer;
pub(crate) mod pause_pooler;
pub(crate) mod pooler;
mod prepare;
pub(crate) mod restart_pooler;
pub(crate) mod sampler;
pub(crate) mod shape;
pub(crate) mod stop;
pub(crate) mod task;
pub(crate) mod variant;
pub(crate) mod workers;

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::database::{Database, SourceKind, Target};
use crate::report::model::{
    DatabaseInfo, Environment, Report, SCHEMA_VERSION, ScenarioInfo, Tool, VariantReport,
};
use crate::report::{diagnosis, verdict};
use crate::scenario::{Scenario, Variant};

/// SIGINT, SIGTERM or SIGHUP: stop the load, keep what was measured; again: stop at once.
pub type Interrupt = crate::signal::Interrupt;

/// Why a scenario could not run to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The scenario is wrong in a way only the server could tell (exit code 2).
    BadInput(String),
    /// The database is unreachable or the embedded server failed (exit code 3).
    Infra(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::BadInput(m) | RunError::Infra(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show the live progress line (on a terminal, without `--quiet`).
    pub(crate) progress: bool,
    /// Say on stderr when each phase of a variant begins (database, setup, load, teardown).
    pub(crate) phases: bool,
}

/// A fresh run id: six base-36 characters.
pub(crate) fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..6)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// Runs every variant of a scenario, in order, and returns the report. An interrupt in any
/// phase (a server starting, setup, load, teardown) ends the run with the report of what was
/// measured, marked `interrupted` when that is less than the scenario asked for: a load cut
/// short, or variants not run. An interrupt after the last load leaves a complete report.
pub async fn run_scenario(
    scenario: &Scenario,
    target: &mut Target,
    options: &RunOptions,
    interrupt: &Arc<Interrupt>,
) -> Result<Report, RunError> {
    let run_id = new_run_id();
    target.set_run_id(&run_id);
    let started_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let mut env = env::Env {
        run_id: &run_id,
        interrupt,
        progress: options.progress,
        position: (0, scenario.variants.len()),
        phases: options.phases,
    };
    let mut database_info = None;
    let mut variants = Vec::new();
    let mut cut = false;
    let count = scenario.variants.len();
    for (k, v) in scenario.variants.iter().enumerate() {
        if interrupt.is_raised() {
            cut = true;
            break;
        }
        env.position = (k + 1, count);
        env.phase(&v.name, &format!("variant {}/{count}: database", k + 1));
        let outcome = run_variant(v, target, &env, &mut database_info).await;
        match outcome {
            Ok(variant::Outcome::Measured { report, cut: c }) => {
                variants.push(*report);
                cut |= c;
            }
            Ok(variant::Outcome::NotRun) => cut = true,
            // Whatever failed because of the interrupt (a server start given up, a statement
            // cancelled) is not the scenario's fault: report what was measured.
            Err(_) if interrupt.is_raised() => cut = true,
            Err(e) => return Err(e),
        }
    }
    let done = Done {
        run_id,
        started_at,
        interrupted: cut,
        database: database_info.unwrap_or_default(),
        variants,
    };
    Ok(done.into_report(scenario))
}

/// What running a scenario's variants gave, before it becomes a [`Report`].
struct Done {
    run_id: String,
    started_at: String,
    interrupted: bool,
    database: DatabaseInfo,
    variants: Vec<VariantReport>,
}

impl Done {
    /// The report, assembled once: the findings across the variants, then the verdict.
    fn into_report(self, scenario: &Scenario) -> Report {
        let variants = diagnosis::conclude(self.variants);
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: "stress".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run_id: self.run_id,
            scenario: ScenarioInfo {
                name: scenario.name.clone(),
                description: scenario.description.clone(),
                file: scenario.file.display().to_string(),
                settings_sha256: scenario.settings_sha256.clone(),
                variants_left_out: Some(scenario.left_out.clone()),
            },
            started_at: self.started_at,
            interrupted: self.interrupted,
            environment: environment(),
            database: self.database,
            verdict: verdict::overall(&variants),
            variants,
            merged_from: Vec::new(),
        }
    }
}

/// One variant on its database: the server (started if need be), the admin connection, the run.
async fn run_variant(
    v: &Variant,
    target: &mut Target,
    env: &env::Env<'_>,
    database_info: &mut Option<DatabaseInfo>,
) -> Result<variant::Outcome, RunError> {
    let db = target
        .database(&v.settings.database)
        .map_err(|e| match e.bad_input {
            true => RunError::BadInput(e.message),
            false => RunError::Infra(e.message),
        })?;
    let admin = Arc::new(admin::Admin::connect(&db, env.run_id).await?);
    let info = admin.server_info().await?;
    database_info.get_or_insert_with(|| database(&db, &info, v));
    variant::run(v, &db, &admin, &info, env).await
}

/// The report's database section, from the first variant's database.
fn database(db: &Database, info: &admin::ServerInfo, v: &Variant) -> DatabaseInfo {
    let d = &v.settings.database;
    let settings = match (&db.source, &d.docker) {
        (SourceKind::Docker, Some(docker)) => &docker.settings,
        _ => &d.embedded.settings,
    };
    DatabaseInfo {
        source: db.source.as_str().to_string(),
        server_version: info.version.clone(),
        max_connections: info.max_connections,
        superuser_reserved_connections: info.reserved_connections,
        superuser: info.superuser,
        url: db.display_url.clone(),
        settings: settings
            .iter()
            .map(|(k, val)| (k.clone(), val.0.clone()))
            .collect(),
        pooler: db.pooler.as_ref().map(|p| {
            let p = p.lock().expect("pooler lock");
            crate::report::pooler::PoolerInfo {
                kind: "pgbouncer".into(),
                version: p.version.clone(),
                url: p.display_url(),
            }
        }),
    }
}

/// An instant of this process as wall-clock time: RFC 3339, UTC, milliseconds.
pub(crate) fn wall_clock(at: Instant) -> String {
    let now = SystemTime::now();
    let then = match Instant::now().checked_duration_since(at) {
        Some(ago) => now - ago,
        None => now + at.duration_since(Instant::now()),
    };
    humantime::format_rfc3339_millis(then).to_string()
}

fn environment() -> Environment {
    Environment {
        host: nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        stress_version: env!("CARGO_PKG_VERSION").into(),
    }
}
