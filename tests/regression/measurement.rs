//! Numbers of the report that disagreed with what the server saw (the measurement review of
//! 2026-12-03), one test each.

use super::common;

/// `load.iterations` with a `warmup`: the pacer counts the measured phase's operations by
/// their start, the recorder counted them by their end, so each task's operation that
/// straddled the end of the warmup was counted too (1005 measured for 5 tasks × 200).
#[test]
fn iterations_after_a_warmup_are_counted_exactly() {
    let text = r#"name = "iterations-warmup"
[load]
tasks = 3
iterations = 40
warmup = "200ms"
[[workload]]
name = "w"
[[workload.step]]
sql = "SELECT pg_sleep(0.002)"
"#;
    let r = common::run_text("iterations_warmup", text, &[]);
    common::assert_consistent(&r);
    assert_eq!(r.variants[0].operations.total, 3 * 40);
}
