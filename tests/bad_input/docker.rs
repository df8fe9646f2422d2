//! Issue 14: `[database.docker]` is validated like any table: a bad value exits 2 naming the
//! file, line and key, before any engine is asked for anything.

use super::*;

/// VALID with a `[database.docker]` table before `[load]` (its keys from line 2).
fn with_docker(table: &str) -> String {
    VALID.replacen("[load]", &format!("[database.docker]\n{table}\n[load]"), 1)
}

#[test]
fn an_unknown_network_is_refused_with_its_position() {
    let text = with_docker("network = \"overlay\"");
    assert_bad(
        "docker_network",
        &text,
        &[],
        &file_at("docker_network", "3:11"),
        "database.docker.network",
    );
}

#[test]
fn settings_stress_owns_are_refused() {
    let text = with_docker("settings = { port = 5433 }");
    assert_bad(
        "docker_port",
        &text,
        &[],
        &file_at("docker_port", "3:21"),
        "database.docker.settings.port",
    );
    let text = with_docker("max_connections = 0");
    assert_bad(
        "docker_zero",
        &text,
        &[],
        &file_at("docker_zero", "3:19"),
        "database.docker.max_connections",
    );
}

#[test]
fn a_url_and_a_container_exclude_each_other() {
    let text = with_docker("image = \"postgres:17\"").replacen(
        "[database.docker]",
        "[database]\nurl = \"postgres://a@h/d\"\n[database.docker]",
        1,
    );
    assert_bad(
        "docker_url",
        &text,
        &[],
        &file_at("docker_url", "4:1"),
        "database.docker",
    );
}

#[test]
fn a_password_in_the_containers_environment_is_never_shown() {
    let text = with_docker("env = { POSTGRES_PASSWORD = \"s3cretpw\", POSTGRES_DB = \"app\" }");
    let (_dir, path) = write("docker_env", &text);
    let out = stress()
        .args(["check", "--print"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains("s3cretpw"), "{stdout}");
    assert!(stdout.contains("POSTGRES_PASSWORD = "), "{stdout}");
    assert!(stdout.contains("***"), "{stdout}");
    assert!(stdout.contains("POSTGRES_DB = \"app\""), "{stdout}");
}

/// `--database-url` beside `[database.docker]` would run every image's variant on one server:
/// refused before anything starts.
#[cfg(feature = "docker")]
#[test]
fn the_command_lines_url_beside_a_container_is_refused() {
    let text = with_docker("image = \"stress-test-postgres:13\"");
    let (_dir, path) = write("docker_cli_url", &text);
    let out = stress()
        .arg("run")
        .arg(&path)
        .args(["--database-url", "postgres://nobody@127.0.0.1:1/none"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert!(stderr.contains("[database.docker]"), "{stderr}");
    assert!(stderr.contains("stress-test-postgres:13"), "{stderr}");
}

/// The environment's server does not replace the scenario's container: with a malformed
/// `DATABASE_URL` (which a run that read it refuses with exit 2) and `PGHOST` set for the child
/// only, the run goes to Docker (an engine that does not exist here: exit 3) and says that
/// those variables are not used.
#[cfg(feature = "docker")]
#[test]
fn database_url_and_pghost_do_not_replace_the_container() {
    let text = with_docker("image = \"stress-test-postgres:15\"");
    let (dir, path) = write("docker_env_url", &text);
    let socket = dir.path().join("no-engine.sock");
    let out = stress()
        .arg("run")
        .arg(&path)
        .env("DATABASE_URL", "postgres://u:s3cret@h:x/db")
        .env("PGHOST", "127.0.0.1")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("the port must be a number"), "{stderr}");
    assert!(
        stderr.contains("DATABASE_URL, PGHOST set but not used"),
        "{stderr}"
    );
    assert!(stderr.contains("container"), "{stderr}");
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
