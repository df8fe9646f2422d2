//! The page's tables, as HTML: the variants side by side (the terminal summary's
//! [`columns`](super::super::columns)), the checks with limits and values, the cheapest
//! configuration, the deltas against a baseline, and a merged report's machines. Tables with
//! many rows carry the class `paged`: the script shows them a page at a time (all of them in
//! print). Every cell is text, escaped by `maud`.

use maud::{Markup, html};

use super::super::columns::{self, Column};
use crate::report::compare::Comparison;
use crate::report::model::{Report, VariantReport};
use crate::report::verdict;

/// Rows above which a table is paged by the script.
pub(crate) const PAGE_ROWS: usize = 50;

/// Text whose lines become `<br>`-separated lines of a cell.
fn lines(text: &str) -> Markup {
    html! {
        @for (i, line) in text.lines().enumerate() {
            @if i > 0 { br; }
            (line)
        }
    }
}

fn paged(rows: usize) -> &'static str {
    if rows > PAGE_ROWS { "paged" } else { "" }
}

/// The variants' table: one row per variant, the summary's columns. Each cell carries its
/// column (`data-col`) so that readers and tests find the numbers.
pub(crate) fn variants(r: &Report) -> Markup {
    let all: Vec<&Column> = std::iter::once(&columns::VARIANT)
        .chain(columns::GROUPS.iter().flat_map(|g| g.iter()))
        .collect();
    html! {
        table.variants.(paged(r.variants.len())) {
            thead { tr { @for c in &all { th.num[c.right] scope="col" { (c.header) } } } }
            tbody {
                @for v in &r.variants {
                    tr {
                        @for c in &all {
                            td.num[c.right] data-col=(c.header) { (lines(&(c.cell)(v))) }
                        }
                    }
                }
            }
        }
    }
}

/// Every check of every variant: metric, bound, limit, value, result.
pub(crate) fn checks(r: &Report) -> Markup {
    let rows: Vec<(&VariantReport, &crate::report::model::Check)> = r
        .variants
        .iter()
        .flat_map(|v| v.verdict.checks.iter().map(move |c| (v, c)))
        .collect();
    if rows.is_empty() {
        return html! { p.none { "No expectations ([expect]) in this scenario." } };
    }
    html! {
        table.checks.(paged(rows.len())) {
            thead { tr { th scope="col" { "variant" } th scope="col" { "check" } th scope="col" { "result" } } }
            tbody {
                @for (v, c) in &rows {
                    tr.fail[!c.pass] {
                        td { (v.name) }
                        td { (verdict::describe(c)) }
                        td { @if c.pass { "pass" } @else { strong { "FAIL" } } }
                    }
                }
            }
        }
        @for v in &r.variants {
            @if let Some(a) = &v.verdict.aborted {
                p.fail { (v.name) ": aborted after " (format!("{:.2}", a.at_ms as f64 / 1000.0))
                    " s by abort_on_fail: " (a.detail) }
            }
        }
    }
}

/// The cheapest configuration that met the expectations, or why none did.
pub(crate) fn cheapest(r: &Report) -> Markup {
    let Some(c) = &r.verdict.cheapest else {
        return html! {};
    };
    html! {
        p.cheapest {
            @match &c.variant {
                Some(name) => {
                    strong { "Cheapest configuration meeting the expectations: " }
                    code { (name) } ", " (c.connections.unwrap_or(0)) " connection(s). " (c.detail)
                }
                None => { strong { "No configuration met the expectations: " } (c.detail) }
            }
        }
    }
}

