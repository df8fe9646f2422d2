//! `[database.docker]` on a real Docker engine, with the local images of
//! `tests/docker/build-image.sh` (`stress-test-postgres:13` and `:15`) on the host's network, so
//! that all traffic stays on 127.0.0.1. Each test is skipped visibly (counted by `.ci/run`) when
//! no engine answers or an image is missing, and fails instead when `STRESS_REQUIRE` names
//! `docker`. Containers are found by the labels `stress` puts on them (the owner's pid, the run
//! id): no test looks at or touches any other container, except the two it creates itself.

#![cfg(feature = "docker")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::skip::skip;
use common::*;

const V15: &str = "stress-test-postgres:15";
const V13: &str = "stress-test-postgres:13";

/// Whether the engine answers and the images are present; records a skip otherwise.
fn ready(test: &str, images: &[&str]) -> bool {
    let engine = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match engine {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            skip(test, "docker", &format!("no Docker engine answers: {why}"));
            return false;
        }
        Err(e) => {
            skip(test, "docker", &format!("no docker command: {e}"));
            return false;
        }
    }
    for image in images {
        let present = Command::new("docker")
            .args(["image", "inspect", image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            let major = image.rsplit(':').next().unwrap_or("15");
            let why = format!("image {image} missing (tests/docker/build-image.sh {major})");
            skip(test, "docker", &why);
            return false;
        }
    }
    true
}

