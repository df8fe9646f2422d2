//! The terminal summary: one row per variant (connections, operations, ok, failed, ops/s,
//! operation and acquire p50/p99, error classes, checks passed), so variants and sweep points
//! compare side by side; then each variant's findings, the failed checks spelled out, the
//! verdict and the cheapest passing configuration; and the comparison with a baseline.
//!
//! Words that matter (FAIL, PASS, REGRESSION) are styled with ANSI codes; print the text
//! through `anstream`, which drops them when the output is not a terminal or `NO_COLOR` is
//! set. Table cells stay plain so the columns line up.

use anstyle::{AnsiColor, Style};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

use super::compare::Comparison;
use super::model::{Report, VariantReport};
use super::verdict;
use crate::metric::format_ms as ms;

const RED: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
    .bold();
const GREEN: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)))
    .bold();

fn red(text: &str) -> String {
    format!("{RED}{text}{RED:#}")
}

fn green(text: &str) -> String {
    format!("{GREEN}{text}{GREEN:#}")
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

/// `3/4` checks passed, `-` without checks, `aborted` when `abort_on_fail` stopped it.
pub fn checks_cell(v: &VariantReport) -> String {
    let checks = &v.verdict.checks;
    if checks.is_empty() {
        return "-".into();
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    let aborted = if v.verdict.aborted.is_some() {
        " aborted"
    } else {
        ""
    };
    format!("{passed}/{}{aborted}", checks.len())
}

/// Connections the variant may open (see [`verdict::connections`]).
pub fn connections_cell(v: &VariantReport) -> String {
    verdict::connections(&v.settings).map_or_else(|| "-".into(), |n| n.to_string())
}

fn table(report: &Report) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "variant", "conns", "ops", "ok", "failed", "ops/s", "op p50", "op p99", "acq p50",
            "acq p99", "errors", "checks",
        ]);
    for v in &report.variants {
        let l = &v.latency_ms;
        table.add_row(vec![
            v.name.clone(),
            connections_cell(v),
            v.operations.total.to_string(),
            v.operations.ok.to_string(),
            v.operations.failed.to_string(),
            format!("{:.0}", v.throughput_ops_s),
            ms(l.operation.p50),
            ms(l.operation.p99),
            ms(l.acquire.p50),
            ms(l.acquire.p99),
            errors(v),
            checks_cell(v),
        ]);
    }
    for i in 1..=9 {
        if let Some(c) = table.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// The summary as text, ready to print through `anstream`.
pub fn render(report: &Report) -> String {
    let mut out = format!("scenario {} (run {})", report.scenario.name, report.run_id);
    if report.interrupted {
        out.push_str(" — interrupted, partial results");
    }
    out.push('\n');
    out.push_str(&table(report).to_string());
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
    out.push_str(&verdict_text(report));
    out
}

/// The failed checks, one per line, then the verdict and the cheapest configuration.
fn verdict_text(report: &Report) -> String {
    let judged: Vec<_> = report
        .variants
        .iter()
        .filter(|v| !v.verdict.checks.is_empty() || v.verdict.aborted.is_some())
        .collect();
    if judged.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nchecks:\n");
    for v in &judged {
        out.push_str(&check_lines(v));
    }
    let total: usize = judged.iter().map(|v| v.verdict.checks.len()).sum();
    let failed: usize = judged
        .iter()
        .map(|v| v.verdict.checks.iter().filter(|c| !c.pass).count())
        .sum();
    if report.verdict.pass {
        out.push_str(&format!("verdict: {} ({total} checks)\n", green("PASS")));
    } else {
        out.push_str(&format!(
            "verdict: {} — {failed} of {total} checks failed\n",
            red("FAIL")
        ));
    }
    if let Some(c) = &report.verdict.cheapest {
        match &c.variant {
            Some(name) => out.push_str(&format!(
                "cheapest configuration meeting the expectations: `{name}`, {} connection(s)\n",
                c.connections.unwrap_or(0)
            )),
            None => out.push_str(&format!(
                "cheapest configuration meeting the expectations: {}\n",
                red(&format!("none — {}", c.detail))
            )),
        }
    }
    out
}

/// A variant's abort and failed checks, one per line, or that all passed.
fn check_lines(v: &VariantReport) -> String {
    let mut out = String::new();
    if let Some(a) = &v.verdict.aborted {
        out.push_str(&format!(
            "  [{}] {} after {:.2} s by abort_on_fail: {}\n",
            v.name,
            red("ABORTED"),
            a.at_ms as f64 / 1000.0,
            a.detail
        ));
    }
    let failed: Vec<_> = v.verdict.checks.iter().filter(|c| !c.pass).collect();
    for c in &failed {
        out.push_str(&format!(
            "  [{}] {} {}\n",
            v.name,
            red("FAIL"),
            verdict::describe(c)
        ));
    }
    if failed.is_empty() {
        out.push_str(&format!(
            "  [{}] {} all {} checks\n",
            v.name,
            green("PASS"),
            v.verdict.checks.len()
        ));
    }
    out
}

/// The comparison with a baseline: a table of deltas per variant, regressions marked.
pub fn render_comparison(c: &Comparison) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(vec![
            "variant",
            "metric",
            "baseline",
            "now",
            "change",
            "tolerance",
            "",
        ]);
    for v in &c.variants {
        if let Some(cells) = v.note_cells("REGRESSION") {
            table.add_row(cells);
        }
        for r in &v.rows {
            let mut row = vec![v.name.clone()];
            row.extend(r.cells());
            table.add_row(row);
        }
    }
    for i in 2..=5 {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!(
        "\ncompared with the baseline (run {} → run {})\n",
        c.base_run, c.new_run
    );
    if let Some(why) = &c.forced {
        out.push_str(&format!("forced, although {why}\n"));
    }
    out.push_str(&table.to_string());
    out.push('\n');
    match c.regressions() {
        0 => out.push_str(&format!("baseline: {} — no regression\n", green("PASS"))),
        n => out.push_str(&format!(
            "baseline: {} — {n} regression(s)\n",
            red("REGRESSION")
        )),
    }
    out
}
