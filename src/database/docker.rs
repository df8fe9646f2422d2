//! `[database.docker]`: a throwaway PostgreSQL container started through testcontainers
//! (cargo feature `docker`). The image is the user's (`postgres:16` by default, or one built
//! by `tests/docker/build-image.sh`); `POSTGRES_PASSWORD` is drawn for each container; the
//! server settings are passed as `-c name=value`. On the default bridge the server's 5432 is
//! mapped to a free port of the host; on the host's network the server listens on a free port
//! of 127.0.0.1 (`-c port=N`), so that two runs never collide on 5432. Ready when it accepts a
//! connection. Removed when the [`DockerServer`] is dropped (after success, error, Ctrl-C,
//! SIGTERM); containers left by a killed `stress` carry labels naming their dead owner and are
//! removed by the next start (see `docker/labels.rs`).

pub(crate) mod images;
mod labels;
mod worker;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use super::auth::Secret;
use super::{InfraError, StopMode};
use crate::scenario::model::{DockerNetwork, DockerSettings};
use crate::signal::Interrupt;
use worker::{Request, Worker};

/// A running PostgreSQL container.
#[derive(Debug)]
pub struct DockerServer {
    pub(crate) settings: DockerSettings,
    /// The port of 127.0.0.1 the server is reached on.
    pub(crate) port: u16,
    user: String,
    dbname: String,
    password: Secret,
    worker: Worker,
}

impl DockerServer {
    /// Starts a container with these settings, labelled for run `run_id`, giving up when
    /// `interrupt` is raised.
    pub(crate) fn start(
        settings: &DockerSettings,
        run_id: &str,
        interrupt: Arc<Interrupt>,
    ) -> Result<DockerServer, InfraError> {
        let port = free_port()?;
        let password = match settings.env.get("POSTGRES_PASSWORD") {
            Some(p) => Secret::from(p.clone()),
            None => Secret::generate()?,
        };
        let user = settings
            .env
            .get("POSTGRES_USER")
            .cloned()
            .unwrap_or_else(|| "postgres".into());
        let dbname = settings
            .env
            .get("POSTGRES_DB")
            .cloned()
            .unwrap_or_else(|| user.clone());
        let config = connect_config(port, &user, &dbname, password.expose());
        let request = Request {
            image: settings.image.clone(),
            env: environment(settings, password.expose()),
            cmd: server_args(settings, port),
            labels: labels::ours(run_id),
            host_network: settings.network == DockerNetwork::Host,
            port,
            tmpfs: settings.tmpfs,
            config,
            interrupt,
        };
        let (worker, started) =
            Worker::start(request).map_err(|e| InfraError::new(advice(e, &settings.image)))?;
        if started.swept > 0 {
            crate::console::errln!(
                "stress: removed {} container(s) left by stress runs that died",
                started.swept
            );
        }
        Ok(DockerServer {
            settings: settings.clone(),
            port,
            user,
            dbname,
            password,
            worker,
        })
    }

    /// Connection settings for the container's superuser on 127.0.0.1.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        connect_config(self.port, &self.user, &self.dbname, self.password.expose())
    }

    /// Stops the server: `fast` (SIGINT) or `immediate` (SIGQUIT), the container stays.
    pub(crate) fn stop(&mut self, mode: StopMode) -> Result<(), InfraError> {
        self.worker.stop(mode).map_err(InfraError::new)
    }

    /// Starts the stopped container again (same port, same data unless on a tmpfs) and waits
    /// until it accepts a connection.
    pub(crate) fn restart(&mut self) -> Result<(), InfraError> {
        self.worker.start_again().map_err(InfraError::new)
    }

    /// SIGKILLs backend `pid` inside the container, after checking that its parent is the
    /// container's postmaster (PID 1 there): a pid that is not a backend is never signalled.
    pub(crate) fn kill_backend(&self, pid: i32) -> Result<(), String> {
        const SCRIPT: &str = "s=$(sed 's/.*) //' /proc/$1/stat) || exit 3; set -- $s; \
                              [ \"$2\" = 1 ] || exit 4; kill -KILL \"$0\"";
        let cmd = vec![
            "sh".into(),
            "-c".into(),
            SCRIPT.into(),
            pid.to_string(),
            pid.to_string(),
        ];
        match self.worker.exec(cmd)? {
            (0, _) => Ok(()),
            (3, _) => Err(format!("backend {pid} is gone")),
            (4, _) => Err(format!(
                "{pid} is not a child of the container's postmaster"
            )),
            (code, out) => Err(format!("kill in the container exited {code}: {out}")),
        }
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        self.worker.remove();
    }
}

