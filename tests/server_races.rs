//! Issue 15 items 4–6 on a real server: a schema change under cached prepared statements
//! (`cached_plan_invalid`) and a held lock (`kind = "sql"`), a server that refuses writes for a
//! while (`kind = "read_only"`, reverted even when the run is interrupted), and cancel requests
//! that land on the wrong statement (`anomalies.cancel_requests_misdirected`), each without
//! its fix (a non-zero count) and with it (zero).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use stress::record::errors::ErrorClass;
use stress::report::Report;
use stress::report::model::VariantReport;
use stress::run::{Interrupt, RunOptions, run_scenario};

fn count(v: &VariantReport, class: ErrorClass) -> u64 {
    v.errors.get(&class).map_or(0, |e| e.count)
}

fn has_finding(v: &VariantReport, class: &str) -> bool {
    v.diagnosis.iter().any(|f| f.class == class)
}

/// `default_transaction_read_only` as a fresh session of `url` sees it, or how many settings of
/// it were left behind.
fn read_only_setting(url: &str) -> String {
    match read_only_state(url) {
        (_, left) if left > 0 => format!("{left} setting(s) left behind"),
        (value, _) => value,
    }
}

/// A new session's `default_transaction_read_only`, and how many settings of it are made:
/// ALTER SYSTEM's line in postgresql.auto.conf, ALTER DATABASE's rows (the database's `off`
/// would hide a server-wide `on` from this session).
fn read_only_state(url: &str) -> (String, i64) {
    block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = c
            .query_one(
                "SELECT current_setting('default_transaction_read_only'), \
                 (SELECT count(*) FROM pg_file_settings WHERE name = 'default_transaction_read_only') \
                 + (SELECT count(*) FROM pg_db_role_setting \
                    WHERE array_to_string(setconfig, ',') LIKE '%default_transaction_read_only%')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    })
}

const ITEMS: &str = r#"
name = "schema"
[database]
setup = [
  "DROP TABLE IF EXISTS items",
  "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)",
  "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) AS g",
]
[load]
tasks = 2
duration = "2500ms"
think_time = "5ms"
[pool]
max_size = 2
test_on_check_out = false
[[workload]]
name = "read"
[[workload.step]]
sql = "SELECT * FROM items WHERE id = $1"
params = ["random_int(1, 100)"]
[[fault]]
kind = "sql"
at = "500ms"
sql = ["ALTER TABLE items ADD COLUMN price numeric"]
[[variant]]
name = "prepared"
access.query_mode = "prepared"
[[variant]]
name = "extended"
access.query_mode = "extended"
"#;

/// Every connection prepared `SELECT *` before the ALTER (the load runs from 0 ms, the ALTER
/// comes at 500 ms): each of its later executions is refused, and extended mode never is.
#[test]
fn a_schema_change_invalidates_cached_plans_only_in_prepared_mode() {
    let report = run_text("races_schema", ITEMS, &[]);
    assert_consistent(&report);
    let prepared = variant(&report, "prepared");
    let extended = variant(&report, "extended");
    let fault = &prepared.faults[0];
    assert_eq!(fault.kind, "sql");
    assert!(fault.detail.contains("ALTER TABLE"), "{}", fault.detail);
    assert!(
        count(prepared, ErrorClass::CachedPlanInvalid) > 0,
        "{:?}",
        prepared.errors
    );
    let stats = &prepared.errors[&ErrorClass::CachedPlanInvalid];
    assert_eq!(stats.sqlstates.get("0A000"), Some(&stats.count));
    assert!(stats.first_at_ms >= 500, "not before the ALTER: {stats:?}");
    assert_eq!(count(extended, ErrorClass::CachedPlanInvalid), 0);
    assert_eq!(extended.operations.failed, 0, "{:?}", extended.errors);
    let f = prepared
        .diagnosis
        .iter()
        .find(|f| f.class == "cached_plan_invalid")
        .expect("a finding");
    assert!(
        f.advice.contains("query_mode = \"extended\""),
        "{}",
        f.advice
    );
    assert!(
        f.finding.contains("Variant `extended`") && f.finding.contains("at p50"),
        "the cost, from the variant that avoided it: {}",
        f.finding
    );
}

/// A `LOCK TABLE` held 1.5 s in the fault's transaction: every read waits behind it.
#[test]
fn a_held_lock_stalls_the_load_for_its_length() {
    let text = format!(
        "{}\n[[variant]]\nname = \"locked\"\naccess.query_mode = \"extended\"\n\
         fault = [{{ kind = \"sql\", at = \"500ms\", for = \"1500ms\", \
         sql = [\"LOCK TABLE items IN ACCESS EXCLUSIVE MODE\"] }}]\n",
        ITEMS.split("[[variant]]").next().unwrap()
    );
    let report = run_text("races_lock", &text, &[]);
    let v = variant(&report, "locked");
    assert_eq!(v.operations.failed, 0, "{:?}", v.errors);
    assert!(
        v.faults[0].detail.contains("held"),
        "{}",
        v.faults[0].detail
    );
    // The hold is 1.5 s; anything over 1 s shows the reads waited for it.
    assert!(
        v.latency_ms.operation.max > 1000.0,
        "longest read {} ms",
        v.latency_ms.operation.max
    );
}

const EVENTS: &str = r#"
name = "read_only"
[database]
setup = [
  "DROP TABLE IF EXISTS events",
  "CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL)",
]
[load]
tasks = 2
duration = "3s"
think_time = "10ms"
[pool]
max_size = 2
test_on_check_out = false
[[workload]]
name = "write"
[[workload.step]]
sql = "INSERT INTO events (kind) VALUES ('click')"
[[fault]]
kind = "read_only"
at = "500ms"
for = "1s"
"#;

/// Writes are refused for the fault's second; after it only new sessions reach a writable
/// server, as after a failover. Without a short max_lifetime the pool's two connections, opened
/// before, keep failing to the end of the load; with max_lifetime = 300ms bb8 replaces them as
/// they come back, so the failures stop soon after the fault. The server is writable again for
/// every session when the run is over.
#[test]
fn pooled_connections_keep_failing_after_a_failover_until_max_lifetime_replaces_them() {
    let text = format!(
        "{EVENTS}[[variant]]\nname = \"kept\"\n\
         [[variant]]\nname = \"max_lifetime\"\npool.max_lifetime = \"300ms\"\n"
    );
    let _one = load_lock();
    let url = database("races_read_only");
    let report = run_on(&scenario(&text, &[]), Some(&url)).unwrap();
    assert_consistent(&report);
    assert_eq!(read_only_setting(&url), "off");
    for v in &report.variants {
        let stats = &v.errors[&ErrorClass::ReadOnlyTransaction];
        assert_eq!(stats.sqlstates.get("25006"), Some(&stats.count));
        assert!(stats.first_at_ms >= 500, "{}: {stats:?}", v.name);
        let detail = &v.faults[0].detail;
        assert!(!detail.contains("COULD NOT REVERT"), "{detail}");
        assert!(
            detail.contains("new sessions writable again")
                && detail.contains("at the end of the load, all sessions writable again"),
            "{detail}"
        );
        assert!(has_finding(v, "read_only_transaction"));
    }
    // The fault ends at 1500 ms (and a little more: the statements take some time).
    let kept = variant(&report, "kept");
    let last = kept.errors[&ErrorClass::ReadOnlyTransaction].last_at_ms;
    assert!(last >= 2500, "the old sessions kept failing: {last} ms");
    assert!(
        !kept.timeline.iter().any(|e| e.t_ms >= 2000 && e.ok > 0),
        "no write succeeds on the old sessions: {:?}",
        kept.timeline
    );
    let finding = read_only_finding(kept);
    assert!(finding.contains("kept failing"), "{finding}");
    let replaced = variant(&report, "max_lifetime");
    let last = replaced.errors[&ErrorClass::ReadOnlyTransaction].last_at_ms;
    // 300 ms of lifetime and a wide margin for a loaded machine, still well before the end.
    assert!(last < 1500 + 300 + 700, "failures stopped: {last} ms");
    assert!(replaced.pool.closed_max_lifetime.unwrap() > 0);
    assert!(
        replaced.timeline.iter().any(|e| e.t_ms >= 2500 && e.ok > 0),
        "writes succeed again: {:?}",
        replaced.timeline
    );
}

/// The read_only_transaction finding and its advice.
fn read_only_finding(v: &VariantReport) -> String {
    let f = v
        .diagnosis
        .iter()
        .find(|f| f.class == "read_only_transaction")
        .unwrap();
    format!("{} → {}", f.finding, f.advice)
}

/// With `terminate = true`, each pooled connection sits idle (2 s think time around a
/// millisecond's write) when the fault terminates it: without a pre-ping its next user meets
/// it dead; with one, nobody does.
#[test]
fn terminated_sessions_fail_their_next_user_unless_pre_pinged() {
    let text = format!(
        "{}terminate = true\n[[variant]]\nname = \"no pre-ping\"\n\
         [[variant]]\nname = \"pre-ping\"\npool.test_on_check_out = true\n",
        EVENTS
            .replace("think_time = \"10ms\"", "think_time = \"2s\"")
            .replace("duration = \"3s\"", "duration = \"4500ms\"")
            .replace("at = \"500ms\"", "at = \"1s\"")
    );
    let report = run_text("races_terminate", &text, &[]);
    assert_consistent(&report);
    let bare = variant(&report, "no pre-ping");
    let pinged = variant(&report, "pre-ping");
    let died = |v: &VariantReport| {
        count(v, ErrorClass::AdminTerminated) + count(v, ErrorClass::ConnectionClosed)
    };
    assert!(died(bare) > 0, "{:?}", bare.errors);
    assert!(bare.pool.died_idle > 0, "{:?}", bare.pool);
    assert_eq!(died(pinged), 0, "{:?}", pinged.errors);
    assert!(
        bare.faults[0].detail.contains("terminated"),
        "{}",
        bare.faults[0].detail
    );
}

/// An interrupt during the fault's hold ends the load; the setting is reset all the same.
#[test]
fn an_interrupted_read_only_fault_is_reverted() {
    let text = EVENTS
        .replace("duration = \"3s\"", "duration = \"60s\"")
        .replace("for = \"1s\"", "for = \"50s\"");
    let _one = load_lock();
    let url = database("races_read_only_cut");
    let interrupt = Arc::new(Interrupt::default());
    let watcher = {
        let (url, interrupt) = (url.clone(), interrupt.clone());
        std::thread::spawn(move || {
            for _ in 0..3000 {
                if read_only_state(&url).0 == "on" {
                    interrupt.raise();
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        })
    };
    let s = scenario(&text, &[]);
    let report: Report = block_on(async {
        let mut target = stress::database::Target::new(Some(url.clone()));
        let r = run_scenario(&s, &mut target, &RunOptions::default(), &interrupt).await;
        target.shutdown();
        r
    })
    .unwrap();
    assert!(watcher.join().unwrap(), "the server never became read-only");
    assert!(report.interrupted);
    let detail = &report.variants[0].faults[0].detail;
    assert!(detail.contains("cut short"), "{detail}");
    assert!(!detail.contains("COULD NOT REVERT"), "{detail}");
    assert_eq!(read_only_setting(&url), "off");
}

const CANCELS: &str = r#"
name = "cancels"
[load]
tasks = 4
duration = "3s"
[pool]
max_size = 4
[[workload]]
name = "three steps"
[[workload.step]]
sql = "SELECT pg_sleep(0.002)"
[[workload.step]]
sql = "SELECT count(*) FROM generate_series(1, 2000)"
[[workload.step]]
sql = "SELECT pg_sleep(0.002)"
[[variant]]
name = "unguarded"
fault = [{ kind = "cancel_queries", at = "100ms", every = "20ms", fraction = 0.5 }]
[[variant]]
name = "guarded"
fault = [{ kind = "cancel_queries", at = "100ms", every = "20ms", fraction = 0.5, guard = true }]
"#;

/// Statements of a few milliseconds back to back, cancels every 20 ms for 3 s (about 145
/// requests): sent as an application sends them, some arrive after their statement ended and
/// cancel the next one; guarded, none can.
#[test]
fn late_cancels_hit_the_next_statement_unless_guarded() {
    let report = run_text("races_cancel", CANCELS, &[]);
    assert_consistent(&report);
    let bare = variant(&report, "unguarded");
    let guarded = variant(&report, "guarded");
    let misdirected = |v: &VariantReport| v.anomalies.cancel_requests_misdirected;
    assert!(misdirected(bare).unwrap() > 0, "{:?}", bare.errors);
    assert!(misdirected(bare).unwrap() <= count(bare, ErrorClass::QueryCanceled));
    assert!(has_finding(bare, "anomalies.cancel_requests_misdirected"));
    assert_eq!(misdirected(guarded), Some(0));
    assert!(
        count(guarded, ErrorClass::QueryCanceled) > 0,
        "guarded cancels still cancel their own statement: {:?}",
        guarded.errors
    );
}

#[test]
fn misdirected_cancels_are_not_measured_without_a_cancel_fault() {
    let text = "name = \"n\"\n[load]\ntasks = 1\nduration = \"300ms\"\n\
                [[workload]]\nname = \"w\"\n[[workload.step]]\nsql = \"SELECT 1\"\n";
    let report = run_text("races_unmeasured", text, &[]);
    assert_eq!(
        report.variants[0].anomalies.cancel_requests_misdirected,
        None
    );
}

#[test]
fn race_fault_keys_are_checked() {
    let load = |text: &str| {
        let full = format!(
            "name = \"v\"\n[[workload]]\nname = \"w\"\n[[workload.step]]\nsql = \"SELECT 1\"\n{text}"
        );
        stress::scenario::load_str(std::path::Path::new("v.toml"), &full, &Default::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let no_sql = load("[[fault]]\nkind = \"sql\"\nat = \"1s\"\n");
    assert!(no_sql.contains("needs `sql"), "{no_sql}");
    let empty = load("[[fault]]\nkind = \"sql\"\nat = \"1s\"\nsql = [\" \"]\n");
    assert!(empty.contains("must not be empty"), "{empty}");
    let no_for = load("[[fault]]\nkind = \"read_only\"\nat = \"1s\"\n");
    assert!(no_for.contains("needs `for`"), "{no_for}");
    let foreign =
        load("[[fault]]\nkind = \"terminate_backends\"\nat = \"1s\"\nfor = \"1s\"\nguard = true\n");
    assert!(
        foreign.contains("`for` does not apply") && foreign.contains("`guard` does not apply"),
        "{foreign}"
    );
    assert_eq!(
        load("[[fault]]\nkind = \"read_only\"\nat = \"1s\"\nfor = \"1s\"\nterminate = true\n"),
        ""
    );
}

/// A shipped scenario, shortened by `sets`, on a fresh database.
fn shipped(file: &str, sets: &[&str]) -> Report {
    let text = std::fs::read_to_string(format!("scenarios/{file}.toml")).unwrap();
    let report = run_text(&format!("races_{}", file.replace('-', "_")), &text, sets);
    assert_consistent(&report);
    report
}

#[test]
fn shipped_schema_change_fails_prepared_and_not_extended() {
    let r = shipped("schema-change", &["load.duration=2500ms"]);
    let prepared = variant(&r, "prepared");
    assert!(count(prepared, ErrorClass::CachedPlanInvalid) > 0);
    assert_eq!(variant(&r, "extended").operations.failed, 0);
    assert_eq!(prepared.faults.len(), 2, "the ALTER and the held lock");
}

#[test]
fn shipped_failover_refuses_writes_in_every_variant() {
    let r = shipped("failover-read-only", &[]);
    for v in &r.variants {
        assert!(
            count(v, ErrorClass::ReadOnlyTransaction) > 0,
            "{}: {:?}",
            v.name,
            v.errors
        );
    }
    let kept = variant(&r, "sessions kept");
    assert_eq!(count(kept, ErrorClass::AdminTerminated), 0);
    // The fault ends at 2.5 s of 4: the old sessions keep failing to the end, unless
    // max_lifetime replaced them.
    let last = |v: &VariantReport| v.errors[&ErrorClass::ReadOnlyTransaction].last_at_ms;
    assert!(last(kept) >= 3500, "{} ms", last(kept));
    assert!(read_only_finding(kept).contains("Set max_lifetime"));
    let replaced = variant(&r, "sessions kept, max_lifetime 300ms");
    assert!(last(replaced) < 3500, "{} ms", last(replaced));
    assert!(
        read_only_finding(replaced).contains("no connection kept failing")
            || read_only_finding(replaced).contains("bounded them"),
        "{}",
        read_only_finding(replaced)
    );
}

#[test]
fn shipped_cancel_race_misdirects_only_unguarded() {
    let r = shipped("cancel-race", &[]);
    let bare = variant(&r, "unguarded");
    assert!(bare.anomalies.cancel_requests_misdirected.unwrap() > 0);
    assert!(!bare.verdict.pass, "its [expect] catches the race");
    let guarded = variant(&r, "guarded");
    assert_eq!(guarded.anomalies.cancel_requests_misdirected, Some(0));
    assert!(guarded.verdict.pass);
}

/// The new classes and the anomaly are metrics of `[expect]` and `--tolerance`.
#[test]
fn the_new_names_are_metrics() {
    use stress::metric::Metric;
    for name in [
        "errors.cached_plan_invalid",
        "errors.read_only_transaction",
        "anomalies.cancel_requests_misdirected",
    ] {
        assert!(name.parse::<Metric>().is_ok(), "{name}");
    }
    let text = "name = \"m\"\n[[workload]]\nname = \"w\"\n[[workload.step]]\nsql = \"SELECT 1\"\n\
                [expect]\n\"anomalies.cancel_requests_misdirected\" = 0\n\
                \"errors.cached_plan_invalid\" = 0\n\"errors.read_only_transaction\" = 0\n";
    scenario(text, &[]);
}

/// The backend of `application_name`, once it runs `pg_sleep` (polled: the statement was sent
/// concurrently).
async fn sleeping_backend(admin: &tokio_postgres::Client, name: &str) -> i32 {
    for _ in 0..2000 {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
                 AND state = 'active' AND query LIKE '%pg_sleep%'",
                &[&name],
            )
            .await
            .unwrap();
        if let Some(row) = rows.first() {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} never ran its sleep");
}

/// The race forced step by step on one connection of the harness: a request aimed at
/// statement 1 after it ended, delivered while statement 2 (a 30 s sleep) runs, cancels
/// statement 2 and counts as misdirected; a guarded request aimed at a running statement
/// cancels that one; a guarded request finds nothing in flight and is not sent.
#[test]
fn a_forced_late_cancel_is_misdirected_and_a_guarded_one_is_not() {
    use stress::access::conn::Connector;
    use stress::access::gauges::Gauges;
    use stress::workload::prepare::describe_one;
    // Under the lock: a read_only fault of another test leaves new sessions read-only.
    let _one = load_lock();
    let url = database("races_cancel_forced");
    block_on(async {
        let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let quick = describe_one(&admin, "SELECT 1").await.unwrap();
        let slow = describe_one(&admin, "SELECT pg_sleep(30)").await.unwrap();
        let gauges = Arc::new(Gauges::default());
        let connector = Connector::new(
            url.parse().unwrap(),
            stress::database::Tls::plain(),
            "forced",
            &Default::default(),
            Arc::from(vec![quick, slow]),
            gauges.clone(),
        );
        let conn = connector.connect().await.unwrap();
        let name = format!("stress:forced:{}", conn.serial);
        let track = gauges.cancels.get(conn.serial).unwrap();
        let cancel = |pid: i32| {
            let admin = &admin;
            async move {
                admin
                    .execute("SELECT pg_cancel_backend($1)", &[&pid])
                    .await
                    .unwrap();
            }
        };
        // Unguarded: aimed at statement 1, which ended; lands on statement 2.
        conn.execute(0, &[], &[], &mut []).await.unwrap();
        track.aim();
        let (slept, ()) = tokio::join!(conn.execute(1, &[], &[], &mut []), async {
            cancel(sleeping_backend(&admin, &name).await).await
        });
        assert_eq!(slept.unwrap_err().class, ErrorClass::QueryCanceled);
        assert_eq!(gauges.cancels.misdirected(), 1);
        // Guarded, aimed at the statement running: it cancels that one, not misdirected.
        let (slept, ()) = tokio::join!(conn.execute(1, &[], &[], &mut []), async {
            let pid = sleeping_backend(&admin, &name).await;
            assert!(track.block().is_some(), "the sleep is in flight");
            cancel(pid).await;
            track.release();
        });
        assert_eq!(slept.unwrap_err().class, ErrorClass::QueryCanceled);
        assert_eq!(gauges.cancels.misdirected(), 1);
        // Guarded, nothing in flight: no request to send, and the next statement runs.
        assert_eq!(track.block(), None);
        conn.execute(0, &[], &[], &mut []).await.unwrap();
        assert_eq!(gauges.cancels.misdirected(), 1);
    });
}
