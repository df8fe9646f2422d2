//! The page's skeleton: the document (styles and scripts inline, the chart data as a JSON
//! block), and per scenario its header (what ran, when, where, the verdict, the findings with
//! their advice), the variants side by side, the distributions, the checks and deltas, and a
//! collapsible section per variant with its time series. Charts are empty `div.chart`s named by
//! `data-*` attributes; the script draws them (a variant's when its section opens).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::super::{Exported, Failure};
use super::tables;
use crate::report::model::{Report, VariantReport};

/// uPlot, vendored (see `vendor/uplot/VERSION` and `refresh.sh`).
const UPLOT_JS: &str = include_str!("../../../vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../vendor/uplot/uPlot.min.css");
const PAGE_JS: &str = include_str!("assets/report.js");
const PAGE_CSS: &str = include_str!("assets/report.css");

/// Variant sections open (and their charts drawn) at load when there are at most this many.
const OPEN_VARIANTS: usize = 4;

/// The whole document. `data` is the charts' JSON ([`super::data`]).
pub(crate) fn document(runs: &[Exported<'_>], failures: &[Failure], data: &str) -> Markup {
    let title = match runs {
        [one] => format!("stress: {}", one.report.scenario.name),
        _ => format!("stress: {} report(s)", runs.len()),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(format!("stress {}", env!("CARGO_PKG_VERSION")));
                title { (title) }
                style { (PreEscaped(UPLOT_CSS)) }
                style { (PreEscaped(PAGE_CSS)) }
            }
            body {
                header.page { h1 { (title) } }
                noscript { p.note { "The charts need JavaScript; every table reads without it." } }
                main {
                    @for f in failures { (not_run(f)) }
                    @for (i, run) in runs.iter().enumerate() { (scenario(i, run)) }
                }
                script #stress-data type="application/json" { (PreEscaped(data)) }
                script { (PreEscaped(UPLOT_JS)) }
                script { (PreEscaped(PAGE_JS)) }
            }
        }
    }
}

/// A scenario that produced no report, and why.
fn not_run(f: &Failure) -> Markup {
    html! {
        section.scenario.not-run {
            h2 { (f.name) " did not run" }
            pre { (f.reason) }
        }
    }
}

fn scenario(i: usize, run: &Exported<'_>) -> Markup {
    let r = run.report;
    html! {
        section.scenario id=(format!("s{i}")) data-scenario=(i) {
            (header(r, run))
            (tables::machines(r))
            h3 { "Variants" }
            (tables::variants(r))
            div.charts {
                @for kind in ["compare-throughput", "compare-latency", "compare-errors", "compare-connections"] {
                    div.chart data-scenario=(i) data-kind=(kind) {}
                }
                div.chart data-scenario=(i) data-kind="sweep" {}
            }
            h3 { "Latency distribution" }
            p.note { "Percentile spectrum from each variant's HdrHistogram: latency against "
                "1/(1−q) on a log axis (p50, p90, p99, p99.9, ...), every variant overlaid." }
            div.charts {
                div.chart data-scenario=(i) data-kind="spectrum-operation" {}
                div.chart data-scenario=(i) data-kind="spectrum-acquire" {}
            }
            h3 { "Checks" }
            (tables::checks(r))
            (tables::cheapest(r))
            @if let Some(c) = run.comparison {
                h3 { "Against the baseline" }
                (tables::deltas(c))
            }
            h3 { "Per variant" }
            @for (j, v) in r.variants.iter().enumerate() {
                (variant(i, j, v, r.variants.len() <= OPEN_VARIANTS))
            }
        }
    }
}

/// What ran, when and where, the verdict, and the findings.
fn header(r: &Report, run: &Exported<'_>) -> Markup {
    let regressions = run.comparison.map_or(0, |c| c.regressions());
    let (class, word) = match (r.interrupted, r.verdict.pass, regressions) {
        (true, _, _) => ("warn", "INTERRUPTED: partial results"),
        (false, true, 0) => ("pass", "PASS"),
        (false, true, _) => ("fail", "REGRESSED against the baseline"),
        (false, false, _) => ("fail", "FAIL"),
    };
    let db = &r.database;
    let env = &r.environment;
    html! {
        h2 { "Scenario " code { (r.scenario.name) } " " span.verdict.(class) { (word) } }
        @if let Some(d) = &r.scenario.description { p.description { (d) } }
        dl.meta {
            dt { "run id" } dd { code { (r.run_id) } }
            dt { "started" } dd { (r.started_at) }
            dt { "scenario file" } dd { (r.scenario.file) }
            dt { "database" } dd { (db.source) ", PostgreSQL " (db.server_version) ", max_connections "
                (db.max_connections) " (" (db.superuser_reserved_connections) " reserved)" }
            dt { "machine" } dd { (env.host) ", " (env.cores) " cores, " (env.os) ", stress " (env.stress_version) }
            dt { "settings" } dd { code { (r.scenario.settings_sha256.get(..12).unwrap_or("")) } }
        }
        (findings(r))
    }
}

/// Each variant's findings with their advice; collapsed when there are many variants.
fn findings(r: &Report) -> Markup {
    html! {
        details.findings open[r.variants.len() <= OPEN_VARIANTS * 5] {
            summary { h3 { "Findings" } }
            @for v in &r.variants {
                h4 { (super::super::columns::label(v)) }
                ul {
                    // The run's own caveats (a variant on some machines only, a merge forced
                    // across settings, a failed teardown): review of 2026-12-03.
                    @for w in &v.warnings {
                        li.problem { strong { "warning" } ": " (w) }
                    }
                    @for f in &v.diagnosis {
                        li.(finding_class(&f.class)) {
                            strong { (f.class) } ": " (f.finding)
                            @if !f.advice.is_empty() { br; span.advice { "Advice: " (f.advice) } }
                        }
                    }
                }
            }
        }
    }
}

fn finding_class(class: &str) -> &'static str {
    match class {
        "clean" => "clean",
        "not_measured" | "comparison" => "neutral",
        _ => "problem",
    }
}

/// A variant's collapsible section: its faults, and its time series (drawn when opened).
fn variant(i: usize, j: usize, v: &VariantReport, open: bool) -> Markup {
    html! {
        details.variant open[open] data-scenario=(i) data-variant=(j) {
            summary { (super::super::columns::label(v)) ": " (v.operations.ok) " ok, " (v.operations.failed) " failed, "
                (v.faults.len()) " fault(s)" }
            (tables::faults(v))
            @if !v.faults.is_empty() || v.outages.as_ref().is_some_and(|o| !o.windows.is_empty()) {
                p.note { "Dashed line: when a fault fired; shaded: its window, to the last affected "
                    "task's recovery; dark strip at the bottom: outage windows (bursts of failures). "
                    "Each point is the second that ends there." }
            }
            @if v.timeline.is_empty() {
                p.none { "No timeline: nothing was measured." }
            } @else {
                div.charts {
                    @for kind in ["ops", "latency", "pool", "backends"] {
                        div.chart data-scenario=(i) data-variant=(j) data-kind=(kind) {}
                    }
                }
            }
        }
    }
}
