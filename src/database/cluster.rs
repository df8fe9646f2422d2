//! A ready-made template cluster, copied for every embedded server.
//!
//! `initdb` costs about half a second; copying an initialized data directory costs a tenth of
//! that. The template is made once per server version and binary directory, in the user's cache
//! directory (`STRESS_CACHE_DIR`, `XDG_CACHE_HOME/stress` or `~/.cache/stress`), and published
//! with an atomic rename so that concurrent runs never see half a template. `initdb` runs in a
//! process group of its own (a Ctrl-C is ours to handle), is stopped when the run is
//! interrupted, and its directories are guarded by watchdogs should `stress` die meanwhile.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::InfraError;
use super::binaries::{Binaries, RunAs};
use super::watchdog::{self, Watchdog};
use crate::signal::Interrupt;

/// Superuser of the clusters we create.
pub(crate) const SUPERUSER: &str = "postgres";

const MARKER: &str = ".stress-template";

fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRESS_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("stress");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("stress");
    }
    std::env::temp_dir().join("stress-cache")
}

/// The template data directory for these binaries, made if missing.
pub(crate) fn template(
    bins: &Binaries,
    run_as: Option<&RunAs>,
    interrupt: &Interrupt,
) -> Result<PathBuf, InfraError> {
    let digest = Sha256::digest(bins.dir.to_string_lossy().as_bytes());
    let tag: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let root = cache_root();
    let target = root.join(format!("template-pg{}-{tag}", bins.version));
    if target.join(MARKER).is_file() {
        return Ok(target);
    }
    fs::create_dir_all(&root).map_err(|e| {
        InfraError::new(format!(
            "cannot create the cache directory {}: {e}",
            root.display()
        ))
    })?;
    let work = tempfile::Builder::new()
        .prefix("stress-initdb-")
        .tempdir()
        .map_err(|e| InfraError::new(format!("cannot create a temporary directory: {e}")))?;
    let mut work_dog = Watchdog::guard(work.path())?;
    give_to(work.path(), run_as)?;
    let data = work.path().join("data");
    initdb(bins, &data, run_as, interrupt, &mut work_dog)?;
    // A run killed with its watchdog while staging left its directory here, not in TMPDIR.
    watchdog::say_swept(watchdog::sweep(&root, &[watchdog::STAGING]));
    let staging = tempfile::Builder::new()
        .prefix(watchdog::STAGING)
        .tempdir_in(&root)
        .map_err(|e| {
            InfraError::new(format!(
                "cannot stage the template in {}: {e}",
                root.display()
            ))
        })?;
    let _staging_dog = Watchdog::guard(staging.path())?;
    copy_tree(&data, staging.path(), None)
        .map_err(|e| InfraError::new(format!("cannot copy the template: {e}")))?;
    // The watchdog's mark is not part of the template.
    let _ = fs::remove_file(staging.path().join("stress.owner"));
    fs::write(staging.path().join(MARKER), &bins.version)
        .map_err(|e| InfraError::new(format!("cannot write the template marker: {e}")))?;
    let staged = staging.keep();
    if fs::rename(&staged, &target).is_err() {
        // Another run published it first (the rename fails on a non-empty target).
        let _ = fs::remove_dir_all(&staged);
        if !target.join(MARKER).is_file() {
            return Err(InfraError::new(format!(
                "cannot publish the template cluster at {}",
                target.display()
            )));
        }
    }
    Ok(target)
}

fn initdb(
    bins: &Binaries,
    data: &Path,
    run_as: Option<&RunAs>,
    interrupt: &Interrupt,
    dog: &mut Watchdog,
) -> Result<(), InfraError> {
    let mut cmd = Command::new(bins.initdb());
    cmd.arg("-D")
        .arg(data)
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .current_dir(data.parent().unwrap_or(Path::new("/")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the terminal is ours to handle, not initdb's.
        .process_group(0);
    as_user(&mut cmd, run_as);
    let mut child = cmd
        .spawn()
        .map_err(|e| InfraError::new(format!("cannot run {}: {e}", bins.initdb().display())))?;
    let pid = child.id();
    dog.watch(pid);
    // Poll, so that an interrupt stops it (its output is small: the pipes cannot fill).
    while child.try_wait().ok().flatten().is_none() {
        if interrupt.is_raised() {
            // SIGTERM: initdb removes what it made and exits.
            let target = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
            dog.forget(pid);
            return Err(InfraError::new(
                "interrupted while initdb built the template",
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child
        .wait_with_output()
        .map_err(|e| InfraError::new(format!("cannot run {}: {e}", bins.initdb().display())))?;
    dog.forget(pid);
    if !out.status.success() {
        return Err(InfraError::new(format!(
            "initdb failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Runs `cmd` as the unprivileged user, when there is one (we are root).
pub(crate) fn as_user(cmd: &mut Command, run_as: Option<&RunAs>) {
    if let Some(u) = run_as {
        cmd.uid(u.uid.as_raw()).gid(u.gid.as_raw());
    }
}

/// Gives a directory we created to the unprivileged user (no-op when not root).
pub(crate) fn give_to(path: &Path, run_as: Option<&RunAs>) -> Result<(), InfraError> {
    if let Some(u) = run_as {
        std::os::unix::fs::chown(path, Some(u.uid.as_raw()), Some(u.gid.as_raw())).map_err(
            |e| {
                InfraError::new(format!(
                    "cannot give {} to user {}: {e}",
                    path.display(),
                    u.name
                ))
            },
        )?;
    }
    Ok(())
}

/// Copies a data directory, keeping permissions; with `owner`, chowns every entry to it.
pub(crate) fn copy_tree(from: &Path, to: &Path, owner: Option<&RunAs>) -> io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o700))?;
    chown(to, owner)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst, owner)?;
            fs::set_permissions(&dst, entry.metadata()?.permissions())?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else {
            fs::copy(&src, &dst)?;
            chown(&dst, owner)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Option<&RunAs>) -> io::Result<()> {
    match owner {
        Some(u) => std::os::unix::fs::chown(path, Some(u.uid.as_raw()), Some(u.gid.as_raw())),
        None => Ok(()),
    }
}
