//! Where the database comes from: a URL (`--database-url`, `[database] url`, `DATABASE_URL`,
//! the libpq variables, in that order), or an embedded throwaway server started from the local
//! binaries. A variant whose `[database.embedded]` differs from the running server's gets its
//! own server. `[database.docker]` (cargo feature `docker`) starts a container instead, and so
//! does the embedded default when no server binaries are found but a Docker engine answers.
//!
//! A variant's `[database.docker]` is the scenario's explicit choice, so it wins over the
//! environment: `DATABASE_URL` and the libpq variables are not read for it (`stress` says so on
//! stderr when they are set), and `--database-url` beside it is refused (exit 2), since one URL
//! would silently turn a scenario of several images into runs on one server.

mod auth;
pub mod binaries;
pub(crate) mod cluster;
#[cfg(feature = "docker")]
pub(crate) mod docker;
pub(crate) mod embedded;
mod embedded_tls;
#[cfg(feature = "docker")]
mod fallback;
pub(crate) mod pgbouncer;
mod pgbouncer_conf;
mod process;
pub(crate) mod server;
pub(crate) mod watchdog;

use std::fmt;
use std::sync::{Arc, Mutex};

pub use crate::conninfo::tls::Tls;
/// Connection strings and TLS settings live below the scenario, in [`crate::conninfo`]; these
/// are their old paths, kept for the code that reaches them through the database.
pub use crate::conninfo::{libpq, tls, url};
use crate::scenario::model::DatabaseSettings;
use crate::signal::Interrupt;
pub use embedded::{EmbeddedServer, StopMode};
pub(crate) use pgbouncer::{PgBouncer, PoolerHandle, PoolerStop};
pub(crate) use server::Server;
use server::Wanted;

/// An infrastructure failure: the database is unreachable, the embedded server failed to
/// start (exit code 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfraError {
    pub(crate) message: String,
    /// The scenario asked for something this machine cannot give (exit code 2, not 3).
    pub(crate) bad_input: bool,
}

impl InfraError {
    pub(crate) fn new(message: impl Into<String>) -> InfraError {
        InfraError {
            message: message.into(),
            bad_input: false,
        }
    }

    /// A failure that is the scenario's fault (exit code 2).
    pub(crate) fn bad_input(message: impl Into<String>) -> InfraError {
        InfraError {
            message: message.into(),
            bad_input: true,
        }
    }
}

impl fmt::Display for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InfraError {}

/// Where a variant's database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SourceKind {
    Embedded,
    Url,
    /// A container started by `stress` (`[database.docker]`, or the fallback).
    Docker,
}

impl SourceKind {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            SourceKind::Embedded => "embedded",
            SourceKind::Url => "url",
            SourceKind::Docker => "docker",
        }
    }
}

/// The server started for the run, shared with the fault that restarts it.
pub(crate) type ServerHandle = Arc<Mutex<Server>>;

/// A database to run against: connection settings and how to show them.
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) config: tokio_postgres::Config,
    /// How its connections use TLS (libpq's `sslmode` and certificates).
    pub(crate) tls: Tls,
    pub(crate) source: SourceKind,
    /// The URL with its password replaced by `***`.
    pub(crate) display_url: String,
    /// The server started by `stress` (embedded or a container), when it is one.
    pub(crate) server: Option<ServerHandle>,
    /// The PgBouncer in front of it (`[database.pgbouncer]`): the harness connects through it.
    pub(crate) pooler: Option<PoolerHandle>,
}

impl Database {
    /// Connection settings of the harness's connections: through the pooler when there is one,
    /// else the database's own (which the admin connection always uses).
    pub(crate) fn harness_config(&self) -> tokio_postgres::Config {
        match &self.pooler {
            Some(p) => p.lock().expect("pooler lock").client_config(&self.config),
            None => self.config.clone(),
        }
    }

    /// TLS of the harness's connections: plain to a pooler of ours on 127.0.0.1 (PgBouncer
    /// is given no certificate), else the database's own.
    pub(crate) fn harness_tls(&self) -> Tls {
        match &self.pooler {
            Some(_) => Tls::plain(),
            None => self.tls.clone(),
        }
    }
}