/// Whether a Docker engine answers here (for the fallback when no server binaries are found).
pub(crate) fn engine_answers() -> bool {
    // Its own thread and runtime: the caller may be on a runtime, where blocking on (or
    // dropping) another one panics.
    let ping = || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let docker = testcontainers::bollard::Docker::connect_with_local_defaults().ok()?;
            tokio::time::timeout(Duration::from_secs(5), docker.ping())
                .await
                .ok()?
                .ok()
        })
    };
    std::thread::scope(|s| s.spawn(ping).join())
        .ok()
        .flatten()
        .is_some()
}

fn connect_config(port: u16, user: &str, dbname: &str, password: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host("127.0.0.1")
        .port(port)
        .user(user)
        .password(password)
        .dbname(dbname)
        .connect_timeout(Duration::from_secs(10));
    c
}

/// The container's environment: the user's, with the drawn password unless it sets one.
fn environment(settings: &DockerSettings, password: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = settings
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !settings.env.contains_key("POSTGRES_PASSWORD") {
        env.push(("POSTGRES_PASSWORD".into(), password.into()));
    }
    env
}

/// The server's arguments (the official image passes arguments starting with `-` to postgres).
fn server_args(settings: &DockerSettings, port: u16) -> Vec<String> {
    let mut args = vec![
        "-c".to_string(),
        format!("max_connections={}", settings.max_connections),
    ];
    if settings.network == DockerNetwork::Host {
        // The host's network: our own port, and only on the loopback interface.
        args.extend(["-c".into(), format!("port={port}")]);
        args.extend(["-c".into(), "listen_addresses=127.0.0.1".into()]);
    }
    for (name, value) in &settings.settings {
        args.extend(["-c".into(), format!("{name}={}", value.0)]);
    }
    args
}

/// An image that cannot be found usually means no registry: say how to build one here (that
/// image when it is one of `tests/docker/build-image.sh`'s, else the nearest it can build).
fn advice(message: String, image: &str) -> String {
    if !(message.contains("pull") || message.contains("No such image")) {
        return message;
    }
    match images::build_hint(image) {
        Some(hint) => format!("{message}\n(a local image, in no registry: {hint})"),
        None => format!(
            "{message}\n(no registry reachable? build a local image from Debian's packages with \
             tests/docker/build-image.sh 13|15|17, and set image = \"stress-test-postgres:15\" \
             (or 13, 17))"
        ),
    }
}

fn free_port() -> Result<u16, InfraError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| InfraError::new(format!("cannot find a free port on 127.0.0.1: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::SettingValue;

    #[test]
    fn host_network_gets_our_port_on_the_loopback_only() {
        let mut s = DockerSettings {
            max_connections: 20,
            ..DockerSettings::default()
        };
        s.settings
            .insert("work_mem".into(), SettingValue("8MB".into()));
        let bridge = server_args(&s, 40000).join(" ");
        assert_eq!(bridge, "-c max_connections=20 -c work_mem=8MB");
        s.network = DockerNetwork::Host;
        let host = server_args(&s, 40000).join(" ");
        assert_eq!(
            host,
            "-c max_connections=20 -c port=40000 -c listen_addresses=127.0.0.1 -c work_mem=8MB"
        );
    }

    #[test]
    fn the_drawn_password_unless_the_user_sets_one() {
        let mut s = DockerSettings::default();
        assert_eq!(
            environment(&s, "drawn"),
            vec![("POSTGRES_PASSWORD".into(), "drawn".into())]
        );
        s.env.insert("POSTGRES_PASSWORD".into(), "mine".into());
        assert_eq!(
            environment(&s, "drawn"),
            vec![("POSTGRES_PASSWORD".into(), "mine".into())]
        );
    }
}
