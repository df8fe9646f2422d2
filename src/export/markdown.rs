//! Markdown (`--markdown PATH`): a summary for a pull-request comment or a CI step summary
//! (`$GITHUB_STEP_SUMMARY`): per scenario, the verdict in the heading, the comparison table of
//! the variants (the terminal summary's [`columns`]), a merged report's machines (each one's
//! own figures), the failed checks spelled out, the cheapest passing configuration, and the
//! deltas against the baseline with regressions marked. A scenario that produced no report
//! (exit 2 or 3) gets a heading that says so, with the reason: never an empty file.

use super::columns::{self, Column};
use super::{ExportError, Exported, Exporter, Failure};
use crate::report::compare::Comparison;
use crate::report::model::Report;
use crate::report::verdict;

/// The Markdown exporter.
pub(crate) struct Markdown;

impl Exporter for Markdown {
    fn format(&self) -> &'static str {
        "Markdown"
    }

    fn render(&self, runs: &[Exported<'_>], failures: &[Failure]) -> Result<Vec<u8>, ExportError> {
        let mut out = String::new();
        for f in failures {
            out.push_str(&not_run(f));
        }
        for run in runs {
            if !run.comparison_only {
                out.push_str(&report(run.report, run.comparison));
            }
            if let Some(c) = run.comparison {
                out.push_str(&comparison(c));
            }
        }
        Ok(out.into_bytes())
    }
}

/// A scenario that did not run, the reason quoted line by line.
fn not_run(f: &Failure) -> String {
    let quoted: Vec<String> = f.reason.lines().map(|l| format!("> {l}")).collect();
    format!(
        "## ❌ stress: `{}` did not run\n\n{}\n\n",
        f.name.replace('`', "'"),
        quoted.join("\n")
    )
}

/// Text as Markdown shows it literally: `&`, `<` and `>` as entities, so that a name or a
/// server's message holding markup is shown, not rendered (review of 2026-12-03).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table cell: escaped, pipes escaped, line breaks as `<br>`.
fn cell(text: &str) -> String {
    escape(text).replace('|', "\\|").replace('\n', "<br>")
}

fn row(cells: &[String]) -> String {
    let cells: Vec<_> = cells.iter().map(|c| cell(c)).collect();
    format!("| {} |\n", cells.join(" | "))
}

fn report(r: &Report, comparison: Option<&Comparison>) -> String {
    let regressed = comparison.is_some_and(|c| c.regressions() > 0);
    let (mark, word) = match (r.interrupted, r.verdict.pass, regressed) {
        (true, _, _) => ("⚠️", "interrupted"),
        (false, true, false) => ("✅", "passed"),
        (false, true, true) => ("❌", "regressed against the baseline"),
        (false, false, _) => ("❌", "failed"),
    };
    let mut out = format!("## {mark} stress: `{}` {word}\n\n", r.scenario.name);
    out.push_str(&format!(
        "Run `{}`, started {}, {} variant(s), settings `{}`.\n\n",
        r.run_id,
        r.started_at,
        r.variants.len(),
        r.scenario.settings_sha256.get(..12).unwrap_or("")
    ));
    out.push_str(&variants_table(r));
    out.push('\n');
    out.push_str(&machines_table(r));
    out.push_str(&failed_checks(r));
    out.push_str(&warnings(r));
    if let Some(c) = &r.verdict.cheapest {
        match &c.variant {
            Some(name) => out.push_str(&format!(
                "**Cheapest configuration meeting the expectations:** `{name}`, {} connection(s).\n\n",
                c.connections.unwrap_or(0)
            )),
            None => out.push_str(&format!(
                "**No configuration met the expectations:** {}.\n\n",
                c.detail
            )),
        }
    }
    out
}

/// Each variant's warnings (a variant on some machines only, a merge forced across settings,
/// a failed teardown): the caveats a reader of a CI summary needs (review of 2026-12-03).
fn warnings(r: &Report) -> String {
    let lines: Vec<String> = (r.variants.iter())
        .flat_map(|v| v.warnings.iter().map(move |w| (v, w)))
        .map(|(v, w)| format!("- ⚠️ `{}`: {}\n", v.name.replace('`', "'"), escape(w)))
        .collect();
    match lines.is_empty() {
        true => String::new(),
        false => format!("**Warnings:**\n\n{}\n", lines.concat()),
    }
}

/// The variants' table: the summary's columns, one row per variant.
fn variants_table(r: &Report) -> String {
    let all: Vec<&Column> = std::iter::once(&columns::VARIANT)
        .chain(columns::GROUPS.iter().flat_map(|g| g.iter()))
        .collect();
    let headers: Vec<String> = all.iter().map(|c| c.header.to_string()).collect();
    let align: Vec<&str> = all
        .iter()
        .map(|c| if c.right { "--:" } else { "---" })
        .collect();
    let mut out = row(&headers);
    out.push_str(&format!("|{}|\n", align.join("|")));
    for v in &r.variants {
        let cells: Vec<String> = all.iter().map(|c| (c.cell)(v)).collect();
        out.push_str(&row(&cells));
    }
    out
}