/// The connection settings a variant would be given, by the order of the module's doc; an
/// error names the source (`--database-url`, `[database] url`, `DATABASE_URL`, `PGPORT`) and
/// the part of it that is wrong. Nothing is started or connected.
fn explicit(
    cli_url: Option<&str>,
    settings: &DatabaseSettings,
) -> Result<Option<libpq::Resolved>, String> {
    if let Some(d) = &settings.docker {
        return match cli_url {
            Some(_) => Err(format!(
                "--database-url names one server, but the scenario's [database.docker] starts a \
                 container of {} (a variant may set its own image): run without --database-url, \
                 or remove [database.docker] to run on that server",
                d.image
            )),
            // The environment is not read: the container is the scenario's explicit choice.
            None => Ok(None),
        };
    }
    let env_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
    let (name, url) = match (cli_url, &settings.url, env_url) {
        (Some(u), _, _) => ("--database-url", u.to_string()),
        (None, Some(u), _) => ("[database] url", u.clone()),
        (None, None, Some(u)) => ("DATABASE_URL", u),
        (None, None, None) => return url::from_libpq_env(),
    };
    match url::parse(&url) {
        Ok(c) => Ok(Some(c)),
        Err(e) => Err(format!("{name}: {e}")),
    }
}

/// The variables of the environment that name a server: `DATABASE_URL`, then libpq's.
fn environment_servers() -> Vec<&'static str> {
    let url = std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let mut set = if url { vec!["DATABASE_URL"] } else { vec![] };
    set.extend(libpq::server_variables());
    set
}

/// Checks, before anything runs, that the database every variant would use is well written
/// (exit 2 otherwise).
pub(crate) fn check_sources<'a>(
    cli_url: Option<&str>,
    variants: impl IntoIterator<Item = &'a DatabaseSettings>,
) -> Result<(), String> {
    for settings in variants {
        explicit(cli_url, settings)?;
    }
    Ok(())
}

/// Refuses, before anything runs, variants whose `[database.docker]` image is a local test
/// image (`stress-test-postgres:MAJOR`) this machine lacks: no registry has it, so its start
/// would fail after the other variants ran. The message names the image, its variants, the
/// command that builds it, and the `--variant` options that run the others.
pub(crate) fn check_images<'a>(
    variants: impl IntoIterator<Item = (&'a str, &'a DatabaseSettings)>,
) -> Result<(), String> {
    #[cfg(feature = "docker")]
    {
        let variants: Vec<(&str, Option<&str>)> = variants
            .into_iter()
            .map(|(name, d)| (name, d.docker.as_ref().map(|d| d.image.as_str())))
            .collect();
        let mut images: Vec<&str> = variants.iter().filter_map(|(_, i)| *i).collect();
        images.sort_unstable();
        images.dedup();
        let absent = docker::images::missing(&images);
        if absent.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for image in &absent {
            let names: Vec<String> = variants
                .iter()
                .filter(|(_, i)| *i == Some(image.as_str()))
                .map(|(n, _)| format!("\"{n}\""))
                .collect();
            let hint = docker::images::build_hint(image).unwrap_or_default();
            lines.push(format!(
                "image {image} (variant {}) is not on this machine, and no registry has it \
                 (it is built locally): {hint}",
                names.join(", ")
            ));
        }
        let others: Vec<String> = variants
            .iter()
            .filter(|(_, i)| !absent.iter().any(|a| Some(a.as_str()) == *i))
            .map(|(n, _)| format!("--variant \"{n}\""))
            .collect();
        if !others.is_empty() {
            lines.push(format!(
                "or run the other variants only: {}",
                others.join(" ")
            ));
        }
        Err(lines.join("\n"))
    }
    #[cfg(not(feature = "docker"))]
    {
        let _ = variants;
        Ok(())
    }
}

/// The redacted URL, with the TLS mode when TLS is asked for (not `disable`, not libpq's
/// default `prefer`).
fn shown(config: &tokio_postgres::Config, tls: &Tls) -> String {
    match tls.mode {
        tls::SslMode::Disable | tls::SslMode::Prefer => url::redacted(config),
        mode => format!("{}?sslmode={}", url::redacted(config), mode.as_str()),
    }
}

/// Resolves and owns the databases of a run, starting embedded servers as variants need them.
#[derive(Debug)]
pub struct Target {
    /// `--database-url`.
    cli_url: Option<String>,
    server: Option<ServerHandle>,
    /// The PgBouncer of the current variant, stopped before the next one starts its own.
    pooler: Option<PoolerHandle>,
    /// An embedded server's start gives up when this is raised.
    interrupt: Arc<Interrupt>,
    /// The run id our containers are labelled with.
    run_id: String,
    /// Whether the note that the environment's server is not used was printed.
    env_unused_said: bool,
}

impl Target {
    pub fn new(cli_url: Option<String>) -> Target {
        Target {
            cli_url,
            server: None,
            pooler: None,
            interrupt: Arc::new(Interrupt::default()),
            run_id: String::new(),
            env_unused_said: false,
        }
    }

    /// The run whose containers are started from now on (their label `io.stress.run`).
    pub(crate) fn set_run_id(&mut self, run_id: &str) {
        self.run_id = run_id.to_string();
    }

