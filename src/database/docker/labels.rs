//! Our containers' labels, and the removal of those left by runs that died (a SIGKILLed
//! `stress` cannot remove its container): only containers carrying our labels, and only when
//! the process named by them is gone, are touched; no other container ever is.

use std::collections::HashMap;

use testcontainers::bollard::Docker;
use testcontainers::bollard::container::{ListContainersOptions, RemoveContainerOptions};

/// The pid of the `stress` process that started the container.
pub(crate) const OWNER_PID: &str = "io.stress.owner-pid";
/// That process's start time (clock ticks since boot, field 22 of `/proc/<pid>/stat`), so that
/// a recycled pid is not taken for the owner.
pub(crate) const OWNER_START: &str = "io.stress.owner-start";
/// The run id of the run that started it.
pub(crate) const RUN: &str = "io.stress.run";

/// The labels of a container started by this process for run `run_id`.
pub(crate) fn ours(run_id: &str) -> Vec<(String, String)> {
    let pid = std::process::id();
    vec![
        (OWNER_PID.into(), pid.to_string()),
        (OWNER_START.into(), start_time(pid).unwrap_or_default()),
        (RUN.into(), run_id.into()),
    ]
}

/// The start time of process `pid`, from `/proc/<pid>/stat` (fields after the last `)`, whose
/// 20th is the start time); `None` when there is no such process.
pub(crate) fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19).map(str::to_string)
}

/// Whether the labels name a process that still runs (the same one: same start time).
pub(crate) fn owner_alive(labels: &HashMap<String, String>) -> bool {
    let Some(pid) = labels.get(OWNER_PID).and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    match (start_time(pid), labels.get(OWNER_START)) {
        (Some(now), Some(then)) => &now == then,
        _ => false,
    }
}

/// Removes the containers of dead `stress` processes; returns how many were removed. Where
/// processes' start times cannot be read (no `/proc`), nothing is removed: a live run's
/// container could not be told from a dead one's.
pub(crate) async fn sweep(docker: &Docker) -> Result<usize, String> {
    if start_time(std::process::id()).is_none() {
        return Ok(0);
    }
    let filters = HashMap::from([("label", vec![OWNER_PID])]);
    let options = ListContainersOptions {
        all: true,
        filters,
        ..Default::default()
    };
    let listed = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("cannot list containers: {e}"))?;
    let mut removed = 0;
    for c in listed {
        let (Some(id), Some(labels)) = (c.id, c.labels) else {
            continue;
        };
        if owner_alive(&labels) {
            continue;
        }
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if docker.remove_container(&id, Some(rm)).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_stranger_is_not() {
        let mine: HashMap<String, String> = ours("abc").into_iter().collect();
        assert!(owner_alive(&mine));
        let mut recycled = mine.clone();
        recycled.insert(OWNER_START.into(), "1".into());
        assert!(!owner_alive(&recycled), "same pid, other start time");
        let mut gone = mine;
        gone.insert(OWNER_PID.into(), u32::MAX.to_string());
        assert!(!owner_alive(&gone));
        assert!(!owner_alive(&HashMap::new()));
    }
}