/// A merged report: each machine's contribution to each variant, as its own report had it.
fn machines_table(r: &Report) -> String {
    if r.variants.iter().all(|v| v.machines.is_empty()) {
        return String::new();
    }
    let mut out = String::from("**Machines** (each one's own figures)\n\n");
    out.push_str("| variant | host | run | ok | failed | ok/s | op p99 | peak in use |\n");
    out.push_str("|---|---|---|--:|--:|--:|--:|--:|\n");
    for v in &r.variants {
        for m in &v.machines {
            let mut cells = vec![v.name.clone(), m.host.clone(), format!("`{}`", m.run_id)];
            cells.extend(match &m.totals {
                Some(t) => [
                    t.operations.ok.to_string(),
                    t.operations.failed.to_string(),
                    format!("{:.1}", t.throughput_ops_s),
                    crate::metric::format_ms(t.operation_p99_ms),
                ],
                None => ["-".into(), "-".into(), "-".into(), "-".into()],
            });
            cells.push(m.peak_in_use.to_string());
            out.push_str(&row(&cells));
        }
    }
    out.push('\n');
    out
}

fn failed_checks(r: &Report) -> String {
    let mut lines = Vec::new();
    for v in &r.variants {
        if let Some(a) = &v.verdict.aborted {
            lines.push(format!(
                "- `{}`: aborted after {:.2} s by `abort_on_fail`: {}",
                v.name,
                a.at_ms as f64 / 1000.0,
                a.detail
            ));
        }
        for c in v.verdict.checks.iter().filter(|c| !c.pass) {
            lines.push(format!("- `{}`: {}", v.name, verdict::describe(c)));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!("**Failed checks**\n\n{}\n\n", lines.join("\n"))
}

fn comparison(c: &Comparison) -> String {
    let verdict = match c.regressions() {
        0 => "no regression".to_string(),
        n => format!("❌ {n} regression(s)"),
    };
    let mut out = format!(
        "### Against the baseline (run `{}` → `{}`): {verdict}\n\n",
        c.base_run, c.new_run
    );
    if let Some(why) = &c.forced {
        out.push_str(&format!("Compared with `--force`, although {why}.\n\n"));
    }
    out.push_str("| variant | metric | baseline | now | change | tolerance | |\n");
    out.push_str("|---|---|--:|--:|--:|--:|---|\n");
    for v in &c.variants {
        if let Some(cells) = v.note_cells("**REGRESSION**") {
            out.push_str(&row(&cells));
        }
        for r in &v.rows {
            let mut cells = vec![v.name.clone()];
            cells.extend(r.cells());
            if r.regression {
                cells[6] = format!("**{}**", cells[6]);
            }
            out.push_str(&row(&cells));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Metric;
    use crate::report::fixtures;
    use crate::report::verdict;
    use crate::scenario::expect::{Expectation, Expectations};

    /// The Markdown of one report, without a comparison.
    fn rendered(r: &Report) -> String {
        let run = Exported {
            report: r,
            comparison: None,
            comparison_only: false,
        };
        String::from_utf8(Markdown.render(&[run], &[]).unwrap()).unwrap()
    }

    #[test]
    fn a_failed_report_names_its_failed_checks_and_escapes_cells() {
        let mut v = fixtures::variant("a | b", 10, 0, serde_json::json!({}));
        let expect = Expectations {
            abort_on_fail: false,
            checks: vec![Expectation {
                metric: Metric::Throughput,
                limit: 100.0,
            }],
        };
        verdict::apply(&mut v, &expect);
        let mut r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        verdict::settle_report(&mut r);
        let md = rendered(&r);
        assert!(md.starts_with("## ❌ stress: `s` failed"), "{md}");
        assert!(md.contains("| a \\| b |"), "{md}");
        assert!(
            md.contains("- `a | b`: throughput = 10.0 ops/s, limit ≥ 100.0 ops/s"),
            "{md}"
        );
    }

    /// Review of 2026-12-03: a variant's warnings were in no export but the JSON, and names
    /// holding markup were rendered.
    #[test]
    fn warnings_are_listed_and_markup_is_shown_not_rendered() {
        let mut v = fixtures::variant("<b>h</b>", 10, 0, serde_json::json!({}));
        v.warnings = vec!["ran on 1 of the 2 merged machines <a.json>".into()];
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let md = rendered(&r);
        assert!(md.contains("| &lt;b&gt;h&lt;/b&gt; |"), "{md}");
        assert!(
            md.contains("- ⚠️ `<b>h</b>`: ran on 1 of the 2 merged machines &lt;a.json&gt;"),
            "{md}"
        );
    }

    #[test]
    fn a_passing_run_that_regressed_says_so_in_its_heading() {
        let v = fixtures::variant("a", 10, 0, serde_json::json!({}));
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let c = Comparison {
            scenario: "s".into(),
            base_run: "r0".into(),
            new_run: "r1".into(),
            forced: None,
            variants: vec![crate::report::compare::VariantComparison {
                name: "b".into(),
                rows: Vec::new(),
                note: Some("not in this run".into()),
                missing: true,
            }],
        };
        let run = |comparison_only| Exported {
            report: &r,
            comparison: Some(&c),
            comparison_only,
        };
        let md = String::from_utf8(Markdown.render(&[run(false)], &[]).unwrap()).unwrap();
        assert!(
            md.starts_with("## ❌ stress: `s` regressed against the baseline"),
            "{md}"
        );
        assert!(md.contains("| b | - | not in this run |"), "{md}");
        assert!(md.contains("**REGRESSION**"), "{md}");
        let md = String::from_utf8(Markdown.render(&[run(true)], &[]).unwrap()).unwrap();
        assert!(md.starts_with("### Against the baseline"), "{md}");
    }

    /// Issue 10 item 4: the same columns as the terminal, anomalies and shares included.
    #[test]
    fn the_table_has_the_summary_columns() {
        let mut v = fixtures::variant("v", 12_389, 2, serde_json::json!({}));
        v.pool.connections_created = 761;
        v.pool.peak_in_use = 9;
        v.latency_ms.acquire.p99 = 0.042;
        v.anomalies.lost_writes = Some(83);
        v.anomalies.transaction_interleaved = 3;
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let md = rendered(&r);
        assert!(
            md.contains(
                "| variant | conns cap | opened | peak in use | ops | ok | failed | ok/s | op p50 \
                 | op p99 | acq p50 | acq p99 | errors | anomalies | checks |\n\
                 |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|\n\
                 | v | - | 761 | 9 | 12391 | 12389 | 2 (0.016%) | 12389 | 5.00ms | 5.00ms \
                 | 100µs | 42µs | - | lost writes 83<br>interleaved 3 | - |\n"
            ),
            "{md}"
        );
    }

    /// Issue 13: a merged report shows what each machine contributed.
    #[test]
    fn a_merged_report_has_a_row_per_machine() {
        let mut v = fixtures::variant("v", 30, 1, serde_json::json!({}));
        for (host, ok) in [("a", 10), ("b", 20)] {
            v.machines.push(crate::report::model::MachinePeaks {
                run_id: format!("run-{host}"),
                host: host.into(),
                peak_in_use: ok / 10,
                totals: Some(crate::report::model::MachineTotals {
                    operations: fixtures::variant("v", ok, ok / 20, serde_json::json!({}))
                        .operations,
                    measured_s: 1.0,
                    throughput_ops_s: ok as f64,
                    operation_p99_ms: 2.5,
                }),
                ..Default::default()
            });
        }
        let r = fixtures::report("r1", "2026-01-01T00:00:00.000Z", vec![v]);
        let md = rendered(&r);
        assert!(
            md.contains("| v | a | `run-a` | 10 | 0 | 10.0 | 2.50ms | 1 |\n"),
            "{md}"
        );
        assert!(
            md.contains("| v | b | `run-b` | 20 | 1 | 20.0 | 2.50ms | 2 |\n"),
            "{md}"
        );
        let r = fixtures::report(
            "r1",
            "2026-01-01T00:00:00.000Z",
            vec![fixtures::variant("v", 1, 0, serde_json::json!({}))],
        );
        let md = rendered(&r);
        assert!(!md.contains("**Machines**"), "{md}");
    }

    /// Issue 16: a table comparing pool models says which variant ran which; bb8's, today's
    /// default, and a variant without a pool keep their bare names.
    #[test]
    fn a_pool_model_other_than_bb8_is_named_beside_its_variant() {
        let model = |m: &str, mode: &str| serde_json::json!({ "name": "s", "pool": { "model": m }, "access": { "mode": mode } });
        let r = fixtures::report(
            "r1",
            "2026-01-01T00:00:00.000Z",
            vec![
                fixtures::variant("5 + 10", 10, 0, model("sqlalchemy", "pool")),
                fixtures::variant("bb8 15", 10, 0, model("bb8", "pool")),
                fixtures::variant("per task", 10, 0, model("asyncpg", "per_task")),
            ],
        );
        let md = rendered(&r);
        assert!(md.contains("| 5 + 10 [sqlalchemy] |"), "{md}");
        assert!(md.contains("| bb8 15 |"), "{md}");
        assert!(md.contains("| per task |"), "{md}");
        assert!(!md.contains("[bb8]") && !md.contains("[asyncpg]"), "{md}");
    }

    /// Issue 9 item 9: a run that did not run wrote an empty file.
    #[test]
    fn a_scenario_that_did_not_run_says_so_with_its_reason() {
        let f = Failure::new("a.toml", "line one\nline two");
        let md = String::from_utf8(Markdown.render(&[], &[f]).unwrap()).unwrap();
        assert_eq!(
            md,
            "## ❌ stress: `a.toml` did not run\n\n> line one\n> line two\n\n"
        );
    }
}
