//! What a test may know of processes and directories: only those of its own private `TMPDIR`
//! (the embedded server's directory and command line are under it; so is its watchdog's). No
//! helper here looks at a process that does not name that directory, and the only server one
//! connects to is the embedded server under that directory, over its unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The socket directory and port of the embedded server under `tmp`, once its `postmaster.pid`
/// says it is ready to accept connections.
pub fn ready_server(tmp: &Path) -> Option<(PathBuf, u16)> {
    std::fs::read_dir(tmp)
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let pid = std::fs::read_to_string(e.path().join("data/postmaster.pid")).ok()?;
            let lines: Vec<&str> = pid.lines().map(str::trim).collect();
            // Lines 4, 5 and 8: the port, the first socket directory, the state.
            (lines.get(7) == Some(&"ready")).then_some(())?;
            Some((PathBuf::from(lines.get(4)?), lines.get(3)?.parse().ok()?))
        })
}

/// How many rows `table` holds in the `postgres` database of the embedded server under `tmp`
/// (a run's database): asked over the server's unix socket (`local all all trust`; its
/// directory only lets the server's user and root in), on a connection closed before this
/// returns, so that it never holds up the run's shutdown. `Err` says why not: no server ready
/// yet, no such table yet, the server gone.
pub fn rows_in(tmp: &Path, table: &str) -> Result<i64, String> {
    let (socket, port) = ready_server(tmp).ok_or("no embedded server ready under TMPDIR")?;
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(&socket)
        .port(port)
        .user("postgres")
        .dbname("postgres")
        .application_name("stress-test-probe")
        .connect_timeout(Duration::from_secs(5));
    let sql = format!("SELECT count(*) FROM {table}");
    super::block_on(async {
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client.query_one(&sql, &[]).await?.try_get::<_, i64>(0)
    })
    .map_err(|e| format!("cannot count the rows of {table}: {e}"))
}

/// Waits (up to `limit`) until the load of the run under `tmp` has recorded an operation, when
/// each of its `tasks` tasks inserts one row into `table` per operation: more rows than tasks
/// means that some task has begun a second operation, and a task records each operation
/// before it begins the next. Returns the rows seen.
pub fn wait_until_measured(tmp: &Path, table: &str, tasks: i64, limit: Duration) -> i64 {
    let what = format!("more rows in {table} than the load's {tasks} tasks");
    super::wait::eventually(&what, limit, || match rows_in(tmp, table)? {
        rows if rows > tasks => Ok(rows),
        rows => Err(format!("{rows} rows")),
    })
}