/// Ids of the containers (running or not) carrying `label` (`key=value`).
fn containers(label: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter", &format!("label={label}")])
        .output()
        .expect("docker ps");
    assert!(out.status.success(), "docker ps: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn scenario_text(image: &str, duration: &str, extra: &str) -> String {
    format!(
        r#"
name = "docker"
[database]
setup = ["CREATE TABLE IF NOT EXISTS d (id int)"]
[database.docker]
image = "{image}"
network = "host"
tmpfs = true
max_connections = 30
[load]
tasks = 4
duration = "{duration}"
[pool]
max_size = 4
test_on_check_out = false
connection_timeout = "10s"
[[workload]]
name = "query"
[[workload.step]]
sql = "SELECT pg_sleep(0.02)"
{extra}"#
    )
}

#[test]
fn a_run_on_a_container_end_to_end_leaves_no_container() {
    let test = "a_run_on_a_container_end_to_end_leaves_no_container";
    if !ready(test, &[V15]) {
        return;
    }
    let s = scenario(&scenario_text(V15, "1500ms", ""), &[]);
    let _one = load_lock();
    let report = run_on(&s, None).expect("a run on a container");
    assert_consistent(&report);
    assert_eq!(report.database.source, "docker");
    assert!(report.database.server_version.starts_with("15."));
    assert!(report.database.url.contains("127.0.0.1"), "host network");
    assert!(!report.database.url.contains(":5432/"), "a port of our own");
    let v = &report.variants[0];
    assert!(
        v.operations.ok > 0 && v.operations.failed == 0,
        "{:?}",
        v.errors
    );
    assert!(v.server_version.starts_with("15."), "{}", v.server_version);
    let label = format!("io.stress.run={}", report.run_id);
    assert_eq!(
        containers(&label),
        Vec::<String>::new(),
        "removed after success"
    );
}

/// `DATABASE_URL` and the libpq variables, set for the child only and naming a server that does
/// not exist, do not replace the scenario's container (docs/scenario.md, `[database]`).
#[test]
fn the_environments_server_does_not_replace_the_container() {
    let test = "the_environments_server_does_not_replace_the_container";
    if !ready(test, &[V15]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env.toml");
    let out = dir.path().join("report.json");
    std::fs::write(&file, scenario_text(V15, "1s", "")).unwrap();
    let _one = load_lock();
    let run = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(["run", "--quiet"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL, PGHOST, PGPORT set but not used"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["database"]["source"], "docker");
    let version = report["variants"][0]["server_version"].as_str().unwrap();
    assert!(version.starts_with("15."), "{version}");
}

/// `[database.pgbouncer]` in front of `[database.docker]`: PgBouncer on the host, the server in
/// the container; the load's queries pass through PgBouncer (its console counts them).
#[test]
fn pgbouncer_in_front_of_a_container() {
    let test = "pgbouncer_in_front_of_a_container";
    if !ready(test, &[V15]) || !common::pgbouncer::available(test) {
        return;
    }
    // Session pooling: the harness's named prepared statements stay valid, so nothing fails.
    let pooler = "[database.pgbouncer]\npool_mode = \"session\"\ndefault_pool_size = 4\n";
    let s = scenario(&scenario_text(V15, "2s", pooler), &[]);
    let _one = load_lock();
    let report = run_on(&s, None).expect("PgBouncer in front of a container");
    assert_consistent(&report);
    assert_eq!(report.database.source, "docker");
    let info = report.database.pooler.as_ref().expect("database.pooler");
    assert_eq!(info.kind, "pgbouncer");
    let v = &report.variants[0];
    assert!(
        v.operations.ok > 0 && v.operations.failed == 0,
        "{:?}",
        v.errors
    );
    let through: u64 = v
        .timeline
        .iter()
        .filter_map(|e| e.pooler.as_ref())
        .map(|p| p.queries)
        .sum();
    assert!(through > 0, "PgBouncer passed no query: {:?}", v.timeline);
    let label = format!("io.stress.run={}", report.run_id);
    assert!(containers(&label).is_empty(), "removed after success");
}

#[test]
fn a_variant_per_image_gives_each_its_server_version_in_one_report() {
    let test = "a_variant_per_image_gives_each_its_server_version_in_one_report";
    if !ready(test, &[V13, V15]) {
        return;
    }
    let text = std::fs::read_to_string("scenarios/postgres-versions.toml").unwrap();
    let options = stress::scenario::LoadOptions {
        sets: vec!["load.duration=1s".into(), "load.warmup=0s".into()],
        variants: vec!["PostgreSQL 13".into(), "PostgreSQL 15".into()],
    };
    let s = stress::scenario::load_str(std::path::Path::new("pv.toml"), &text, &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let _one = load_lock();
    let report = run_on(&s, None).expect("two versions");
    assert_consistent(&report);
    let versions: Vec<(&str, &str)> = report
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.server_version.as_str()))
        .collect();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(versions[0].1.starts_with("13."), "{versions:?}");
    assert!(versions[1].1.starts_with("15."), "{versions:?}");
    for v in &report.variants {
        assert!(v.operations.ok > 0, "{}: {:?}", v.name, v.errors);
    }
    assert_eq!(
        containers(&format!("io.stress.run={}", report.run_id)).len(),
        0
    );
}

/// A variant whose image is a local test image this machine lacks (no registry has it) is
/// refused before any variant starts, with the command that builds it and the `--variant`
/// options that run the others; so is the shipped postgres-versions.toml where its 17 image
/// has not been built (CI builds 13 and 15 only).
#[test]
fn a_missing_local_image_is_refused_before_anything_starts() {
    let test = "a_missing_local_image_is_refused_before_anything_starts";
    if !ready(test, &[V15]) {
        return;
    }
    let absent = "stress-test-postgres:0";
    let variants = format!(
        "[[variant]]\nname = \"fifteen\"\n[[variant]]\nname = \"zero\"\n\
         database.docker.image = \"{absent}\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.toml");
    std::fs::write(&file, scenario_text(V15, "1s", &variants)).unwrap();
    let mut runs = vec![(file, absent, "13, :15 and :17 only", "fifteen")];
    let shipped = std::path::PathBuf::from("scenarios/postgres-versions.toml");
    let has_17 = Command::new("docker")
        .args(["image", "inspect", "stress-test-postgres:17"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_17 {
        let hint = "tests/docker/build-image.sh 17";
        runs.push((shipped, "stress-test-postgres:17", hint, "PostgreSQL 15"));
    }
    for (file, image, hint, other) in runs {
        let run = Command::new(env!("CARGO_BIN_EXE_stress"))
            .arg("run")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{file:?}: {stderr}");
        assert!(stderr.contains(&format!("image {image} ")), "{stderr}");
        assert!(stderr.contains(hint), "{stderr}");
        assert!(
            stderr.contains(&format!("--variant \"{other}\"")),
            "{stderr}"
        );
        assert!(
            !stderr.contains(": database"),
            "no variant started: {stderr}"
        );
    }
}

/// Operations succeeded in a second that ended after `after_ms`.
fn recovered(v: &stress::report::model::VariantReport, after_ms: u64) -> bool {
    v.timeline
        .iter()
        .any(|e| e.t_ms > after_ms + 1000 && e.ok > 0)
}

#[test]
fn restart_server_on_a_container_recovers() {
    let test = "restart_server_on_a_container_recovers";
    if !ready(test, &[V15]) {
        return;
    }
    // On the container's own disk (not a tmpfs, emptied when a container stops): the server
    // comes back with its data, as a restarted production server does.
    let fault = "[[fault]]\nkind = \"restart_server\"\nat = \"1s\"\ndown_for = \"300ms\"\n";
    let text = scenario_text(V15, "6s", fault).replace("tmpfs = true", "tmpfs = false");
    let s = scenario(&text, &[]);
    let _one = load_lock();
    let report = run_on(&s, None).expect("a run with a restart on a container");
    assert_consistent(&report);
    let v = &report.variants[0];
    assert_eq!(v.faults.len(), 1, "{:?}", v.faults);
    let detail = &v.faults[0].detail;
    assert!(detail.contains("started again"), "{detail}");
    assert!(
        v.operations.failed > 0,
        "the restart cut operations: {detail}"
    );
    let back_at = v.faults[0].at_ms + 300;
    assert!(
        recovered(v, back_at),
        "operations succeed after the restart: {detail}, {:?}",
        v.timeline
    );
}

#[test]
fn kill_backend_on_a_container_kills_one_of_ours_inside_it() {
    let test = "kill_backend_on_a_container_kills_one_of_ours_inside_it";
    if !ready(test, &[V15]) {
        return;
    }
    let fault = "[[fault]]\nkind = \"kill_backend\"\nat = \"1s\"\n";
    let s = scenario(&scenario_text(V15, "4s", fault), &[]);
    let _one = load_lock();
    let report = run_on(&s, None).expect("a run with a killed backend on a container");
    assert_consistent(&report);
    let v = &report.variants[0];
    let detail = &v.faults[0].detail;
    assert!(detail.starts_with("killed backend"), "{detail}");
    assert!(detail.contains("in the container"), "{detail}");
    assert!(
        v.operations.failed > 0,
        "the server reset every backend: {detail}"
    );
    assert!(recovered(v, v.faults[0].at_ms), "{:?}", v.timeline);
}

/// A `stress run` of `file` whose stderr lines are passed on (with its phases, `stress:
/// [variant] setup` / `load`, which say where the run is); returns the child.
/// A `stress run` child that a failed assertion does not leave running (with its container,
/// into the next tests): dropped while it runs, it gets SIGTERM (it then removes its container),
/// then SIGKILL after 30 s.
struct Running(std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        // No panic in a drop: the poll's outcome is only whether SIGKILL is still needed.
        let _ = common::wait::poll(Duration::from_secs(30), || match self.0.try_wait() {
            Ok(None) => Err("it runs".into()),
            _ => Ok(()),
        });
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_run(file: &std::path::Path, env: &[(&str, &str)]) -> (Running, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stress"))
        .arg("run")
        .arg(file)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stress run");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Running(child), rx)
}

/// Waits for the line of `lines` that ends with `phase` (`] load`), within `limit`; panics if
/// the run ends or says nothing of it in time. Returns the lines read until then.
fn wait_for_phase(
    lines: &mpsc::Receiver<String>,
    child: &mut std::process::Child,
    phase: &str,
    limit: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut said = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.ends_with(phase) => {
                said.push(line);
                return said;
            }
            Ok(line) => said.push(line),
            Err(_) => panic!(
                "no `{phase}` within {limit:?} (ended: {:?}): {said:?}",
                child.try_wait().unwrap()
            ),
        }
    }
}

#[test]
fn no_container_is_left_after_an_error_sigint_or_sigterm() {
    let test = "no_container_is_left_after_an_error_sigint_or_sigterm";
    if !ready(test, &[V15]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    let bad_setup = scenario_text(V15, "1s", "").replace("CREATE TABLE", "CREATE TABEL");
    std::fs::write(&broken, bad_setup).unwrap();
    let long = dir.path().join("long.toml");
    std::fs::write(&long, scenario_text(V15, "60s", "")).unwrap();
    let _one = load_lock();
    let (mut child, lines) = spawn_run(&broken, &[]);
    let pid = child.id();
    let status = child.wait().unwrap();
    let said: Vec<String> = lines.iter().collect();
    assert!(!status.success(), "a failed setup fails the run: {said:?}");
    // The setup runs on the container's server: its phase begins once the container accepts
    // connections, and its error comes after it.
    let setup = said.iter().position(|l| l.ends_with("] setup"));
    let error = said
        .iter()
        .position(|l| l.contains("database.setup") && l.contains("TABEL"));
    assert!(
        matches!((setup, error), (Some(s), Some(e)) if s < e),
        "the setup error, after the container started: {said:?}"
    );
    assert!(
        containers(&format!("io.stress.owner-pid={pid}")).is_empty(),
        "after an error"
    );
    for (signal, code) in [
        (nix::sys::signal::Signal::SIGINT, 130),
        (nix::sys::signal::Signal::SIGTERM, 143),
    ] {
        let (mut child, lines) = spawn_run(&long, &[]);
        let pid = child.id();
        let label = format!("io.stress.owner-pid={pid}");
        // The signal lands during the load: once the run says the load has begun.
        let mut said = wait_for_phase(&lines, &mut child, "] load", Duration::from_secs(120));
        assert_eq!(
            containers(&label).len(),
            1,
            "the load's container: {said:?}"
        );
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
        let status = child.wait().unwrap();
        said.extend(lines.iter());
        assert_eq!(status.code(), Some(code), "{signal}: {said:?}");
        assert!(containers(&label).is_empty(), "after {signal}: {said:?}");
    }
}

#[test]
fn containers_of_dead_runs_are_removed_and_no_other() {
    let test = "containers_of_dead_runs_are_removed_and_no_other";
    if !ready(test, &[V15]) {
        return;
    }
    // A process that has ended: its pid names a dead owner.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id().to_string();
    gone.wait().unwrap();
    let marker = format!("stress-test-{}", std::process::id());
    let create = |labels: &[String]| {
        let mut args = vec!["create".to_string()];
        for l in labels {
            args.extend(["--label".to_string(), l.clone()]);
        }
        args.extend([
            "--label".into(),
            format!("io.stress.test={marker}"),
            V15.into(),
        ]);
        docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let stale = create(&[
        format!("io.stress.owner-pid={dead}"),
        "io.stress.owner-start=1".into(),
    ]);
    let other = create(&["org.example.app=1".into()]);
    let s = scenario(&scenario_text(V15, "300ms", ""), &[]);
    let result = {
        let _one = load_lock();
        run_on(&s, None)
    };
    let left = containers(&format!("io.stress.test={marker}"));
    docker(&["rm", "-f", &other]);
    result.expect("a run on a container");
    assert!(
        !left.iter().any(|id| stale.starts_with(id.as_str())),
        "the dead run's container is removed"
    );
    assert!(
        left.iter().any(|id| other.starts_with(id.as_str())),
        "a container not ours stays"
    );
}

#[test]
fn without_server_binaries_the_embedded_default_falls_back_to_a_container() {
    let test = "without_server_binaries_the_embedded_default_falls_back_to_a_container";
    if !ready(test, &[V15]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("plain.toml");
    let out = dir.path().join("report.json");
    let text = scenario_text(V15, "1s", "");
    let plain: String = text
        .lines()
        .filter(|l| {
            ![
                "[database.docker]",
                "image",
                "network",
                "tmpfs",
                "max_connections",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, plain).unwrap();
    let _one = load_lock();
    let run = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(["run", "--quiet"])
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("PG_BIN", &empty)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("STRESS_DOCKER_IMAGE", V15)
        .env("STRESS_DOCKER_NETWORK", "host")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("PG_BIN="), "says why: {stderr}");
    assert!(
        stderr.contains(&format!("a container of {V15}")),
        "and says so: {stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["database"]["source"], "docker");
    let run_id = report["run_id"].as_str().unwrap();
    assert!(containers(&format!("io.stress.run={run_id}")).is_empty());
}
