//! Nothing of ours touches what is not ours, and nobody else gets into our server: a fault
//! never signals a process of another server, and another local account cannot connect to the
//! embedded server (neither over TCP nor through its unix socket).

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use stress::database::EmbeddedServer;
use stress::database::binaries;
use stress::record::errors::ErrorClass;
use stress::scenario::model::EmbeddedSettings;
use tokio_postgres::NoTls;

/// What the foreign server's sleeping connection saw: its pid, its server's start time, and a
/// token to cancel its sleep.
struct Sleeper {
    pid: i32,
    started: String,
    cancel: tokio_postgres::CancelToken,
}

/// The start time of the server behind `url`.
async fn postmaster_start(client: &tokio_postgres::Client) -> String {
    client
        .query_one("SELECT pg_postmaster_start_time()::text", &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits until backend `pid` of the server at `url` runs its statement.
fn wait_active(url: &str, pid: i32) {
    block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
        tokio::spawn(conn);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = client
                .query_opt(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                    &[&pid],
                )
                .await
                .unwrap();
            if row.is_some() {
                return;
            }
            assert!(Instant::now() < deadline, "the foreign sleep never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn no_fault_acts_on_a_foreign_server() {
    let foreign = EmbeddedServer::start(&EmbeddedSettings::default()).unwrap();
    let url = foreign.url("postgres");
    let (tx, rx) = std::sync::mpsc::channel();
    let sleeper_url = url.clone();
    // A backend that looks exactly like one of a stress run: same user, database, address,
    // application_name prefix, and running a statement.
    let sleeper = std::thread::spawn(move || {
        block_on(async move {
            let mut config: tokio_postgres::Config = sleeper_url.parse().unwrap();
            config.application_name("stress:foreign:1");
            let (client, conn) = config.connect(NoTls).await.unwrap();
            tokio::spawn(conn);
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            let started = postmaster_start(&client).await;
            tx.send(Sleeper {
                pid,
                started,
                cancel: client.cancel_token(),
            })
            .unwrap();
            let slept = client.simple_query("SELECT pg_sleep(60)").await;
            let after = client
                .query_one("SELECT pg_postmaster_start_time()::text", &[])
                .await
                .map(|r| r.get::<_, String>(0));
            (slept.map(|_| ()), after)
        })
    });
    let before = rx.recv().unwrap();
    wait_active(&url, before.pid);
    let title = std::fs::read(format!("/proc/{}/cmdline", before.pid)).unwrap();
    let title = String::from_utf8_lossy(&title);
    assert!(
        title.starts_with("postgres: postgres postgres 127.0.0.1") && title.contains("SELECT"),
        "the foreign backend looks like ours to a title scan: {title}"
    );

    let s = scenario(CRASH, &[]);
    let report = {
        let _one = load_lock();
        run_on(&s, None).unwrap()
    };
    let v = &report.variants[0];
    let crashed = [ErrorClass::ServerCrash, ErrorClass::ConnectionClosed]
        .iter()
        .filter_map(|c| v.errors.get(c))
        .map(|e| e.count)
        .sum::<u64>();
    assert!(crashed > 0, "our run recorded the crash: {:?}", v.errors);
    assert!(
        v.faults[0].detail.starts_with("killed backend"),
        "{}",
        v.faults[0].detail
    );
    assert!(
        !v.faults[0]
            .detail
            .contains(&format!("backend {} ", before.pid)),
        "{}",
        v.faults[0].detail
    );
    assert!(
        report.database.url.contains(":***@"),
        "{}",
        report.database.url
    );

    // The foreign backend is still alive and still sleeping; its server never restarted.
    assert!(
        std::path::Path::new(&format!("/proc/{}", before.pid)).exists(),
        "the foreign backend {} was killed",
        before.pid
    );
    block_on(before.cancel.cancel_query(NoTls)).unwrap();
    let (slept, after) = sleeper.join().unwrap();
    let e = slept.unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::QUERY_CANCELED),
        "the foreign sleep ended by our cancel, not by a crash: {e}"
    );
    assert_eq!(
        after.unwrap(),
        before.started,
        "the foreign server restarted"
    );
}

/// `psql` as uid/gid 65534 (`nobody`), without a password and never prompting.
fn psql_as_nobody(host: &str, port: u16) -> (bool, String) {
    // The server's own psql, or the one on PATH (the server's directory may hold only links
    // to the server programs).
    let bins = binaries::find().unwrap();
    let psql = Some(bins.dir.join("psql"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "psql".into());
    let out = Command::new(&psql)
        .args(["-h", host, "-p", &port.to_string(), "-U", "postgres", "-w"])
        .args(["-d", "postgres", "-X", "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env("HOME", "/nonexistent")
        .current_dir("/")
        .stdin(Stdio::null())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", psql.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn another_local_account_cannot_connect() {
    let server = EmbeddedServer::start(&EmbeddedSettings::default()).unwrap();
    // Without the password TCP refuses even the harness: there is no trust over TCP.
    let password = server.config().get_password().unwrap().to_vec();
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(server.port)
        .user("postgres")
        .password("not the password")
        .dbname("postgres");
    let refused = block_on(config.connect(NoTls)).map(|_| ()).unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD),
        "tcp with a wrong password: {refused:?}"
    );
    // The password is on no command line.
    let postmaster = server.pid().unwrap();
    let cmdline = std::fs::read(format!("/proc/{postmaster}/cmdline")).unwrap();
    assert!(
        !cmdline
            .windows(password.len())
            .any(|w| w == password.as_slice()),
        "the password is on the postmaster's command line"
    );
    let dir = server.dir().to_str().unwrap().to_string();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(server.dir()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "the socket directory is private");

    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIPPED: another_local_account_cannot_connect needs root to act as uid 65534 (nobody)"
        );
        return;
    }
    let (ok, stderr) = psql_as_nobody("127.0.0.1", server.port);
    assert!(!ok, "nobody connected over TCP");
    assert!(
        stderr.contains("password") || stderr.contains("authentication failed"),
        "tcp: {stderr}"
    );
    let (ok, stderr) = psql_as_nobody(&dir, server.port);
    assert!(!ok, "nobody connected through the unix socket");
    assert!(stderr.contains("Permission denied"), "socket: {stderr}");

    // The harness still connects, over TCP with its password.
    let answer: i32 = block_on(async {
        let (client, conn) = server.config().connect(NoTls).await.unwrap();
        tokio::spawn(conn);
        client.query_one("SELECT 1", &[]).await.unwrap().get(0)
    });
    assert_eq!(answer, 1);
}
