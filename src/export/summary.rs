//! The terminal summary: one row per variant (the [`columns`]: connections capacity, opened and
//! peak in use, operations, ok, failed, ok/s, operation and acquire p50/p99, error classes,
//! anomalies, checks passed), so variants and sweep points compare side by side; a merged
//! report's machines (each one's own figures); then each variant's findings, the failed
//! checks spelled out, the verdict and the cheapest passing configuration; and the comparison
//! with a baseline. Everything is fitted to the terminal's width, words whole ([`layout`]).
//!
//! Words that matter (FAIL, PASS, REGRESSION) are styled with ANSI codes; print the text
//! through `anstream`, which drops them when the output is not a terminal or `NO_COLOR` is
//! set. Table cells stay plain so the columns line up.

use anstyle::{AnsiColor, Style};

use super::columns;
use super::layout::{self, Col, wrap};
use super::{ExportError, Exported, Exporter, Failure};
use crate::report::compare::Comparison;
use crate::report::model::{Report, VariantReport};
use crate::report::verdict;

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

/// The terminal summary as an exporter: each report's summary (left out for `stress compare`,
/// whose verdict is the comparison's alone), then its comparison with the baseline. Print the
/// bytes through `anstream` (see the module's doc).
pub(crate) struct Summary;

impl Exporter for Summary {
    fn format(&self) -> &'static str {
        "summary"
    }

    fn render(&self, runs: &[Exported<'_>], _failures: &[Failure]) -> Result<Vec<u8>, ExportError> {
        let mut out = String::new();
        for run in runs {
            if !run.comparison_only {
                out.push_str(&render(run.report));
            }
            if let Some(c) = run.comparison {
                out.push_str(&render_comparison(c));
            }
        }
        Ok(out.into_bytes())
    }
}

/// The variants' table (see [`columns`]), fitted to `width`.
fn table(report: &Report, width: usize) -> String {
    let key = columns::col(&columns::VARIANT, &report.variants);
    let groups: Vec<Vec<_>> = columns::GROUPS
        .iter()
        .map(|g| {
            g.iter()
                .map(|c| columns::col(c, &report.variants))
                .collect()
        })
        .collect();
    layout::tables(&key, &groups, width)
}

/// The summary as text, ready to print through `anstream`, fitted to the terminal's width
/// (see [`layout::width`]).
pub(crate) fn render(report: &Report) -> String {
    render_width(report, layout::width())
}

/// The summary as text, no line wider than `width` columns (40 at least).
pub(crate) fn render_width(report: &Report, width: usize) -> String {
    let mut out = format!("scenario {} (run {})", report.scenario.name, report.run_id);
    if report.interrupted {
        out.push_str(" — interrupted, partial results");
    }
    let mut out = wrap(&out, width, "", "  ");
    out.push_str(&table(report, width));
    out.push('\n');
    out.push_str(&machine_lines(report, width));
    out.push_str(&workload_lines(report, width));
    for v in &report.variants {
        for f in &v.diagnosis {
            out.push('\n');
            out.push_str(&wrap(
                &format!("[{}] {}: {}", v.name, f.class, f.finding),
                width,
                "",
                "  ",
            ));
            out.push_str(&wrap(&format!("→ {}", f.advice), width, "  ", "    "));
        }
        for w in &v.warnings {
            out.push('\n');
            out.push_str(&wrap(
                &format!("[{}] warning: {w}", v.name),
                width,
                "",
                "  ",
            ));
        }
    }
    out.push_str(&verdict_text(report, width));
    out
}