    /// Embedded servers started from now on give up their start when `interrupt` is raised.
    pub(crate) fn interruptible(mut self, interrupt: Arc<Interrupt>) -> Target {
        self.interrupt = interrupt;
        self
    }

    /// The database of a variant: an explicit URL, or an embedded server with its settings.
    pub(crate) fn database(&mut self, settings: &DatabaseSettings) -> Result<Database, InfraError> {
        let mut db = self.source(settings)?;
        self.pooler = None;
        if let Some(p) = &settings.pgbouncer {
            let pooler = Arc::new(Mutex::new(PgBouncer::start(p, &db.config, &db.tls)?));
            self.pooler = Some(pooler.clone());
            db.pooler = Some(pooler);
        }
        Ok(db)
    }

    /// The database itself, without the pooler.
    fn source(&mut self, settings: &DatabaseSettings) -> Result<Database, InfraError> {
        if let Some(d) = &settings.docker {
            self.say_environment_unused(&d.image);
        }
        if let Some(libpq::Resolved { config, tls }) = self.explicit(settings)? {
            return Ok(Database {
                display_url: shown(&config, &tls),
                config,
                tls,
                source: SourceKind::Url,
                server: None,
                pooler: None,
            });
        }
        let wanted = Wanted::of(settings);
        let reusable = self
            .server
            .as_ref()
            .is_some_and(|s| s.lock().expect("server lock").serves(&wanted));
        if !reusable {
            // Stop the previous server before starting one with other settings.
            self.server = None;
            self.server = Some(Arc::new(Mutex::new(self.start(wanted)?)));
        }
        let server = self.server.clone().expect("started above");
        let (config, tls, source) = {
            let s = server.lock().expect("server lock");
            (s.config(), s.tls(), s.source())
        };
        Ok(Database {
            display_url: shown(&config, &tls),
            config,
            tls,
            source,
            server: Some(server),
            pooler: None,
        })
    }

    fn start(&self, wanted: Wanted) -> Result<Server, InfraError> {
        match wanted {
            #[cfg(feature = "docker")]
            Wanted::Docker(d) => Ok(Server::Docker(docker::DockerServer::start(
                &d,
                &self.run_id,
                self.interrupt.clone(),
            )?)),
            Wanted::Embedded(e) => {
                #[cfg(feature = "docker")]
                if let Some(d) = fallback::wanted(&e)? {
                    return Ok(Server::Docker(docker::DockerServer::start(
                        &d,
                        &self.run_id,
                        self.interrupt.clone(),
                    )?));
                }
                let server = EmbeddedServer::start_unless(&e, self.interrupt.clone())?;
                Ok(Server::Embedded(server))
            }
        }
    }

    /// Says once, on stderr, that `DATABASE_URL` or libpq variables naming a server are set
    /// but not used, since `[database.docker]` wins over them.
    fn say_environment_unused(&mut self, image: &str) {
        let set = environment_servers();
        if self.env_unused_said || set.is_empty() {
            return;
        }
        self.env_unused_said = true;
        crate::console::errln!(
            "stress: {} set but not used: [database.docker] starts a container of {image} \
             (only a variant without [database.docker] would use them)",
            set.join(", ")
        );
    }

    fn explicit(&self, settings: &DatabaseSettings) -> Result<Option<libpq::Resolved>, InfraError> {
        explicit(self.cli_url.as_deref(), settings).map_err(InfraError::new)
    }

    /// Stops and removes the embedded server, if any.
    pub fn shutdown(&mut self) {
        // The pooler first: it is in front of the server.
        self.pooler = None;
        self.server = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::DockerSettings;

    fn with_image(image: &str) -> DatabaseSettings {
        DatabaseSettings {
            docker: Some(DockerSettings {
                image: image.into(),
                ..DockerSettings::default()
            }),
            ..DatabaseSettings::default()
        }
    }

    #[test]
    fn a_container_refuses_the_command_lines_url() {
        let settings = with_image("stress-test-postgres:13");
        let refused = explicit(Some("postgres://u@db.example/app"), &settings).unwrap_err();
        assert!(refused.contains("--database-url"), "{refused}");
        assert!(refused.contains("stress-test-postgres:13"), "{refused}");
        let plain = DatabaseSettings::default();
        let url = explicit(Some("postgres://u@db.example/app"), &plain).unwrap();
        assert!(url.is_some(), "without a container the URL is used");
    }

    #[test]
    fn a_container_reads_no_url_from_the_environment() {
        // Whatever the environment of the test process holds, a container's variant gets no
        // URL (the child-process tests set DATABASE_URL and PGHOST: tests/bad_input/docker.rs).
        assert!(matches!(
            explicit(None, &with_image("postgres:16")),
            Ok(None)
        ));
    }
}
