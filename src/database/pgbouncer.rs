//! `[database.pgbouncer]`: a throwaway PgBouncer in front of the database (embedded server,
//! container of `[database.docker]`, or URL), on a free port of 127.0.0.1. The harness's connections go through it; the admin connection
//! and the server sampler keep going to the server directly; PgBouncer's admin console (the
//! `pgbouncer` database) is reached with [`PgBouncer::console_config`].
//!
//! Like the embedded server, it runs in its own process group (a Ctrl-C is ours to handle), as
//! the unprivileged user when we are root (PgBouncer refuses root), with its configuration,
//! auth file, pid file and log in a private temporary directory (`stress-pgbouncer-*`). It is
//! stopped and the directory removed when [`PgBouncer`] is dropped (success, error, interrupt),
//! and a [`Watchdog`] does both if `stress` dies without dropping it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::InfraError;
use super::auth::{self, Secret};
use super::binaries::{self, RunAs};
use super::cluster;
use super::pgbouncer_conf::{self as conf, Upstream, Version};
use super::process::{self, free_port, tail};
use super::watchdog::{self, Watchdog};
use crate::conninfo::tls::Tls;
use crate::scenario::model::PgBouncerSettings;

/// The PgBouncer of a run, shared with the faults that restart or pause it.
pub(crate) type PoolerHandle = Arc<Mutex<PgBouncer>>;

/// How PgBouncer is stopped: `graceful` (SIGINT: PAUSE then shut down, in-flight transactions
/// finish first) or `immediate` (every connection cut at once: SIGTERM before PgBouncer 1.23,
/// SIGQUIT from 1.23, where SIGTERM became a shutdown that waits for every client to leave).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolerStop {
    Graceful,
    Immediate,
}

/// How long a graceful stop may wait for in-flight work before it becomes immediate (in
/// session mode PgBouncer's PAUSE waits for clients to leave, which a pool never does).
const GRACEFUL_PATIENCE: Duration = Duration::from_secs(5);

/// A running throwaway PgBouncer.
#[derive(Debug)]
pub struct PgBouncer {
    pub(crate) settings: PgBouncerSettings,
    pub(crate) port: u16,
    /// "1.18.0".
    pub(crate) version: String,
    /// The same, as numbers: which signal stops it at once depends on it.
    release: Version,
    bin: PathBuf,
    run_as: Option<RunAs>,
    up: Upstream,
    /// The harness's password for PgBouncer (its verifier is in the auth file).
    secret: Secret,
    child: Option<Child>,
    // Removed after PgBouncer has stopped (fields drop in order)...
    dir: tempfile::TempDir,
    // ...and only then is the watchdog told that all is clean.
    watchdog: Watchdog,
}

impl PgBouncer {
    /// Starts PgBouncer in front of the server `upstream` names.
    pub(crate) fn start(
        settings: &PgBouncerSettings,
        upstream: &tokio_postgres::Config,
        tls: &Tls,
    ) -> Result<PgBouncer, InfraError> {
        watchdog::sweep_once();
        let bin = conf::binary()?;
        let v = conf::version(&bin)?;
        conf::check_supported(settings, &bin, v)?;
        let run_as = binaries::run_as()?;
        let dir = tempfile::Builder::new()
            .prefix("stress-pgbouncer-")
            .tempdir()
            .map_err(|e| InfraError::new(format!("cannot create a temporary directory: {e}")))?;
        let watchdog = Watchdog::guard(dir.path())?;
        cluster::give_to(dir.path(), run_as.as_ref())?;
        auth::private_dir(dir.path())?;
        let mut pooler = PgBouncer {
            settings: settings.clone(),
            port: 0,
            version: show(v),
            release: v,
            bin,
            run_as,
            up: Upstream::of(upstream, tls)?,
            secret: Secret::generate()?,
            child: None,
            dir,
            watchdog,
        };
        pooler.write_auth_file()?;
        pooler.launch_on_free_port()?;
        Ok(pooler)
    }

