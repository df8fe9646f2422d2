//! The pages in real headless Chromium (Debian's `chromium`, driven by `playwright-core` from
//! tests/browser, installed by `npm ci` there): opened from a file:// URL, no console or page
//! error, no request, every chart drawn with data points; screenshots in
//! `target/tmp/html/*.png` (CI artifacts, not committed: `.ci/run` copies them to
//! `target/ci-artifacts/html/`). Also a page of a 3,600-second run and
//! one of a 1,000-variant sweep, which must load and draw in seconds. Skips visibly (requirement
//! `chromium`) when Chromium, node or the node modules are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use stress::export::html::Html;
use stress::export::{Exported, Exporter};
use stress::report::Report;

use super::made;

/// Where check.mjs and its node modules are.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Why the browser test cannot run here, if it cannot.
fn missing() -> Option<String> {
    let chromium = std::env::var("STRESS_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing".into());
    }
    let modules = browser_dir().join("node_modules/playwright-core");
    if !modules.exists() {
        return Some(format!(
            "{} is missing (npm ci in tests/browser)",
            modules.display()
        ));
    }
    None
}

/// check.mjs's verdict on pages (`true`: keep its sections closed): a summary per page
/// (charts, problems, drawn_ms, pagers). Each page's screenshot is written beside it.
fn check(pages: &[(&Path, bool)]) -> Vec<serde_json::Value> {
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("check.mjs"));
    for (page, closed) in pages {
        if *closed {
            cmd.arg("--closed");
        }
        cmd.arg(page);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summaries: Vec<serde_json::Value> =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (page, _) in pages {
        let shot = page.with_extension("png");
        let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
        assert!(size > 10_000, "screenshot {}: {size} bytes", shot.display());
    }
    summaries
}

fn charts(summary: &serde_json::Value) -> &Vec<serde_json::Value> {
    summary["charts"].as_array().unwrap()
}

#[test]
fn every_chart_of_real_reports_is_drawn_in_chromium() {
    if let Some(why) = missing() {
        super::common::skip::skip("html::browser::every_chart", "chromium", &why);
        return;
    }
    let m = made();
    let wanted = [
        ("faults.html", 10),
        ("sweep.html", 6 + 3 * 4 + 1),
        ("merged.html", 10),
        ("compare.html", 10),
    ];
    let paths: Vec<PathBuf> = wanted.iter().map(|(p, _)| m.path(p)).collect();
    let pages: Vec<(&Path, bool)> = paths.iter().map(|p| (p.as_path(), false)).collect();
    let summaries = check(&pages);
    for ((page, at_least), summary) in wanted.iter().zip(&summaries) {
        let drawn = charts(summary)
            .iter()
            .filter(|c| c["empty"].is_null())
            .count();
        assert!(
            drawn >= *at_least,
            "{page}: {drawn} charts drawn: {summary}"
        );
    }
    let ops = charts(&summaries[0])
        .iter()
        .find(|c| c["kind"] == "ops")
        .unwrap();
    let seconds = m.report("faults.json").variants[0].timeline.len() as u64;
    assert!(ops["points"].as_u64().unwrap() >= seconds, "{ops}");
}

/// A report of one variant whose timeline is `seconds` long, its entries the real ones of
/// `v` repeated (their histograms stay real).
fn stretched(report: &Report, seconds: usize) -> Report {
    let mut r = report.clone();
    let v = &mut r.variants[0];
    let real = v.timeline.clone();
    v.timeline = (0..seconds)
        .map(|i| {
            let mut e = real[i % real.len()].clone();
            e.t_ms = (i as u64 + 1) * 1000;
            e
        })
        .collect();
    r.variants.truncate(1);
    r
}

/// A sweep of `n` points, each a copy of the first variant of `report`.
fn swept(report: &Report, n: usize) -> Report {
    let mut r = report.clone();
    let v = r.variants[0].clone();
    r.variants = (1..=n)
        .map(|i| {
            let mut v = v.clone();
            v.name = format!("pool.max_size={i}");
            v
        })
        .collect();
    r
}

fn write_page(report: &Report, path: &Path) -> u64 {
    let run = Exported {
        report,
        comparison: None,
        comparison_only: false,
    };
    let bytes = Html.render(&[run], &[]).unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes.len() as u64
}

#[test]
fn an_hour_long_run_and_a_thousand_variants_stay_usable() {
    let m = made();
    let hour = m.path("hour.html");
    let size = write_page(&stretched(&m.report("faults.json"), 3600), &hour);
    assert!(size < 2_000_000, "an hour-long run's page is {size} bytes");
    let sweep = m.path("thousand.html");
    let size = write_page(&swept(&m.report("sweep.json"), 1000), &sweep);
    assert!(size < 8_000_000, "a 1,000-variant page is {size} bytes");
    if let Some(why) = missing() {
        super::common::skip::skip("html::browser::an_hour_long_run", "chromium", &why);
        return;
    }
    let summaries = check(&[(&hour, false), (&sweep, true)]);
    let summary = &summaries[0];
    let ops = charts(summary).iter().find(|c| c["kind"] == "ops").unwrap();
    assert!(ops["points"].as_u64().unwrap() >= 3600, "{ops}");
    // Wide margins: a loaded 2-core machine (the page itself is static).
    assert!(
        summary["drawn_ms"].as_u64().unwrap() < 30_000,
        "{}",
        summary["drawn_ms"]
    );
    let summary = &summaries[1];
    assert!(
        summary["pagers"].as_u64().unwrap() >= 1,
        "the tables are paged"
    );
    let compared = charts(summary)
        .iter()
        .find(|c| c["kind"] == "compare-throughput")
        .unwrap();
    assert_eq!(compared["points"], 1000);
    assert!(
        summary["drawn_ms"].as_u64().unwrap() < 30_000,
        "{}",
        summary["drawn_ms"]
    );
}
