//! A throwaway PostgreSQL server: a copy of the template cluster in a temporary directory, on a
//! free port of 127.0.0.1 and a unix socket in that directory, tuned for speed over durability.
//! Only the harness may connect: a per-start password over TCP, a private socket directory
//! (see `auth.rs`).
//!
//! The server runs in its own process group, so a Ctrl-C at the terminal reaches us and not it,
//! and we shut it down in order. As root, it runs as the unprivileged `postgres` user. The
//! server and its directory are gone when [`EmbeddedServer`] is stopped or dropped (after
//! success, after an error, after an interrupt), and a [`Watchdog`] removes them if `stress`
//! dies without dropping it (SIGKILL). A start gives up as soon as the run is interrupted.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::InfraError;
use super::auth::{self, Secret};
use super::binaries::{self, Binaries, RunAs};
use super::cluster::{self, SUPERUSER};
use super::embedded_tls::{self, ServerTls};
use super::process::{self, free_port, tail};
use super::watchdog::{self, Watchdog};
use crate::conninfo::tls::Tls;
use crate::scenario::model::EmbeddedSettings;
use crate::signal::Interrupt;

/// How the server is stopped: `fast` (SIGINT: abort transactions, disconnect clients) or
/// `immediate` (SIGQUIT: no shutdown checkpoint; crash recovery at the next start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    Fast,
    Immediate,
}

/// A running throwaway server.
#[derive(Debug)]
pub struct EmbeddedServer {
    pub(crate) settings: EmbeddedSettings,
    pub port: u16,
    bins: Binaries,
    run_as: Option<RunAs>,
    child: Option<Child>,
    data: PathBuf,
    /// The superuser's password for TCP, made for this server (see `auth.rs`).
    secret: Secret,
    /// A start (or restart) gives up when this is raised.
    interrupt: Arc<Interrupt>,
    /// Its CA and certificates, with `ssl = true`.
    server_tls: Option<ServerTls>,
    /// How clients connect: `verify-full` against its CA with `ssl = true`, plain otherwise.
    client_tls: Tls,
    // Removed after the server has stopped (fields drop in order)...
    dir: tempfile::TempDir,
    // ...and only then is the watchdog told that all is clean.
    watchdog: Watchdog,
}

/// Settings that trade durability for speed: this cluster is thrown away.
const THROWAWAY: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("logging_collector", "off"),
];

impl EmbeddedServer {
    /// Starts a server with these settings; under a second with a ready template.
    pub fn start(settings: &EmbeddedSettings) -> Result<EmbeddedServer, InfraError> {
        EmbeddedServer::start_unless(settings, Arc::new(Interrupt::default()))
    }

    /// Starts a server, giving up (and cleaning up) as soon as `interrupt` is raised.
    pub(crate) fn start_unless(
        settings: &EmbeddedSettings,
        interrupt: Arc<Interrupt>,
    ) -> Result<EmbeddedServer, InfraError> {
        watchdog::sweep_once();
        let bins = binaries::find()?;
        let run_as = binaries::run_as()?;
        let template = cluster::template(&bins, run_as.as_ref(), &interrupt)?;
        let dir = tempfile::Builder::new()
            .prefix("stress-pg-")
            .tempdir()
            .map_err(|e| InfraError::new(format!("cannot create a temporary directory: {e}")))?;
        let watchdog = Watchdog::guard(dir.path())?;
        cluster::give_to(dir.path(), run_as.as_ref())?;
        auth::private_dir(dir.path())?;
        let data = dir.path().join("data");
        cluster::copy_tree(&template, &data, run_as.as_ref()).map_err(|e| {
            InfraError::new(format!(
                "cannot copy the template cluster into {}: {e}",
                data.display()
            ))
        })?;
        let hba = if settings.ssl {
            embedded_tls::HBA
        } else {
            auth::HBA
        };
        auth::configure(&data, run_as.as_ref(), hba)?;
        let server_tls = match settings.ssl {
            true => Some(ServerTls::create(dir.path(), &data, run_as.as_ref())?),
            false => None,
        };
        let client_tls = match &server_tls {
            Some(t) => Tls::verify_full(&t.ca_file).map_err(InfraError::new)?,
            None => Tls::plain(),
        };
        let mut server = EmbeddedServer {
            settings: settings.clone(),
            port: 0,
            bins,
            run_as,
            child: None,
            data,
            interrupt,
            secret: Secret::generate()?,
            server_tls,
            client_tls,
            dir,
            watchdog,
        };
        server.launch_on_free_port()?;
        let cert_role = match settings.ssl {
            true => Some(embedded_tls::CERT_ROLE),
            false => None,
        };
        auth::set_password(server.dir(), server.port, &server.secret, cert_role)?;
        Ok(server)
    }

