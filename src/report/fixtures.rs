//! Test fixtures: variant reports with chosen numbers, without running anything.

use super::model::{Report, VariantReport};

/// A variant report with these numbers and settings (everything else empty).
pub(crate) fn variant(
    name: &str,
    ok: u64,
    failed: u64,
    settings: serde_json::Value,
) -> VariantReport {
    let json = serde_json::json!({
        "name": name, "settings": settings, "seed": 1,
        "operations": { "total": ok + failed, "ok": ok, "failed": failed, "dropped": 0, "retried": 0 },
        "measured_s": 1.0, "throughput_ops_s": ok as f64,
        "latency_ms": {
            "operation": summary(if ok > 0 { ok } else { 0 }, 5.0),
            "failed": summary(failed, 1.0), "acquire": summary(ok + failed, 0.1),
            "hold": summary(ok, 4.0), "by_workload": {}
        },
        "errors": {}, "anomalies": { "transaction_interleaved": 0, "returned_in_transaction": 0 },
        "pool": { "peak_in_use": 0, "peak_waiting": 0, "connections_created": 0,
                  "connections_closed": 0, "closed_broken": 0, "timed_out_gets": 0 },
        "server": { "peak_backends": 0, "peak_idle_in_transaction": 0 },
        "faults": [], "timeline": [], "diagnosis": [],
        "verdict": { "pass": true, "checks": [] }
    });
    serde_json::from_value(json).unwrap()
}

fn summary(count: u64, p: f64) -> serde_json::Value {
    serde_json::json!({ "count": count, "min": p, "mean": p, "p50": p, "p90": p, "p99": p,
                        "p999": p, "max": p, "hdr": "" })
}

/// A report of `variants`, started at `started_at` (RFC 3339).
pub(crate) fn report(run_id: &str, started_at: &str, variants: Vec<VariantReport>) -> Report {
    let json = serde_json::json!({
        "schema_version": 1, "tool": { "name": "stress", "version": "0" }, "run_id": run_id,
        "scenario": { "name": "s", "file": "s.toml", "settings_sha256": "abc" },
        "started_at": started_at, "interrupted": false,
        "environment": { "host": run_id, "cores": 2, "os": "linux", "stress_version": "0" },
        "database": { "source": "url", "server_version": "17", "max_connections": 100,
                      "superuser_reserved_connections": 3, "url": "postgres://x", "settings": {} },
        "variants": [], "verdict": { "pass": true }
    });
    let mut r: Report = serde_json::from_value(json).unwrap();
    r.variants = variants;
    r
}

/// A report of variants with these names and settings hashes, its own hash `hash`.
pub(crate) fn hashed(variants: &[(&str, &str)], hash: &str) -> Report {
    let vs = variants
        .iter()
        .map(|(name, h)| {
            let mut v = variant(name, 1, 0, serde_json::json!({}));
            v.settings_sha256 = h.to_string();
            v
        })
        .collect();
    let mut r = report("r", "2026-01-01T00:00:00.000Z", vs);
    r.scenario.settings_sha256 = hash.into();
    r
}

/// A variant's effective settings: a one-statement scenario with `toml` added to it.
pub(crate) fn settings(toml: &str) -> crate::scenario::model::Settings {
    let text = format!(
        "name = \"c\"\n{toml}\n[[workload]]\nname = \"w\"\n[[workload.step]]\nsql = \"SELECT 1\"\n"
    );
    crate::scenario::load_str(std::path::Path::new("c.toml"), &text, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .variants
        .remove(0)
        .settings
}
