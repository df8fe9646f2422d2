//! Semantic checks of one variant's merged settings: everything serde cannot see (zero tasks,
//! `min_idle > max_size`, durations bb8 would panic on, both `duration` and `iterations`,
//! workloads, generators, `@name` references). Each problem names the path of the value, so
//! the caller can point at the line it came from.

use std::time::Duration;

use super::model::{AccessMode, Settings};
use super::node::Path;
use crate::workload::plan;

/// A problem with the value at `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: Path,
    pub message: String,
    pub help: Option<String>,
}

fn root() -> Path {
    Path::default()
}

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: Path, message: impl Into<String>) {
        self.0.push(Problem {
            path,
            message: message.into(),
            help: None,
        });
    }

    fn later(&mut self, path: Path, what: &str, issue: &str) {
        self.0.push(Problem {
            path,
            message: format!("{what} is not supported yet"),
            help: Some(format!(
                "{what} arrives with {issue}; remove it from the scenario for now"
            )),
        });
    }

    fn positive(&mut self, path: Path, value: Duration) {
        if value.is_zero() {
            self.add(path, "must be longer than zero");
        }
    }
}

/// Checks one variant's effective settings and returns every problem found, in file order
/// as far as possible. The workload checks are those of [`plan::compile`].
pub fn check(settings: &Settings) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    if settings.name.trim().is_empty() {
        p.add(root().key("name"), "must not be empty");
    }
    check_database(settings, &mut p);
    check_load(settings, &mut p);
    check_access(settings, &mut p);
    check_pool(settings, &mut p);
    if let Err(problems) = plan::compile(&settings.workload) {
        p.0.extend(problems);
    }
    if settings.fault.is_some() {
        p.later(root().key("fault"), "[[fault]]", "the faults issue (#3)");
    }
    if settings.expect.is_some() {
        p.later(root().key("expect"), "[expect]", "the CI gate issue (#5)");
    }
    if settings.sweep.is_some() {
        p.later(root().key("sweep"), "[sweep]", "the CI gate issue (#5)");
    }
    p.0
}

fn check_database(s: &Settings, p: &mut Problems) {
    let db = root().key("database");
    if let Some(url) = &s.database.url
        && let Err(e) = url.parse::<tokio_postgres::Config>()
    {
        p.add(
            db.clone().key("url"),
            format!("not a valid connection string: {e}"),
        );
    }
    if s.database.embedded.max_connections == 0 {
        p.add(
            db.clone().key("embedded").key("max_connections"),
            "must be at least 1",
        );
    }
    for name in s.database.embedded.settings.keys() {
        if name == "max_connections" {
            p.add(
                db.clone().key("embedded").key("settings").key(name),
                "set max_connections as [database.embedded] max_connections",
            );
        }
    }
    if s.database.docker.is_some() {
        p.later(
            db.key("docker"),
            "[database.docker]",
            "the Docker target issue",
        );
    }
}

fn check_load(s: &Settings, p: &mut Problems) {
    let load = root().key("load");
    let l = &s.load;
    if l.tasks == 0 {
        p.add(load.clone().key("tasks"), "must be at least 1");
    }
    match (l.duration, l.iterations) {
        (Some(_), Some(_)) => p.add(
            load.clone().key("iterations"),
            "`duration` and `iterations` exclude each other: keep one",
        ),
        (Some(d), None) => p.positive(load.clone().key("duration"), d),
        (None, Some(0)) => p.add(load.clone().key("iterations"), "must be at least 1"),
        _ => {}
    }
    if let Some(t) = l.op_timeout {
        p.positive(load.clone().key("op_timeout"), t);
    }
    if l.rate.is_some() {
        p.later(
            load.clone().key("rate"),
            "load.rate (open model)",
            "the faults and time issue (#3)",
        );
    }
    if l.stages.is_some() {
        p.later(
            load.key("stages"),
            "load.stages",
            "the faults and time issue (#3)",
        );
    }
}

fn check_access(s: &Settings, p: &mut Problems) {
    let access = root().key("access");
    if s.access.instances == 0 {
        p.add(access.clone().key("instances"), "must be at least 1");
    }
    if s.access.mode == AccessMode::Shared && s.load.tasks > 0 && s.access.instances > s.load.tasks
    {
        p.add(
            access.key("instances"),
            format!(
                "{} shared connections for {} tasks: some would never be used",
                s.access.instances, s.load.tasks
            ),
        );
    }
}

fn check_pool(s: &Settings, p: &mut Problems) {
    let pool = root().key("pool");
    let c = &s.pool;
    if c.max_size == 0 {
        p.add(
            pool.clone().key("max_size"),
            "must be at least 1 (bb8 would panic)",
        );
    }
    if let Some(min_idle) = c.min_idle
        && min_idle > c.max_size
    {
        p.add(
            pool.clone().key("min_idle"),
            format!(
                "min_idle = {min_idle} is larger than max_size = {} (bb8 would panic)",
                c.max_size
            ),
        );
    }
    p.positive(pool.clone().key("connection_timeout"), c.connection_timeout);
    if let Some(d) = c.idle_timeout.0 {
        p.positive(pool.clone().key("idle_timeout"), d);
    }
    if let Some(d) = c.max_lifetime.0 {
        p.positive(pool.clone().key("max_lifetime"), d);
    }
    p.positive(pool.key("reaper_rate"), c.reaper_rate);
}
