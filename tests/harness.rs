//! The harness says when it is the bottleneck (issue 11): pinned to one CPU with 64 tasks of
//! `SELECT 1`, its one worker thread wants a CPU all along and the report carries
//! `harness.saturated`; tasks that mostly sleep leave it idle and the report does not.

mod common;

use std::process::Command;

use common::*;
use stress::report::Report;

/// The first CPU this process may run on (`Cpus_allowed_list: 0-1` → 0).
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    list.trim()
        .split([',', '-'])
        .next()
        .expect("a CPU")
        .to_string()
}

/// Runs `text` through the binary, pinned to one CPU with `taskset` when `pinned`.
fn run(name: &str, text: &str, pinned: bool) -> Report {
    let url = database(name);
    let dir = tempfile::tempdir().unwrap();
    let (scenario, out) = (dir.path().join("s.toml"), dir.path().join("r.json"));
    std::fs::write(&scenario, text).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("stress");
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", &first_allowed_cpu()]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let _guard = load_lock();
    let status = cmd
        .arg("run")
        .arg(&scenario)
        .args(["--database-url", &url, "--quiet", "--out"])
        .arg(&out)
        .env("STRESS_WORKER_THREADS", "1")
        .status()
        .expect("stress runs");
    assert!(status.success(), "{status}");
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

fn classes(r: &Report) -> Vec<String> {
    r.variants[0]
        .diagnosis
        .iter()
        .map(|f| f.class.clone())
        .collect()
}

/// Pinned to one CPU, 64 tasks of `SELECT 1`, each operation also drawing 20,000 random
/// characters (a `let` it never sends): about 1.7 ms of the harness's CPU per operation against
/// some 20 µs of the server's, so the harness is the bottleneck whatever the server's speed.
/// With `SELECT 1` alone (80 µs against 17), two clean CI runs measured 56% and 68%: the
/// harness waited for a server slowed by the machine, and a third of the time was in no count
/// (the hypervisor's steal is one cause of that; it is now counted as `stolen_s`, though this
/// was not confirmed to be the cause then). Up to three runs: each must carry the
/// finding exactly when it measured saturation, and one of them must be saturated; a harness
/// that never reports saturation still fails all three.
#[test]
fn a_harness_pinned_to_one_cpu_under_select_1_says_it_is_saturated() {
    if Command::new("taskset").arg("-V").output().is_err() {
        common::skip::skip(
            "a_harness_pinned_to_one_cpu_under_select_1_says_it_is_saturated",
            "taskset",
            "taskset (util-linux) is not installed",
        );
        return;
    }
    let mut tries = Vec::new();
    for attempt in 0..3 {
        let r = run(
            &format!("h_saturated_{attempt}"),
            "name = \"pinned\"\n[load]\ntasks = 64\nduration = \"3s\"\n[pool]\nmax_size = 64\n\
             [[workload]]\nname = \"one\"\nlet = { pad = \"text(20000)\" }\n\
             [[workload.step]]\nsql = \"SELECT 1\"\n",
            true,
        );
        let h = r.variants[0].harness.clone().expect("harness measured");
        assert_eq!(h.worker_threads, 1);
        let said = classes(&r).contains(&"harness.saturated".to_string());
        assert_eq!(said, h.utilization >= 0.9, "{h:?} {:?}", classes(&r));
        if said {
            return;
        }
        tries.push(h);
    }
    panic!("pinned to one CPU under SELECT 1, the harness was never saturated: {tries:?}");
}

#[test]
fn tasks_that_sleep_leave_the_harness_unsaturated() {
    let r = run(
        "h_idle",
        "name = \"idle\"\n[load]\ntasks = 4\nduration = \"1s\"\n[pool]\nmax_size = 4\n\
         [[workload]]\nname = \"sleepy\"\n[[workload.step]]\nsql = \"SELECT 1\"\n\
         [[workload.step]]\nsleep = \"20ms\"\n",
        false,
    );
    let h = r.variants[0].harness.clone().expect("harness measured");
    // Far below on a quiet machine (about 5%); a loaded one adds the time its threads wait
    // for a CPU (60% seen with eight builds beside it).
    assert!(h.utilization < 0.9, "{h:?}");
    assert!(
        !classes(&r).contains(&"harness.saturated".to_string()),
        "{:?}",
        classes(&r)
    );
}
