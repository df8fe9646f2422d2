//! Nothing of ours outlives `stress`: a watchdog process per directory we create (an embedded
//! server's, the template build's), and a sweep of the directories of dead runs at start-up.
//!
//! The watchdog is a few lines of `/bin/sh` started with the directory's path. It reads our
//! messages on its stdin: `pid N` (a process of ours working in the directory), `gone N` (it
//! exited), `done` (the directory was cleaned up in order: exit quietly). When its stdin reaches
//! end-of-file without `done`, `stress` died (SIGKILL, a crash, an exit that skipped the
//! clean-up): the kernel closed our end of the pipe. It then stops every process it was told of
//! and the postmaster named in the directory's `postmaster.pid` (each only if its command line
//! names the directory, so a reused pid is never hit), and removes the directory.
//!
//! Why a shell process, and not PR_SET_PDEATHSIG or a forked child: the death signal is sent
//! when the *thread* that forked exits, not the process, and it cannot remove the directory;
//! a `fork()` of our multi-threaded process may only call async-signal-safe functions, which
//! rules out removing a tree; and re-executing our own binary does not work from the test
//! binaries, which start embedded servers too. `/bin/sh` is everywhere PostgreSQL runs. It runs
//! in its own process group and ignores SIGINT, SIGTERM and SIGHUP, so a Ctrl-C at the terminal
//! or a signal to our group reaches us, not it.
//!
//! The sweep is the second line of defence, for a watchdog that was killed too: every directory
//! we create holds `stress.owner` (our pid and its start time); at start-up, a directory of ours
//! in `TMPDIR` whose owner is gone is cleaned up the same way. Only our own directories are
//! looked at, by their name and that file: nothing else on the machine is touched.

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

use super::InfraError;

/// The file in each of our directories that names the process that made it.
const OWNER: &str = "stress.owner";

/// Prefixes of the directories we create in `TMPDIR`.
pub(crate) const PREFIXES: &[&str] = &["stress-pg-", "stress-initdb-", "stress-pgbouncer-"];

/// Prefix of the directory a template is staged in, in the template cache, before it is
/// published by a rename.
pub(crate) const STAGING: &str = ".staging-";

const SCRIPT: &str = r#"
trap '' INT TERM HUP QUIT PIPE
dir=$1
case "$dir" in /*/stress-*|/*/.staging-*) ;; *) exit 2 ;; esac
pids=
while IFS= read -r line; do
  case "$line" in
    "pid "*) pids="$pids ${line#pid }" ;;
    "gone "*) gone=${line#gone }; keep=; for p in $pids; do [ "$p" = "$gone" ] || keep="$keep $p"; done; pids=$keep ;;
    done) exit 0 ;;
  esac
done
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$dir"; }
for pf in "$dir/data/postmaster.pid" "$dir/pgbouncer.pid"; do
  [ -r "$pf" ] && read -r pm < "$pf" && pids="$pids $pm"
done
mine=
for p in $pids; do ours "$p" && mine="$mine $p"; done
for p in $mine; do kill -QUIT "$p" 2>/dev/null; done
i=0
while [ $i -lt 30 ]; do
  alive=
  for p in $mine; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1; i=$((i+1))
done
for p in $mine; do ours "$p" && kill -KILL "$p" 2>/dev/null; done
rm -rf -- "$dir"
"#;

/// The watchdog of one directory: cleans it up if we die before [`Watchdog`] is dropped.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    /// Marks `dir` as ours and starts its watchdog.
    pub(crate) fn guard(dir: &Path) -> Result<Watchdog, InfraError> {
        mark_owner(dir)?;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("stress-watchdog")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| InfraError::new(format!("cannot start the watchdog (/bin/sh): {e}")))?;
        let stdin = child.stdin.take();
        Ok(Watchdog { child, stdin })
    }

    /// A process of ours now works in the directory.
    pub(crate) fn watch(&mut self, pid: u32) {
        self.say(&format!("pid {pid}"));
    }

    /// That process has exited (and was reaped): its pid may be reused.
    pub(crate) fn forget(&mut self, pid: u32) {
        self.say(&format!("gone {pid}"));
    }

    fn say(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
        }
    }
}

impl Drop for Watchdog {
    /// The directory is being cleaned up in order: the watchdog exits without acting.
    fn drop(&mut self) {
        self.say("done");
        self.stdin = None;
        let _ = self.child.wait();
    }
}

