//! Merging the reports of machines that ran at the same time: two concurrent `stress run`
//! processes, each with half the load, merged into one report whose totals are the sums and
//! whose histograms are the union of theirs (asserted on the decoded histograms).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use hdrhistogram::Histogram;
use stress::record::histogram::{self, ms};
use stress::report::Report;
use stress::report::json;
use stress::report::model::VariantReport;

/// Half of a 4-task load: the other half runs on "another machine" at the same time. The
/// table exists beforehand, as on a real deployment (two concurrent `CREATE TABLE IF NOT
/// EXISTS` can collide in PostgreSQL's catalog).
const HALF: &str = r#"
name = "half-load"
seed = 5
[load]
tasks = 2
duration = "2s"
[pool]
max_size = 2
[[workload]]
name = "write"
[[workload.step]]
sql = "INSERT INTO m (v) VALUES ($1)"
params = ["random_int(1, 100)"]
[[workload.step]]
sleep = "2ms"
[[workload]]
name = "read"
[[workload.step]]
sql = "SELECT count(*) FROM m WHERE v = $1"
params = ["random_int(1, 100)"]
[expect]
error_rate = 0
operation.p99 = "5s"
"#;

fn create_table(url: &str) {
    let url = url.to_string();
    block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("CREATE TABLE m (id bigserial PRIMARY KEY, v int)")
            .await
            .unwrap();
    });
}

fn decoded(text: &str) -> Histogram<u64> {
    histogram::decode(text).unwrap()
}

fn union(a: &str, b: &str) -> Histogram<u64> {
    let mut h = decoded(a);
    h.add(decoded(b)).unwrap();
    h
}

fn assert_union(what: &str, merged: &str, a: &str, b: &str) {
    let (m, u) = (decoded(merged), union(a, b));
    assert_eq!(m.len(), u.len(), "{what}: count");
    for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            m.value_at_quantile(q),
            u.value_at_quantile(q),
            "{what}: q {q}"
        );
    }
}

fn stress_merge(files: &[&Path], out: &Path) -> (i32, String) {
    let output = assert_cmd::Command::cargo_bin("stress")
        .unwrap()
        .arg("merge")
        .args(files)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap(), text)
}

/// Every latency histogram of the merged variant is the union of the two machines' ones,
/// and its summary is computed from that union.
fn assert_latencies_are_the_union(va: &VariantReport, vb: &VariantReport, vm: &VariantReport) {
    let (la, lb, lm) = (&va.latency_ms, &vb.latency_ms, &vm.latency_ms);
    assert_union(
        "operation",
        &lm.operation.hdr,
        &la.operation.hdr,
        &lb.operation.hdr,
    );
    assert_union("acquire", &lm.acquire.hdr, &la.acquire.hdr, &lb.acquire.hdr);
    assert_union("hold", &lm.hold.hdr, &la.hold.hdr, &lb.hold.hdr);
    for w in ["write", "read"] {
        assert_union(
            w,
            &lm.by_workload[w].hdr,
            &la.by_workload[w].hdr,
            &lb.by_workload[w].hdr,
        );
    }
    let u = union(&la.operation.hdr, &lb.operation.hdr);
    assert_eq!(
        lm.operation.p99,
        ms(u.value_at_quantile(0.99)),
        "summaries from the union"
    );
    assert_eq!(lm.operation.count, u.len());
}