    /// Connection settings for the superuser on TCP, with this server's password.
    pub fn config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user(SUPERUSER)
            .password(self.secret.expose())
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(10));
        c
    }

    /// How clients connect to it (`verify-full` against its CA with `ssl = true`).
    pub(crate) fn tls(&self) -> Tls {
        self.client_tls.clone()
    }

    /// Its CA, with `ssl = true` (to issue client certificates).
    pub fn server_tls(&self) -> Option<&ServerTls> {
        self.server_tls.as_ref()
    }

    /// The superuser's URL for database `dbname`, password included (and, with `ssl = true`,
    /// `sslmode=verify-full` against its CA): for tests and internal use only, never to be
    /// shown (show [`crate::conninfo::url::redacted`] of [`Self::config`]).
    pub fn url(&self, dbname: &str) -> String {
        let tls = match &self.server_tls {
            Some(t) => format!(
                "?sslmode=verify-full&sslrootcert={}",
                percent_encoding::utf8_percent_encode(
                    &t.ca_file.display().to_string(),
                    percent_encoding::NON_ALPHANUMERIC
                )
            ),
            None => String::new(),
        };
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{dbname}{tls}",
            self.secret.expose(),
            self.port
        )
    }

    /// The directory holding the data directory and the unix socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process id of the postmaster, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn launch_on_free_port(&mut self) -> Result<(), InfraError> {
        let mut last = None;
        for _ in 0..3 {
            self.port = free_port()?;
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.message.contains("could not bind")
                        || e.message.contains("already in use") =>
                {
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("three attempts"))
    }

    fn launch(&mut self) -> Result<(), InfraError> {
        let log_path = self.dir.path().join("server.log");
        let log = File::create(&log_path)
            .map_err(|e| InfraError::new(format!("cannot create {}: {e}", log_path.display())))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(self.bins.postgres());
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-h", "127.0.0.1"])
            .arg("-c")
            .arg(format!("max_connections={}", self.settings.max_connections));
        for (name, value) in THROWAWAY {
            cmd.arg("-c").arg(format!("{name}={value}"));
        }
        if self.server_tls.is_some() {
            for (name, value) in ServerTls::server_settings() {
                cmd.arg("-c").arg(format!("{name}={value}"));
            }
        }
        for (name, value) in &self.settings.settings {
            cmd.arg("-c").arg(format!("{name}={}", value.0));
        }
        let (dir, run_as) = (self.dir.path(), self.run_as.as_ref());
        let child = process::spawn(&mut cmd, dir, log, run_as, &mut self.watchdog)?;
        self.child = Some(child);
        if let Err(e) = self.wait_ready(Duration::from_secs(60)) {
            self.kill();
            let log = tail(&log_path, log_start);
            return Err(InfraError::new(format!(
                "{}; server log:\n{log}",
                e.message
            )));
        }
        Ok(())
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), InfraError> {
        let pid_file = self.data.join("postmaster.pid");
        let names = process::Names {
            who: "the embedded server",
            late: "the embedded server was not ready",
        };
        let pause = Duration::from_millis(5);
        let interrupt = &self.interrupt;
        process::wait_ready(
            &mut self.child,
            &mut self.watchdog,
            names,
            (limit, pause),
            || {
                if interrupt.is_raised() {
                    return Err(InfraError::new(
                        "interrupted while the embedded server started",
                    ));
                }
                // Line 8 of postmaster.pid is the postmaster's status: "ready" once it accepts
                // connections.
                Ok(fs::read_to_string(&pid_file)
                    .is_ok_and(|text| text.lines().nth(7).is_some_and(|l| l.trim() == "ready")))
            },
        )
    }

    /// Stops the server (fast, then immediate, then kill) and waits for it to exit.
    pub(crate) fn stop(&mut self, mode: StopMode) {
        let Some(child) = self.child.take() else {
            return;
        };
        let first = match mode {
            StopMode::Fast => Signal::SIGINT,
            StopMode::Immediate => Signal::SIGQUIT,
        };
        // Asked to hurry (a second Ctrl-C): a fast shutdown gets less time.
        let patience = match self.interrupt.is_urgent() {
            true => Duration::from_millis(500),
            false => Duration::from_secs(10),
        };
        let steps = [(first, patience), (Signal::SIGQUIT, Duration::from_secs(5))];
        process::stop(child, &mut self.watchdog, &steps);
    }

    /// Starts the stopped server again on the same port and data directory.
    pub(crate) fn restart(&mut self) -> Result<(), InfraError> {
        if self.child.is_none() {
            self.launch()?;
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            process::stop(child, &mut self.watchdog, &[]);
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.stop(StopMode::Fast);
        // `dir` is removed when the field drops, after this.
    }
}
