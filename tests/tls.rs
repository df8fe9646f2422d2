//! Issue 12, items 1–3: TLS against the embedded server with `ssl = true` (hostssl-only
//! rules), libpq's `sslmode` semantics, client certificates, and libpq's conventions
//! (`.pgpass`, `PGSERVICE`, `PGSSLMODE`) through the binary; and the network proxy's
//! `idle_only` on TLS connections, whose messages it cannot read.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use assert_cmd::Command;
use stress::database::EmbeddedServer;
use stress::run::RunError;
use stress::scenario::model::EmbeddedSettings;

/// This binary's server with TLS (beside `common`'s plain one, which it does not use).
static TLS_SERVER: OnceLock<Mutex<Option<EmbeddedServer>>> = OnceLock::new();

extern "C" fn stop_tls_server() {
    if let Some(lock) = TLS_SERVER.get()
        && let Ok(mut server) = lock.lock()
    {
        server.take();
    }
}

/// Runs `f` on the TLS server, started on first use.
fn with_server<T>(f: impl FnOnce(&EmbeddedServer) -> T) -> T {
    let lock = TLS_SERVER.get_or_init(|| {
        let settings = EmbeddedSettings {
            ssl: true,
            ..EmbeddedSettings::default()
        };
        let server = EmbeddedServer::start(&settings).expect("embedded server with TLS");
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(stop_tls_server) };
        Mutex::new(Some(server))
    });
    f(lock.lock().unwrap().as_ref().expect("server running"))
}

fn ca_file() -> PathBuf {
    with_server(|s| s.server_tls().unwrap().ca_file.clone())
}

fn port() -> u16 {
    with_server(|s| s.port)
}

fn password() -> String {
    with_server(|s| String::from_utf8(s.config().get_password().unwrap().to_vec()).unwrap())
}

fn encode(path: &Path) -> String {
    path.display().to_string().replace('/', "%2F")
}

/// The superuser's URL with these query options (no sslmode: each test says its own).
fn url(host: &str, options: &str) -> String {
    format!(
        "postgres://postgres:{}@{host}:{}/postgres?{options}",
        password(),
        port()
    )
}

const LOAD: &str = r#"
name = "tls"
[load]
tasks = 2
duration = "1s"
think_time = "5ms"
[pool]
max_size = 2
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1"
"#;

fn run(mode: &str, url: &str) -> Result<stress::report::Report, RunError> {
    // Shared: statements wait for each other (asyncpg's exclusive semantics would fail them).
    let mode_set = format!("access.mode=\"{mode}\"");
    let s = common::scenario(LOAD, &[&mode_set, "access.semantics=\"serialized\""]);
    let _one_at_a_time = common::load_lock();
    common::run_on(&s, Some(url))
}

fn assert_clean(mode: &str, url: &str) {
    let report = run(mode, url).unwrap_or_else(|e| panic!("{mode}: {e}"));
    common::assert_consistent(&report);
    let v = &report.variants[0];
    assert!(v.operations.ok > 0, "{mode}: nothing ran");
    assert_eq!(v.operations.failed, 0, "{mode}: {:?}", v.errors);
}

fn infra_error(mode: &str, url: &str) -> String {
    match run(mode, url) {
        Err(RunError::Infra(m)) => m,
        Err(e) => panic!("{mode}: not an infrastructure error: {e}"),
        Ok(_) => panic!("{mode}: connected"),
    }
}

const MODES: [&str; 4] = ["pool", "per_task", "per_operation", "shared"];

#[test]
fn every_access_mode_connects_with_verify_full_and_require() {
    let verify_full = url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", encode(&ca_file())),
    );
    let require = url("127.0.0.1", "sslmode=require");
    for mode in MODES {
        assert_clean(mode, &verify_full);
        assert_clean(mode, &require);
    }
}

#[test]
fn localhost_verifies_and_the_backend_reports_tls() {
    let verify_full = url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", encode(&ca_file())),
    );
    let config = stress::database::url::parse(&verify_full).unwrap();
    let (ssl, version): (bool, String) = common::block_on(async {
        let (client, conn, _) = stress::access::open::open(&config.config, &config.tls, None)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    });
    assert!(ssl);
    assert!(version.starts_with("TLSv1."), "{version}");
}

