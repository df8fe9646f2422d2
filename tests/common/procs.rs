//! What a test may know of processes and directories: only those of its own private `TMPDIR`
//! (the embedded server's directory and command line are under it; so is its watchdog's). No
//! helper here looks at a process that does not name that directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::Pid;

/// A private TMPDIR that the unprivileged server user can enter.
pub fn private_tmpdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Names of the entries of `dir`.
pub fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

/// Pids and command lines of the processes whose command line names `dir`.
fn under(dir: &Path) -> Vec<(Pid, String)> {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(&needle).then(|| (Pid::from_raw(pid), cmd))
        })
        .collect()
}

/// Command lines of the processes that name `dir` (the server runs with `-D <dir>/...`).
pub fn processes_under(dir: &Path) -> Vec<String> {
    under(dir).into_iter().map(|(_, cmd)| cmd).collect()
}

/// Pids of the processes that name `dir` and whose command line contains `word`.
pub fn pids_under(dir: &Path, word: &str) -> Vec<Pid> {
    under(dir)
        .into_iter()
        .filter(|(_, cmd)| cmd.contains(word))
        .map(|(pid, _)| pid)
        .collect()
}

/// The `stress` binary with `args`, its `TMPDIR` set to `tmp`, its output captured.
pub fn stress_in(tmp: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stress"));
    cmd.args(args)
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// `stress run file --out out` in `tmp`, to its end.
pub fn run_file_in(tmp: &Path, file: &Path, out: &Path) -> std::process::Output {
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    stress_in(tmp, &args).output().unwrap()
}

/// Nothing left in `tmp`: no file, no process naming it.
pub fn assert_nothing_left(tmp: &Path) {
    let left = entries(tmp);
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    let procs = processes_under(tmp);
    assert!(procs.is_empty(), "processes left: {procs:?}");
}
