//! What the embedded server and PgBouncer share as child processes of ours, each in its own
//! process group and known to a [`Watchdog`]: starting one, waiting until it is ready (or gave up), stopping
//! one by escalating signals, a free port of 127.0.0.1 and the tail of a log.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::InfraError;
use super::binaries::RunAs;
use super::cluster;
use super::watchdog::Watchdog;

/// Starts `cmd` in `dir` with its output to `log`, in its own process group (a Ctrl-C at the
/// terminal is ours to handle, not the child's), as `run_as`, and tells the watchdog.
pub(crate) fn spawn(
    cmd: &mut Command,
    dir: &Path,
    log: File,
    run_as: Option<&RunAs>,
    watchdog: &mut Watchdog,
) -> Result<Child, InfraError> {
    let out = log
        .try_clone()
        .map_err(|e| InfraError::new(e.to_string()))?;
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(log)
        .process_group(0);
    cluster::as_user(cmd, run_as);
    let program = Path::new(cmd.get_program()).display().to_string();
    let child =
        (cmd.spawn()).map_err(|e| InfraError::new(format!("cannot start {program}: {e}")))?;
    watchdog.watch(child.id());
    Ok(child)
}

/// How a child is named in the errors of [`wait_ready`].
pub(crate) struct Names {
    /// Who exited at start: `the embedded server`, `PgBouncer`.
    pub(crate) who: &'static str,
    /// What did not happen in time: `the embedded server was not ready`.
    pub(crate) late: &'static str,
}

/// Polls `ready` every `pause` until it says yes, the child exits (then forgotten and taken
/// out of `slot`), `ready` fails (an interrupt, say) or `limit` passes.
pub(crate) fn wait_ready(
    slot: &mut Option<Child>,
    watchdog: &mut Watchdog,
    names: Names,
    (limit, pause): (Duration, Duration),
    mut ready: impl FnMut() -> Result<bool, InfraError>,
) -> Result<(), InfraError> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(child) = slot.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            watchdog.forget(child.id());
            *slot = None;
            let who = names.who;
            return Err(InfraError::new(format!("{who} exited at start ({status})")));
        }
        if ready()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            let (late, s) = (names.late, limit.as_secs());
            return Err(InfraError::new(format!("{late} within {s}s")));
        }
        std::thread::sleep(pause);
    }
}

/// Sends each signal in turn and waits its time for the child to exit; then SIGKILL to the
/// whole group (the child and anything it left behind). The watchdog forgets it after.
pub(crate) fn stop(mut child: Child, watchdog: &mut Watchdog, steps: &[(Signal, Duration)]) {
    let pid = Pid::from_raw(child.id() as i32);
    for &(sig, wait) in steps {
        let _ = signal::kill(pid, sig);
        if wait_exit(&mut child, wait) {
            watchdog.forget(child.id());
            return;
        }
    }
    let _ = signal::killpg(pid, Signal::SIGKILL);
    let _ = child.wait();
    watchdog.forget(child.id());
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// A port of 127.0.0.1 free at the time of asking.
pub(crate) fn free_port() -> Result<u16, InfraError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| InfraError::new(format!("cannot find a free port on 127.0.0.1: {e}")))?;
    Ok(listener.port())
}

/// The last 20 lines written to a log since `from`.
pub(crate) fn tail(path: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