#[test]
fn verify_full_with_the_wrong_ca_or_host_name_is_tls_failed() {
    let dir = tempfile::tempdir().unwrap();
    let other = other_ca(dir.path());
    let wrong_ca = url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", encode(&other)),
    );
    let e = infra_error("pool", &wrong_ca);
    assert!(e.contains("tls_failed"), "{e}");
    assert!(
        e.contains("UnknownIssuer") || e.contains("unknown issuer"),
        "{e}"
    );
    // The right CA, a name the certificate does not carry (dialled at 127.0.0.1).
    let root = encode(&ca_file());
    let wrong_name = url(
        "db.invalid",
        &format!("hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={root}"),
    );
    let e = infra_error("per_operation", &wrong_name);
    assert!(e.contains("tls_failed"), "{e}");
    assert!(e.contains("not valid for name \"db.invalid\""), "{e}");
    // verify-ca checks the chain only: the same name is fine.
    let verify_ca = wrong_name.replace("verify-full", "verify-ca");
    assert_clean("per_operation", &verify_ca);
}

#[test]
fn the_server_refuses_disable_with_its_message_and_allow_falls_back_to_tls() {
    let e = infra_error("pool", &url("127.0.0.1", "sslmode=disable"));
    assert!(e.contains("auth_failed"), "{e}");
    assert!(
        e.contains("no pg_hba.conf entry") && e.contains("no encryption"),
        "{e}"
    );
    assert!(!e.contains(&password()), "{e}");
    // allow: plain first, refused, then TLS; prefer: TLS first.
    assert_clean("per_operation", &url("127.0.0.1", "sslmode=allow"));
    assert_clean("per_operation", &url("127.0.0.1", "sslmode=prefer"));
}

#[test]
fn a_client_certificate_authenticates_the_cert_role() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = with_server(|s| {
        s.server_tls()
            .unwrap()
            .client_certificate("stress_cert", dir.path())
            .unwrap()
    });
    let base = format!(
        "postgres://stress_cert@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        port(),
        encode(&ca_file())
    );
    let with_cert = format!("{base}&sslcert={}&sslkey={}", encode(&cert), encode(&key));
    assert_clean("per_task", &with_cert);
    // Without it, the `cert` rule refuses the connection.
    let e = infra_error("per_task", &base);
    assert!(e.contains("auth_failed"), "{e}");
}

#[test]
fn an_application_name_goes_before_ours_and_the_run_still_finds_its_backends() {
    let url = url("127.0.0.1", "sslmode=require&application_name=shop");
    let resolved = stress::database::url::parse(&url).unwrap();
    let connector = stress::access::conn::Connector::new(
        resolved.config,
        resolved.tls,
        "run1",
        &Default::default(),
        std::sync::Arc::from(vec![]),
        Default::default(),
    );
    assert_eq!(connector.application_prefix(), "shop:stress:run1:");
    // The sampler finds this run's backends under the longer name.
    let s = common::scenario(
        LOAD,
        &["access.mode=\"per_task\"", "load.duration=\"2500ms\""],
    );
    let report = {
        let _one_at_a_time = common::load_lock();
        common::run_on(&s, Some(&url)).unwrap()
    };
    assert!(
        report.variants[0].server.peak_backends >= 1,
        "{:?}",
        report.variants[0].server
    );
}

/// Two tasks hold their connections in a long statement while four more sit idle in the pool;
/// at 1.2 s each statement in flight has sent nothing for about 400 ms.
const IDLE_POOL: &str = r#"
name = "idle-tls"
[load]
tasks = 2
duration = "3s"
op_timeout = "2s"
[pool]
max_size = 6
min_idle = 6
queue_strategy = "fifo"
test_on_check_out = false
connection_timeout = "1s"
[[workload]]
name = "sleep"
[[workload.step]]
sql = "SELECT pg_sleep(0.8)"
[[fault]]
kind = "network"
toxic = "timeout"
timeout = "0s"
at = "1200ms"
idle_only = true
"#;