    /// Connection settings of the harness's connections: through PgBouncer, to the same
    /// database and user as the source.
    pub(crate) fn client_config(
        &self,
        upstream: &tokio_postgres::Config,
    ) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user(self.up.client_user())
            .password(self.secret.expose())
            .dbname(&self.up.dbname)
            .connect_timeout(
                upstream
                    .get_connect_timeout()
                    .copied()
                    .unwrap_or(Duration::from_secs(10)),
            );
        c
    }

    /// Connection settings of PgBouncer's admin console (`SHOW POOLS`, `PAUSE`, ...).
    pub(crate) fn console_config(&self) -> tokio_postgres::Config {
        let mut c = self.client_config(&tokio_postgres::Config::new());
        c.dbname("pgbouncer");
        c
    }

    /// `postgres://user:***@127.0.0.1:port/db`: where the harness connects, for display.
    pub(crate) fn display_url(&self) -> String {
        format!(
            "postgres://{}:***@127.0.0.1:{}/{}",
            self.up.client_user(),
            self.port,
            self.up.dbname
        )
    }

    /// The database's name in PgBouncer (its `SHOW POOLS` rows).
    pub(crate) fn dbname(&self) -> &str {
        &self.up.dbname
    }

    /// The directory holding its files.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn write_auth_file(&self) -> Result<(), InfraError> {
        let path = self.dir().join("userlist.txt");
        write_private(
            &path,
            &conf::auth_text(self.up.client_user(), &self.secret),
            self.run_as.as_ref(),
        )
    }

    fn launch_on_free_port(&mut self) -> Result<(), InfraError> {
        let mut last = None;
        for _ in 0..3 {
            self.port = free_port()?;
            let config = conf::config_text(&self.settings, &self.up, self.dir.path(), self.port);
            write_private(
                &self.dir().join("pgbouncer.ini"),
                &config,
                self.run_as.as_ref(),
            )?;
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(e) if e.message.contains("Address already in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("three attempts"))
    }

    fn launch(&mut self) -> Result<(), InfraError> {
        let log_path = self.dir().join("pgbouncer.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| InfraError::new(format!("cannot create {}: {e}", log_path.display())))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.bin);
        cmd.arg(self.dir().join("pgbouncer.ini"));
        let dir = self.dir().to_path_buf();
        let run_as = self.run_as.as_ref();
        let child = process::spawn(&mut cmd, &dir, log, run_as, &mut self.watchdog)?;
        self.child = Some(child);
        if let Err(e) = self.wait_ready(Duration::from_secs(30)) {
            self.stop(PoolerStop::Immediate);
            let log = tail(&log_path, log_start);
            let message = format!("{}; PgBouncer's log:\n{log}", e.message);
            // A setting PgBouncer does not know or accept is the scenario's fault.
            return Err(
                match log.contains("unknown parameter") || log.contains("invalid value") {
                    true => {
                        InfraError::bad_input(format!("database.pgbouncer.settings: {message}"))
                    }
                    false => InfraError::new(message),
                },
            );
        }
        Ok(())
    }

    /// Ready when it accepts a TCP connection on its port.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), InfraError> {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port);
        let names = process::Names {
            who: "PgBouncer",
            late: "PgBouncer did not accept connections",
        };
        let pause = Duration::from_millis(10);
        process::wait_ready(
            &mut self.child,
            &mut self.watchdog,
            names,
            (limit, pause),
            || Ok(TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok()),
        )
    }

    /// Stops PgBouncer and waits for it to exit: graceful (SIGINT) gets [`GRACEFUL_PATIENCE`],
    /// then the immediate shutdown's signal (see [`stop_steps`]), then SIGKILL.
    pub(crate) fn stop(&mut self, mode: PoolerStop) {
        let Some(child) = self.child.take() else {
            return;
        };
        process::stop(child, &mut self.watchdog, &stop_steps(self.release, mode));
    }

    /// Starts the stopped PgBouncer again on the same port.
    pub(crate) fn restart(&mut self) -> Result<(), InfraError> {
        if self.child.is_none() {
            self.launch()?;
        }
        Ok(())
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop(PoolerStop::Immediate);
        // `dir` is removed when the field drops, after this.
    }
}

/// The signals that stop PgBouncer `v`, each with its wait. Immediate shutdown is SIGTERM up to
/// 1.22 and SIGQUIT from 1.23 (where SIGTERM waits for every client to disconnect, which a
/// pool never does, and SIGQUIT, unhandled before, would only kill it without its clean-up).
fn stop_steps(v: Version, mode: PoolerStop) -> Vec<(Signal, Duration)> {
    let immediate = match v >= (1, 23, 0) {
        true => Signal::SIGQUIT,
        false => Signal::SIGTERM,
    };
    let mut steps = vec![(immediate, Duration::from_secs(5))];
    if mode == PoolerStop::Graceful {
        steps.insert(0, (Signal::SIGINT, GRACEFUL_PATIENCE));
    }
    steps
}

fn show(v: Version) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// Writes a file only its owner may read, given to the unprivileged user.
fn write_private(path: &Path, text: &str, run_as: Option<&RunAs>) -> Result<(), InfraError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    written.map_err(|e| InfraError::new(format!("cannot write {}: {e}", path.display())))?;
    cluster::give_to(path, run_as)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(v: Version, mode: PoolerStop) -> Vec<Signal> {
        stop_steps(v, mode).into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn immediate_is_sigterm_before_1_23_and_sigquit_from_1_23() {
        use PoolerStop::{Graceful, Immediate};
        assert_eq!(signals((1, 18, 0), Immediate), [Signal::SIGTERM]);
        assert_eq!(signals((1, 22, 1), Immediate), [Signal::SIGTERM]);
        assert_eq!(signals((1, 23, 0), Immediate), [Signal::SIGQUIT]);
        assert_eq!(signals((1, 24, 1), Immediate), [Signal::SIGQUIT]);
        assert_eq!(signals((2, 0, 0), Immediate), [Signal::SIGQUIT]);
        assert_eq!(
            signals((1, 18, 0), Graceful),
            [Signal::SIGINT, Signal::SIGTERM]
        );
        assert_eq!(
            signals((1, 23, 0), Graceful),
            [Signal::SIGINT, Signal::SIGQUIT]
        );
        assert_eq!(stop_steps((1, 23, 0), Graceful)[0].1, GRACEFUL_PATIENCE);
    }
}