/// Each machine's row carries its own report's figures, and the rows add up to the merged
/// totals (the throughputs to at least the merged one: each machine's phase is within the
/// merged one).
fn assert_each_machine_contributes(machines: &[(&Report, &VariantReport)], vm: &VariantReport) {
    assert_eq!(vm.machines.len(), machines.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    for (r, v) in machines {
        let row = vm.machines.iter().find(|m| m.run_id == r.run_id).unwrap();
        let t = row.totals.as_ref().expect("each machine's totals");
        assert_eq!(t.operations, v.operations, "{}", r.run_id);
        assert!(close(t.throughput_ops_s, v.throughput_ops_s), "{t:?}");
        assert!(close(t.measured_s, v.measured_s), "{t:?}");
        assert!(
            close(t.operation_p99_ms, v.latency_ms.operation.p99),
            "{t:?}"
        );
    }
    let totals: Vec<_> = vm
        .machines
        .iter()
        .map(|m| m.totals.clone().unwrap())
        .collect();
    let sum =
        |f: fn(&stress::report::model::MachineTotals) -> u64| -> u64 { totals.iter().map(f).sum() };
    assert_eq!(sum(|t| t.operations.ok), vm.operations.ok);
    assert_eq!(sum(|t| t.operations.failed), vm.operations.failed);
    assert_eq!(sum(|t| t.operations.total), vm.operations.total);
    let throughput: f64 = totals.iter().map(|t| t.throughput_ops_s).sum();
    assert!(
        throughput >= vm.throughput_ops_s * (1.0 - 1e-9),
        "{throughput} < {}",
        vm.throughput_ops_s
    );
}

/// Runs the scenario in one process per report path, all at the same time.
fn run_at_once(url: &str, file: &Path, outs: &[&Path]) {
    let _one_at_a_time = load_lock();
    let children: Vec<_> = outs
        .iter()
        .map(|out| {
            Command::new(assert_cmd::cargo::cargo_bin("stress"))
                .arg("run")
                .arg(file)
                .args(["--database-url", url, "--quiet", "--out"])
                .arg(out)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
    }
}

#[test]
fn two_concurrent_half_loads_merge_into_sums_and_union_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let url = database("merge_halves");
    create_table(&url);
    let file = dir.path().join("half.toml");
    std::fs::write(&file, HALF).unwrap();
    let (a, b, m) = (
        dir.path().join("a.json"),
        dir.path().join("b.json"),
        dir.path().join("m.json"),
    );
    run_at_once(&url, &file, &[&a, &b]);
    let (ra, rb) = (json::read(&a).unwrap(), json::read(&b).unwrap());
    let (code, out) = stress_merge(&[&a, &b], &m);
    assert_eq!(code, 0, "{out}");
    let merged: Report = json::read(&m).unwrap();
    assert_consistent(&merged);
    let (va, vb, vm) = (&ra.variants[0], &rb.variants[0], &merged.variants[0]);

    assert_eq!(
        vm.operations.total,
        va.operations.total + vb.operations.total
    );
    assert_eq!(vm.operations.ok, va.operations.ok + vb.operations.ok);
    assert_latencies_are_the_union(va, vb, vm);

    // The two machines ran at the same time: the merged phase is about as long as one.
    assert!(vm.measured_s >= va.measured_s.max(vb.measured_s));
    assert!(
        vm.measured_s < va.measured_s + vb.measured_s,
        "{}",
        vm.measured_s
    );
    let interval_sum: u64 = vm.timeline.iter().map(|e| decoded(&e.hdr).len()).sum();
    assert_eq!(
        interval_sum, vm.operations.ok,
        "interval histograms merged too"
    );
    // Peaks are kept per machine, not summed.
    assert_eq!(vm.machines.len(), 2);
    assert_eq!(
        vm.pool.peak_in_use,
        va.pool.peak_in_use.max(vb.pool.peak_in_use)
    );
    assert_each_machine_contributes(&[(&ra, va), (&rb, vb)], vm);
    assert_eq!(merged.merged_from.len(), 2);
    assert_eq!(vm.verdict.checks.len(), 2);
    assert!(merged.verdict.pass);

    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&serde_json::to_value(&merged).unwrap()));

    // Review of 2026-12-03: a merge with an interrupted run passed its gate on partial figures.
    let mut partial = json::read(&b).unwrap();
    partial.interrupted = true;
    let b_partial = dir.path().join("b_partial.json");
    std::fs::write(&b_partial, serde_json::to_vec(&partial).unwrap()).unwrap();
    let (code, out) = stress_merge(&[&a, &b_partial], &m);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("b_partial.json was interrupted"), "{out}");
}

#[test]
fn reports_of_different_scenarios_are_not_merged() {
    let dir = tempfile::tempdir().unwrap();
    let url = database("merge_refused");
    create_table(&url);
    let file = dir.path().join("half.toml");
    std::fs::write(&file, HALF).unwrap();
    let (a, b, m) = (
        dir.path().join("a.json"),
        dir.path().join("b.json"),
        dir.path().join("m.json"),
    );
    for (out, tasks) in [(&a, "load.tasks=1"), (&b, "load.tasks=2")] {
        let _one_at_a_time = load_lock();
        let status = Command::new(assert_cmd::cargo::cargo_bin("stress"))
            .arg("run")
            .arg(&file)
            .args(["--database-url", &url, "--quiet", "--set", tasks, "--set"])
            .arg("load.duration=300ms")
            .arg("--out")
            .arg(out)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (code, out) = stress_merge(&[&a, &b], &m);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("effective settings"), "{out}");
    assert!(!m.exists());
    let (code, out) = stress_merge(&[&a, &dir.path().join("nope.json")], &m);
    assert_eq!(code, 2, "{out}");
    // Review of 2026-12-03: the merge was written over one of its sources.
    let before = std::fs::read(&a).unwrap();
    let (code, out) = stress_merge(&[&a, &b], &a);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is one of the reports to merge"), "{out}");
    assert_eq!(std::fs::read(&a).unwrap(), before);
}