#[test]
fn idle_only_under_tls_spares_the_connections_in_a_statement() {
    // The proxy cannot read TLS: the statements in flight are told by who spoke last.
    let url = url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", encode(&ca_file())),
    );
    let s = common::scenario(IDLE_POOL, &[]);
    let report = {
        let _one_at_a_time = common::load_lock();
        common::run_on(&s, Some(&url)).unwrap()
    };
    common::assert_consistent(&report);
    let v = &report.variants[0];
    let detail = &v.faults[0].detail;
    assert!(
        detail.starts_with("timeout on 4 of 6 open connection(s)"),
        "{detail}"
    );
    assert!(detail.contains("2 in use spared"), "{detail}");
    assert!(
        v.faults[0].failed_next_1s.is_empty(),
        "{:?}",
        v.faults[0].failed_next_1s
    );
    // The two statements in flight at 1.2 s end well at about 1.6 s.
    let ok_after_1s: u64 = v
        .timeline
        .iter()
        .filter(|e| e.t_ms >= 1000)
        .map(|e| e.ok)
        .sum();
    assert!(ok_after_1s >= 2, "{:?}", v.timeline);
}

/// A CA of our own that signed nothing the server has.
fn other_ca(dir: &Path) -> PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&key).unwrap();
    let path = dir.join("other-ca.crt");
    std::fs::write(&path, ca.pem()).unwrap();
    path
}

const FILE: &str = r#"
name = "libpq"
[load]
tasks = 1
duration = "300ms"
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT 1"
"#;

/// `stress run` with only these libpq variables (HOME empty of any `.pgpass`).
fn stress_with(env: &[(&str, String)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, FILE).unwrap();
    let mut cmd = Command::cargo_bin("stress").unwrap();
    cmd.arg("run").arg(&file).current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("PG") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let _one_at_a_time = common::load_lock();
    cmd.output().unwrap()
}

fn pgpass(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("pgpass");
    let line = format!("127.0.0.1:{}:*:postgres:{}\n", port(), password());
    std::fs::write(&file, line).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    file
}

#[test]
fn pgpass_and_pgsslmode_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = |mode: &str| {
        vec![
            ("PGHOST", "127.0.0.1".to_string()),
            ("PGPORT", port().to_string()),
            ("PGUSER", "postgres".to_string()),
            ("PGDATABASE", "postgres".to_string()),
            ("PGPASSFILE", pgpass(dir.path()).display().to_string()),
            ("PGSSLMODE", mode.to_string()),
            ("PGSSLROOTCERT", ca_file().display().to_string()),
        ]
    };
    let out = stress_with(&env("verify-full"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let other = other_ca(dir.path());
    let mut wrong_ca = env("verify-full");
    wrong_ca[6].1 = other.display().to_string();
    let out = stress_with(&wrong_ca);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("tls_failed"), "{stderr}");
    let out = stress_with(&env("disable"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("no encryption"), "{stderr}");
    assert!(!stderr.contains(&password()), "{stderr}");
}

#[test]
fn a_service_from_pgservicefile() {
    let dir = tempfile::tempdir().unwrap();
    let services = dir.path().join("services.conf");
    let text = format!(
        "[other]\nhost=192.0.2.1\n[staging]\nhost=127.0.0.1\nport={}\nuser=postgres\n\
         dbname=postgres\nsslmode=verify-full\nsslrootcert={}\n",
        port(),
        ca_file().display()
    );
    std::fs::write(&services, text).unwrap();
    let env = vec![
        ("PGSERVICE", "staging".to_string()),
        ("PGSERVICEFILE", services.display().to_string()),
        ("PGPASSFILE", pgpass(dir.path()).display().to_string()),
    ];
    let out = stress_with(&env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut missing = env.clone();
    missing[0].1 = "nope".into();
    let out = stress_with(&missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("service `nope`"), "{stderr}");
}

#[test]
fn bad_libpq_settings_exit_2_before_anything_runs() {
    for (env, expected) in [
        (vec![("PGPORT", "abc".to_string())], "PGPORT `abc`"),
        (
            vec![
                ("PGHOST", "127.0.0.1".to_string()),
                ("PGSSLMODE", "verify".to_string()),
            ],
            "sslmode `verify`",
        ),
        (
            vec![
                ("PGHOST", "127.0.0.1".to_string()),
                ("PGSSLMODE", "verify-ca".to_string()),
                ("PGSSLROOTCERT", "/nonexistent/ca.crt".to_string()),
            ],
            "sslrootcert /nonexistent/ca.crt",
        ),
        (
            vec![("DATABASE_URL", "postgres://u:s3cret@h:x/db".to_string())],
            "the port must be a number",
        ),
    ] {
        let out = stress_with(&env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}
