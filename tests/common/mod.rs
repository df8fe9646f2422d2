//! Shared test support: one embedded server per test binary (stopped and removed at exit),
//! a database per test, one load test at a time, and helpers to run scenario text.
#![allow(dead_code)]

pub mod pgbouncer;
pub mod procs;
pub mod skip;
pub mod wait;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use stress::database::{EmbeddedServer, Target};
use stress::report::Report;
use stress::run::{Interrupt, RunError, RunOptions, run_scenario};
use stress::scenario::model::EmbeddedSettings;
use stress::scenario::{self, LoadOptions};

static SERVER: OnceLock<Mutex<Option<EmbeddedServer>>> = OnceLock::new();
static LOAD: Mutex<()> = Mutex::new(());

extern "C" fn stop_server() {
    if let Some(lock) = SERVER.get()
        && let Ok(mut server) = lock.lock()
    {
        // Dropping stops the server and removes its directory.
        server.take();
    }
}

/// The shared server's superuser URL for `dbname` (it holds the server's password).
pub fn server_url(dbname: &str) -> String {
    let lock = SERVER.get_or_init(|| {
        let server = EmbeddedServer::start(&EmbeddedSettings::default()).expect("embedded server");
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(stop_server) };
        Mutex::new(Some(server))
    });
    lock.lock()
        .unwrap()
        .as_ref()
        .expect("server running")
        .url(dbname)
}

/// The password in `url` (to check that it shows nowhere).
pub fn password_of(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    String::from_utf8(config.get_password().expect("a password").to_vec()).unwrap()
}

/// A fresh database named after the test on the shared server; returns its URL.
pub fn database(name: &str) -> String {
    let admin = server_url("postgres");
    block_on(async {
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
    });
    server_url(name)
}

/// Load tests run one at a time: the machine has two cores.
pub fn load_lock() -> MutexGuard<'static, ()> {
    LOAD.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Loads scenario text (panicking with the errors if it is invalid).
pub fn scenario(text: &str, sets: &[&str]) -> scenario::Scenario {
    let options = LoadOptions {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        variants: vec![],
    };
    scenario::load_str(Path::new("test.toml"), text, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario against `url` (None: an embedded server of its own).
pub fn run_on(s: &scenario::Scenario, url: Option<&str>) -> Result<Report, RunError> {
    let interrupt = Arc::new(Interrupt::default());
    block_on(async {
        let mut target = Target::new(url.map(String::from));
        let r = run_scenario(s, &mut target, &RunOptions::default(), &interrupt).await;
        target.shutdown();
        r
    })
}

/// Runs scenario text on a fresh database of the shared server, one load at a time. The
/// database is created under the lock too: a `read_only` fault of another load leaves new
/// sessions of the server read-only until its load ends, and CREATE DATABASE would fail.
pub fn run_text(name: &str, text: &str, sets: &[&str]) -> Report {
    let s = scenario(text, sets);
    let _one_at_a_time = load_lock();
    let url = database(name);
    run_on(&s, Some(&url)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The invariants every report keeps: total = ok + failed, classes sum to failed, the timeline
/// sums to the totals.
pub fn assert_consistent(report: &Report) {
    for v in &report.variants {
        let o = &v.operations;
        assert_eq!(o.total, o.ok + o.failed, "{}: total = ok + failed", v.name);
        let by_class: u64 = v.errors.values().map(|e| e.count).sum();
        assert_eq!(by_class, o.failed, "{}: classes sum to failed", v.name);
        let ok: u64 = v.timeline.iter().map(|e| e.ok).sum();
        let failed: u64 = v.timeline.iter().map(|e| e.failed).sum();
        assert_eq!(
            (ok, failed),
            (o.ok, o.failed),
            "{}: timeline sums equal totals",
            v.name
        );
        assert_eq!(
            v.latency_ms.operation.count, o.ok,
            "{}: operation histogram holds the ok ones",
            v.name
        );
        assert_eq!(
            v.latency_ms.failed.count, o.failed,
            "{}: failed histogram holds the failed ones",
            v.name
        );
    }
}

/// The variant named `name`.
pub fn variant<'a>(report: &'a Report, name: &str) -> &'a stress::report::model::VariantReport {
    report
        .variants
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no variant {name}"))
}

/// Four tasks on a pool of four, each operation a `pg_sleep(sleep)`, for `duration`: the load
/// that pool fault tests put their `[[fault]]` tables after.
pub fn pooled_sleep(name: &str, duration: &str, sleep: &str) -> String {
    format!(
        "name = \"{name}\"\n[load]\ntasks = 4\nduration = \"{duration}\"\n\
         [pool]\nmax_size = 4\ntest_on_check_out = false\nconnection_timeout = \"5s\"\n\
         [[workload]]\nname = \"query\"\n[[workload.step]]\nsql = \"SELECT pg_sleep({sleep})\"\n"
    )
}

/// Two tasks each opening a connection per `SELECT 1`, 20 ms apart, for 3 s: the load that
/// server and network fault tests put their `[[fault]]` tables after.
pub fn per_operation_select(name: &str) -> String {
    format!(
        "name = \"{name}\"\n[load]\ntasks = 2\nduration = \"3s\"\nthink_time = \"20ms\"\n\
         [access]\nmode = \"per_operation\"\n\
         [[workload]]\nname = \"query\"\n[[workload.step]]\nsql = \"SELECT 1\"\n"
    )
}

/// The crash scenario: the harness's `kill_backend` fault SIGKILLs one backend of this run (on
/// its own embedded server, run with `run_on(.., None)`), and the server resets every backend.
pub const CRASH: &str = r#"
name = "crash"
[load]
tasks = 3
duration = "3s"
think_time = "10ms"
[access]
mode = "per_task"
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT pg_sleep(0.05)"
[[fault]]
kind = "kill_backend"
at = "1s"
"#;
