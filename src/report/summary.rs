//! The terminal summary: one row per variant (operations, ok, failed, ops/s, operation and
//! acquire p50/p99, error classes with counts), then each variant's findings.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::model::{Report, VariantReport};

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

fn errors(v: &VariantReport) -> String {
    if v.errors.is_empty() {
        return "-".into();
    }
    v.errors
        .iter()
        .map(|(class, s)| format!("{class} {}", s.count))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summary as text, ready to print.
pub fn render(report: &Report) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "variant", "ops", "ok", "failed", "ops/s", "op p50", "op p99", "acq p50", "acq p99",
            "errors",
        ]);
    for v in &report.variants {
        let l = &v.latency_ms;
        table.add_row(vec![
            v.name.clone(),
            v.operations.total.to_string(),
            v.operations.ok.to_string(),
            v.operations.failed.to_string(),
            format!("{:.0}", v.throughput_ops_s),
            ms(l.operation.p50),
            ms(l.operation.p99),
            ms(l.acquire.p50),
            ms(l.acquire.p99),
            errors(v),
        ]);
    }
    for i in 1..=8 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("scenario {} (run {})", report.scenario.name, report.run_id);
    if report.interrupted {
        out.push_str(" — interrupted, partial results");
    }
    out.push('\n');
    out.push_str(&table.to_string());
    out.push('\n');
    for v in &report.variants {
        for f in &v.diagnosis {
            out.push_str(&format!(
                "\n[{}] {}: {}\n  → {}\n",
                v.name, f.class, f.finding, f.advice
            ));
        }
        for w in &v.warnings {
            out.push_str(&format!("\n[{}] warning: {w}\n", v.name));
        }
    }
    out
}