/// This process as `stress.owner` records it: its pid and its start time (in clock ticks since
/// boot, field 22 of `/proc/<pid>/stat`), so that a reused pid is not taken for the owner.
fn identity(pid: u32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

fn mark_owner(dir: &Path) -> Result<(), InfraError> {
    let me = identity(std::process::id()).unwrap_or_else(|| std::process::id().to_string());
    fs::write(dir.join(OWNER), format!("{me}\n"))
        .map_err(|e| InfraError::new(format!("cannot write {}: {e}", dir.join(OWNER).display())))
}

/// Whether the process recorded in `dir`'s owner file is gone (`None`: no owner file, so not a
/// directory we may judge: it may be one being created right now).
fn owner_gone(dir: &Path) -> Option<bool> {
    let text = fs::read_to_string(dir.join(OWNER)).ok()?;
    let recorded = text.trim();
    let pid: u32 = recorded.split_whitespace().next()?.parse().ok()?;
    let alive = match recorded.split_whitespace().nth(1) {
        Some(_) => identity(pid).as_deref() == Some(recorded),
        // Written where /proc could not tell the start time: the pid alone.
        None => Path::new(&format!("/proc/{pid}")).exists(),
    };
    Some(!alive)
}

/// Cleans up the directories of dead runs in `TMPDIR`, once per process.
pub(crate) fn sweep_once() {
    static SWEPT: Once = Once::new();
    SWEPT.call_once(|| {
        say_swept(sweep(&std::env::temp_dir(), PREFIXES));
    });
}

/// Says on stderr what a sweep removed.
pub(crate) fn say_swept(cleaned: Vec<String>) {
    for cleaned in cleaned {
        crate::console::errln!("stress: removed what a dead run left behind: {cleaned}");
    }
}

/// Cleans up the directories of dead runs under `tmp` whose name starts with one of
/// `prefixes`; returns what it removed.
pub(crate) fn sweep(tmp: &Path, prefixes: &[&str]) -> Vec<String> {
    let Ok(entries) = fs::read_dir(tmp) else {
        return Vec::new();
    };
    let mut cleaned = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let path = entry.path();
        if !prefixes.iter().any(|p| name.starts_with(p)) || owner_gone(&path) != Some(true) {
            continue;
        }
        stop_postmaster_in(&path);
        if fs::remove_dir_all(&path).is_ok() {
            cleaned.push(path.display().to_string());
        }
    }
    cleaned
}

/// Stops the postmaster that `dir/data/postmaster.pid` names and the PgBouncer that
/// `dir/pgbouncer.pid` names, each if its command line names `dir`.
fn stop_postmaster_in(dir: &Path) {
    stop_named_in(dir, &dir.join("data").join("postmaster.pid"));
    stop_named_in(dir, &dir.join("pgbouncer.pid"));
}

/// Stops the process whose pid is the first line of `pid_file`, if its command line names `dir`.
fn stop_named_in(dir: &Path, pid_file: &Path) {
    let Some(pid) = fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
    else {
        return;
    };
    let ours = || {
        fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
            .unwrap_or(false)
    };
    if !ours() {
        return;
    }
    let pid = Pid::from_raw(pid);
    let _ = signal::kill(pid, Signal::SIGQUIT);
    let deadline = Instant::now() + Duration::from_secs(3);
    while ours() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if ours() {
        let _ = signal::kill(pid, Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("stress-pg-test-")
            .tempdir()
            .unwrap()
    }

    fn wait_gone(path: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        !path.exists()
    }

    #[test]
    fn a_dropped_watchdog_leaves_the_directory_alone() {
        let dir = scratch();
        let dog = Watchdog::guard(dir.path()).unwrap();
        drop(dog);
        assert!(dir.path().join(OWNER).is_file());
    }

    #[test]
    fn a_watchdog_whose_owner_vanished_removes_the_directory_and_stops_its_process() {
        let dir = scratch();
        let path = dir.path().to_path_buf();
        let mut dog = Watchdog::guard(&path).unwrap();
        // A process "working in the directory": its command line names it.
        let mut worker = Command::new("tail")
            .arg("-f")
            .arg(path.join(OWNER))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        dog.watch(worker.id());
        // What the kernel does when we die: our end of its stdin closes, without `done`.
        dog.stdin = None;
        assert!(wait_gone(&path), "the directory is removed");
        let status = worker.wait().unwrap();
        assert!(!status.success(), "the worker was stopped: {status}");
        let _ = dog.child.wait();
    }

    #[test]
    fn a_watchdog_never_signals_a_process_that_does_not_name_its_directory() {
        let dir = scratch();
        let mut stranger = Command::new("sleep").arg("30").spawn().unwrap();
        let mut dog = Watchdog::guard(dir.path()).unwrap();
        dog.watch(stranger.id());
        dog.stdin = None;
        assert!(wait_gone(dir.path()));
        assert!(stranger.try_wait().unwrap().is_none(), "the stranger lives");
        stranger.kill().unwrap();
        let _ = stranger.wait();
        let _ = dog.child.wait();
    }

    #[test]
    fn the_sweep_removes_dead_runs_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = tmp.path().join("stress-pg-dead");
        let alive = tmp.path().join("stress-pg-alive");
        let unmarked = tmp.path().join("stress-pg-new");
        let other = tmp.path().join("someone-else");
        for d in [&dead, &alive, &unmarked, &other] {
            fs::create_dir(d).unwrap();
        }
        // A pid that cannot be running (above the kernel's pid_max limit).
        fs::write(dead.join(OWNER), "4194305 1\n").unwrap();
        mark_owner(&alive).unwrap();
        fs::write(other.join(OWNER), "4194305 1\n").unwrap();
        let cleaned = sweep(tmp.path(), PREFIXES);
        assert_eq!(cleaned, vec![dead.display().to_string()]);
        assert!(!dead.exists() && alive.exists() && unmarked.exists() && other.exists());
    }

    /// Regression (review of 2026-12-03): a template staged in the cache by a run killed with
    /// its watchdog stayed there for good; the sweep of TMPDIR never looked in the cache.
    #[test]
    fn a_dead_runs_staging_directory_is_swept_from_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let staged = cache.path().join(".staging-dead");
        let template = cache.path().join("template-pg15-dead");
        for d in [&staged, &template] {
            fs::create_dir(d).unwrap();
            fs::write(d.join(OWNER), "4194305 1\n").unwrap();
        }
        let cleaned = sweep(cache.path(), &[STAGING]);
        assert_eq!(cleaned, vec![staged.display().to_string()]);
        assert!(template.exists(), "a published template is never swept");
    }
}