/// A merged report: what each machine contributed to each variant, one line each.
fn machine_lines(report: &Report, width: usize) -> String {
    let mut out = String::new();
    for v in &report.variants {
        for m in &v.machines {
            let Some(t) = &m.totals else { continue };
            let line = format!(
                "[{}] {} (run {}): {} ok, {} failed, {:.1} ops/s, p99 {}",
                v.name,
                m.host,
                m.run_id,
                t.operations.ok,
                t.operations.failed,
                t.throughput_ops_s,
                crate::metric::format_ms(t.operation_p99_ms)
            );
            out.push_str(&wrap(&line, width, "  ", "    "));
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\nmachines (each one's own figures):\n{out}")
}

/// With several workloads, each one's latency: a slow query beside fast ones is what a team
/// looks for (a dashboard that holds up chat), and the table shows them mixed. It was in the
/// JSON only (review of 2026-12-03).
fn workload_lines(report: &Report, width: usize) -> String {
    let mut out = String::new();
    for v in &report.variants {
        let by = &v.latency_ms.by_workload;
        if by.len() < 2 {
            continue;
        }
        let failed = |name: &str| match v.operations.failed_by_workload.get(name) {
            Some(&n) if n > 0 => format!(", {n} failed"),
            _ => String::new(),
        };
        let each: Vec<String> = by
            .iter()
            .map(|(name, l)| match l.count {
                0 => format!("{name}: none ok{}", failed(name)),
                n => format!(
                    "{name}: p50 {}, p99 {} ({n} ok{})",
                    crate::metric::format_ms(l.p50),
                    crate::metric::format_ms(l.p99),
                    failed(name)
                ),
            })
            .collect();
        let line = format!("[{}] by workload: {}", v.name, each.join("; "));
        out.push_str(&wrap(&line, width, "", "  "));
    }
    match out.is_empty() {
        true => out,
        false => format!("\n{out}"),
    }
}

/// The failed checks, one per line, then the verdict and the cheapest configuration, each
/// wrapped to `width`.
fn verdict_text(report: &Report, width: usize) -> String {
    let judged: Vec<_> = report
        .variants
        .iter()
        .filter(|v| !v.verdict.checks.is_empty() || v.verdict.aborted.is_some())
        .collect();
    if judged.is_empty() {
        return String::new();
    }
    let mut lines = Vec::new();
    for v in &judged {
        lines.extend(check_lines(v));
    }
    let total: usize = judged.iter().map(|v| v.verdict.checks.len()).sum();
    let failed: usize = judged
        .iter()
        .map(|v| v.verdict.checks.iter().filter(|c| !c.pass).count())
        .sum();
    let mut tail = Vec::new();
    if report.verdict.pass {
        tail.push(format!("verdict: {} ({total} checks)", green("PASS")));
    } else {
        tail.push(format!(
            "verdict: {} — {failed} of {total} checks failed",
            red("FAIL")
        ));
    }
    if let Some(c) = &report.verdict.cheapest {
        tail.push(match &c.variant {
            Some(name) => format!(
                "cheapest configuration meeting the expectations: `{name}`, {} connection(s)",
                c.connections.unwrap_or(0)
            ),
            None => format!(
                "cheapest configuration meeting the expectations: {}",
                red(&format!("none — {}", c.detail))
            ),
        });
    }
    let mut out = String::from("\nchecks:\n");
    for line in &lines {
        out.push_str(&wrap(line, width, "  ", "    "));
    }
    for line in &tail {
        out.push_str(&wrap(line, width, "", "  "));
    }
    out
}

/// A variant's abort and failed checks, one per line, or that all passed.
fn check_lines(v: &VariantReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = &v.verdict.aborted {
        out.push(format!(
            "[{}] {} after {:.2} s by abort_on_fail: {}",
            v.name,
            red("ABORTED"),
            a.at_ms as f64 / 1000.0,
            a.detail
        ));
    }
    let failed: Vec<_> = v.verdict.checks.iter().filter(|c| !c.pass).collect();
    for c in &failed {
        out.push(format!(
            "[{}] {} {}",
            v.name,
            red("FAIL"),
            verdict::describe(c)
        ));
    }
    if failed.is_empty() {
        out.push(format!(
            "[{}] {} all {} checks",
            v.name,
            green("PASS"),
            v.verdict.checks.len()
        ));
    }
    out
}

/// The comparison with a baseline, fitted to the terminal's width.
pub(crate) fn render_comparison(c: &Comparison) -> String {
    render_comparison_width(c, layout::width())
}

/// The comparison with a baseline: a table of deltas per variant, regressions marked, no line
/// wider than `width`.
pub(crate) fn render_comparison_width(c: &Comparison, width: usize) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for v in &c.variants {
        rows.extend(v.note_cells("REGRESSION"));
        for r in &v.rows {
            rows.push(std::iter::once(v.name.clone()).chain(r.cells()).collect());
        }
    }
    let headers = [
        "variant",
        "metric",
        "baseline",
        "now",
        "change",
        "tolerance",
        "",
    ];
    let mut cols: Vec<Col> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| Col {
            header: h.to_string(),
            right: (2..=5).contains(&i),
            cells: rows
                .iter()
                .map(|r| r.get(i).cloned().unwrap_or_default())
                .collect(),
        })
        .collect();
    let key = cols.remove(0);
    let mut out = format!(
        "\ncompared with the baseline (run {} → run {})\n",
        c.base_run, c.new_run
    );
    if let Some(why) = &c.forced {
        out.push_str(&wrap(&format!("forced, although {why}"), width, "", "  "));
    }
    out.push_str(&layout::tables(&key, &[cols], width));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::layout::assert_fits;
    use crate::record::errors::ErrorClass;
    use crate::report::fixtures;
    use crate::report::model::{ErrorStats, Finding};

    /// The per-request run beside a pool: 761 connections opened for a capacity of 10,
    /// 2 failures in 12,391, an error class with a long name, lost writes, sub-ms acquires.
    fn fixture() -> Report {
        let settings = |mode: &str| {
            serde_json::json!({ "name": "s", "access": { "mode": mode }, "load": { "tasks": 10 },
                                "pool": { "max_size": 10 } })
        };
        let mut per = fixtures::variant("per-request", 12_389, 2, settings("per_operation"));
        per.pool.connections_created = 761;
        per.pool.peak_in_use = 10;
        per.latency_ms.acquire.p50 = 0.042;
        per.latency_ms.acquire.p99 = 10.7;
        per.throughput_ops_s = 257.4;
        per.errors.insert(
            ErrorClass::OperationInProgress,
            ErrorStats {
                count: 2,
                sqlstates: Default::default(),
                reasons: Default::default(),
                first_at_ms: 0,
                last_at_ms: 0,
                sample: String::new(),
            },
        );
        per.anomalies.lost_writes = Some(83);
        per.diagnosis.push(Finding {
            class: "cost.connect".into(),
            finding: "the variant opened 761 connections in 2 s (380 a second); connecting \
                      took operation_in_progress_like_long_words 10.7 ms at the median"
                .into(),
            advice: "keep the connections open in a pool: a pool of 10 served 661 ops/s".into(),
        });
        let mut pool = fixtures::variant("pool", 1_322, 0, settings("pool"));
        pool.pool.connections_created = 10;
        pool.pool.peak_in_use = 7;
        fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![per, pool])
    }

    #[test]
    fn the_table_shows_connections_opened_and_peak_anomalies_and_shares() {
        let text = render_width(&fixture(), 200);
        let row = |name: &str| {
            text.lines()
                .find(|l| l.contains(&format!(" {name} ")))
                .unwrap_or_else(|| panic!("no row {name}:\n{text}"))
                .split(['│', '┆'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(text.matches('┌').count(), 1, "one table at 200:\n{text}");
        assert!(text.contains("ok/s"), "{text}");
        assert_eq!(
            row("per-request"),
            [
                "per-request",
                "10",
                "761",
                "10",
                "12391",
                "12389",
                "2 (0.016%)",
                "257",
                "5.00ms",
                "5.00ms",
                "42µs",
                "10.7ms",
                "operation_in_progress 2",
                "lost writes 83",
                "-"
            ]
        );
        assert_eq!(row("pool")[1..4], ["10", "10", "7"]);
        assert_eq!(row("pool")[13], "-");
    }

    /// Issue 13: a merged report says what each machine contributed.
    #[test]
    fn a_merged_report_has_a_line_per_machine() {
        let mut r = fixture();
        assert!(!render_width(&r, 100).contains("machines"));
        let ops = r.variants[1].operations.clone();
        r.variants[1]
            .machines
            .push(crate::report::model::MachinePeaks {
                run_id: "m1".into(),
                host: "h1".into(),
                totals: Some(crate::report::model::MachineTotals {
                    operations: ops,
                    measured_s: 2.0,
                    throughput_ops_s: 661.0,
                    operation_p99_ms: 12.34,
                }),
                ..Default::default()
            });
        let text = render_width(&r, 100);
        assert!(
            text.contains("\nmachines (each one's own figures):\n  [pool] h1 (run m1): 1322 ok, 0 failed, 661.0 ops/s, p99 12.3ms\n"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_fits_80_and_100_columns_without_splitting_a_word() {
        for width in [80, 100] {
            let text = render_width(&fixture(), width);
            assert_fits(
                &text,
                width,
                &[
                    "operation_in_progress",
                    "operation_in_progress_like_long_words",
                    "per-request",
                    "(0.016%)",
                    "connections",
                    "42µs",
                ],
            );
            assert!(text.contains("→ keep the connections"), "{text}");
        }
    }

    #[test]
    fn several_workloads_get_a_latency_line_each() {
        let mut r = fixture();
        assert!(
            !render_width(&r, 100).contains("by workload"),
            "one workload: no line"
        );
        let summary = |count, p50, p99| crate::report::model::LatencySummary {
            count,
            p50,
            p99,
            ..Default::default()
        };
        let by = &mut r.variants[1].latency_ms.by_workload;
        by.insert("dashboard".into(), summary(120, 40.0, 180.0));
        by.insert("chat".into(), summary(900, 0.5, 2.0));
        let text = render_width(&r, 200);
        assert!(
            text.contains("[pool] by workload: chat: p50 500µs, p99 2.00ms (900 ok); dashboard: p50 40.0ms, p99 180.0ms (120 ok)"),
            "{text}"
        );
        let failed = &mut r.variants[1].operations.failed_by_workload;
        failed.insert("chat".into(), 0);
        failed.insert("dashboard".into(), 7);
        let text = render_width(&r, 200);
        assert!(
            text.contains("chat: p50 500µs, p99 2.00ms (900 ok); dashboard: p50 40.0ms, p99 180.0ms (120 ok, 7 failed)"),
            "{text}"
        );
    }
}