/// The deltas against the baseline, regressions marked.
pub(crate) fn deltas(c: &Comparison) -> Markup {
    let mut rows: Vec<(bool, Vec<String>)> = Vec::new();
    for v in &c.variants {
        rows.extend(v.note_cells("REGRESSION").map(|cells| (v.missing, cells)));
        for r in &v.rows {
            let cells = std::iter::once(v.name.clone()).chain(r.cells()).collect();
            rows.push((r.regression, cells));
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
    html! {
        p {
            "Baseline run " code { (c.base_run) } " → run " code { (c.new_run) } ": "
            @match c.regressions() {
                0 => "no regression.",
                n => strong.fail { (n) " regression(s)." },
            }
            @if let Some(why) = &c.forced { " Compared with --force, although " (why) "." }
        }
        table.deltas.(paged(rows.len())) {
            thead { tr { @for (i, h) in headers.iter().enumerate() { th.num[(2..=5).contains(&i)] scope="col" { (h) } } } }
            tbody {
                @for (regression, cells) in &rows {
                    tr.fail[*regression] {
                        @for (i, cell) in cells.iter().enumerate() {
                            td.num[(2..=5).contains(&i)] { (cell) }
                        }
                    }
                }
            }
        }
    }
}

/// A merged report: the reports it was made from, and per variant each machine's
/// contribution (its own operations, throughput and p99) and peaks.
pub(crate) fn machines(r: &Report) -> Markup {
    if r.merged_from.is_empty() {
        return html! {};
    }
    let num = |x: Option<String>| x.unwrap_or_else(|| "-".into());
    let rows: usize = r.variants.iter().map(|v| v.machines.len()).sum();
    html! {
        h3 { "Machines" }
        p.note { "Each machine's own figures: their ok and failed add up to the merged totals; "
            "peaks are each machine's (they need not have coincided), p99 and ok/s over its own "
            "measured phase." }
        table.sources {
            thead { tr { th scope="col" { "host" } th scope="col" { "run id" } th scope="col" { "started" } th scope="col" { "report" } } }
            tbody { @for s in &r.merged_from { tr { td { (s.host) } td { code { (s.run_id) } } td { (s.started_at) } td { (s.file) } } } }
        }
        table.peaks.(paged(rows)) {
            thead { tr {
                th scope="col" { "variant" } th scope="col" { "host" } th scope="col" { "run id" }
                th.num scope="col" { "ok" } th.num scope="col" { "failed" }
                th.num scope="col" { "ok/s" } th.num scope="col" { "p99" }
                th.num scope="col" { "peak in use" } th.num scope="col" { "peak waiting" }
                th.num scope="col" { "peak backends" } th.num scope="col" { "peak idle in txn" }
            } }
            tbody {
                @for v in &r.variants { @for m in &v.machines { tr {
                    @let t = m.totals.as_ref();
                    td { (v.name) } td { (m.host) } td { code { (m.run_id) } }
                    td.num data-col="ok" { (num(t.map(|t| t.operations.ok.to_string()))) }
                    td.num data-col="failed" { (num(t.map(|t| t.operations.failed.to_string()))) }
                    td.num data-col="ok/s" { (num(t.map(|t| format!("{:.1}", t.throughput_ops_s)))) }
                    td.num data-col="p99" { (num(t.map(|t| crate::metric::format_ms(t.operation_p99_ms)))) }
                    td.num { (m.peak_in_use) } td.num { (m.peak_waiting) }
                    td.num { (m.peak_backends) } td.num { (m.peak_idle_in_transaction) }
                } } }
            }
        }
    }
}

/// A variant's faults: when each was due and fired, what it did, its window.
pub(crate) fn faults(v: &VariantReport) -> Markup {
    if v.faults.is_empty() {
        return html! {};
    }
    html! {
        table.faults {
            thead { tr {
                th scope="col" { "fault" } th.num scope="col" { "due" } th.num scope="col" { "fired" }
                th.num scope="col" { "in flight" } th scope="col" { "what it did" } th scope="col" { "its window" }
            } }
            tbody { @for f in &v.faults { tr {
                td { (f.kind) }
                td.num { (format!("{:.3} s", f.scheduled_ms as f64 / 1000.0)) }
                td.num { (format!("{:.3} s", f.at_ms as f64 / 1000.0)) }
                td.num { (f.in_flight) }
                td { (f.detail) }
                td { @if let Some(e) = &f.effect {
                    (format!("{:.0} ms, {} failed, {} of {} task(s) recovered: {}",
                        e.lasted_ms, e.failed, e.tasks_recovered, e.tasks, e.recovered_by))
                } @else { "-" } }
            } } }
        }
    }
}
