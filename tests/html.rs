//! The HTML report (`--html`) of real reports: a run with faults, a sweep, a merged report (two
//! concurrent runs) and a comparison, each rendered by the binary, parsed with a browser-grade
//! parser (scraper, html5ever) and checked: self-contained (no script, style or link fetched
//! from anywhere; no URL in `src` or `href` but in-page anchors), well-formed, and showing
//! the report's own numbers (the table's totals and the embedded chart data equal the
//! report's). The browser test (`tests/browser/check.mjs`, real headless Chromium) opens the
//! same pages and a 3,600-second and a 1,000-variant page; it skips visibly without Chromium
//! or `npm ci` in tests/browser.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use scraper::{Html, Selector};
use stress::report::Report;
use stress::report::json;

/// Closed model, two faults: a pool closed and reopened (a window with a duration), then every
/// backend terminated.
fn faulty() -> String {
    pooled_sleep("html-faults", "4s", "0.02") + FAULTY_FAULTS
}

const FAULTY_FAULTS: &str = r#"
[[fault]]
kind = "close_pool"
at = "1s"
reopen_after = "500ms"
[[fault]]
kind = "terminate_backends"
at = "2500ms"
fraction = 1.0
"#;

/// A sweep of one key with a check on each point.
const SWEEP: &str = r#"
name = "html-sweep"
[load]
tasks = 4
duration = "1500ms"
[sweep]
pool.max_size = [1, 2, 4]
[[workload]]
name = "query"
[[workload.step]]
sql = "SELECT pg_sleep(0.01)"
[expect]
operation.p99 = "5s"
"#;

/// What the fixtures made: reports and their pages.
struct Made {
    dir: PathBuf,
}

impl Made {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn report(&self, name: &str) -> Report {
        json::read(&self.path(name)).unwrap()
    }
    fn page(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

fn stress(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("stress"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// `stress run FILE --database-url URL --out OUT --html HTML`.
fn run(url: &str, file: &Path, out: &Path, html: Option<&Path>) {
    let mut args = vec![
        os("run"),
        file.as_os_str(),
        os("--quiet"),
        os("--database-url"),
        os(url),
        os("--out"),
        out.as_os_str(),
    ];
    if let Some(h) = html {
        args.extend([os("--html"), h.as_os_str()]);
    }
    let (code, text) = stress(&args);
    assert!(code == 0 || code == 1, "{text}");
}

/// Runs every fixture once for the whole binary: a faulty run, a sweep, two concurrent runs
/// merged, and a comparison of those two.
fn made() -> &'static Made {
    static MADE: OnceLock<Made> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = Made { dir };
        for (name, text) in [("faults", faulty()), ("sweep", SWEEP.to_string())] {
            let file = m.path(&format!("{name}.toml"));
            std::fs::write(&file, text).unwrap();
            let url = database(&format!("html_{name}"));
            let _one_at_a_time = load_lock();
            let out = m.path(&format!("{name}.json"));
            run(&url, &file, &out, Some(&m.path(&format!("{name}.html"))));
        }
        merged_and_compared(&m);
        m
    })
}

fn merged_and_compared(m: &Made) {
    let file = m.path("sweep.toml");
    let url = database("html_merge");
    {
        let _one_at_a_time = load_lock();
        // Two machines at the same time: both processes started before either is awaited.
        let children: Vec<_> = ["a.json", "b.json"]
            .iter()
            .map(|out| {
                Command::new(assert_cmd::cargo::cargo_bin("stress"))
                    .args([os("run"), file.as_os_str(), os("--quiet")])
                    .args([
                        "--database-url",
                        &url,
                        "--variant",
                        "pool.max_size=2",
                        "--out",
                    ])
                    .arg(m.path(out))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let (a, b) = (m.path("a.json"), m.path("b.json"));
    let (code, text) = stress(&[
        os("merge"),
        a.as_os_str(),
        b.as_os_str(),
        os("--out"),
        m.path("merged.json").as_os_str(),
        os("--html"),
        m.path("merged.html").as_os_str(),
    ]);
    assert!(code == 0 || code == 1, "{text}");
    let (code, text) = stress(&[
        os("compare"),
        a.as_os_str(),
        b.as_os_str(),
        os("--html"),
        m.path("compare.html").as_os_str(),
    ]);
    assert!(code == 0 || code == 1, "{text}");
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// Parses the page: well-formed (no parse error), and self-contained.
fn parse(page: &str) -> Html {
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "parse errors: {:?}", doc.errors);
    for el in doc.select(&sel("[src], [href]")) {
        for attr in ["src", "href"] {
            if let Some(v) = el.value().attr(attr) {
                assert!(v.starts_with('#'), "{attr}={v:?} fetches something");
            }
        }
    }
    assert_eq!(doc.select(&sel("link")).count(), 0, "no <link>");
    let lower = page.to_lowercase();
    for url in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(http",
        "url(//",
        "url('http",
        "url('//",
        "url(\"http",
        "url(\"//",
    ] {
        assert!(!lower.contains(url), "{url} in the page");
    }
    doc
}

/// The embedded chart data.
fn data(doc: &Html) -> serde_json::Value {
    let block = doc.select(&sel("script#stress-data")).next().unwrap();
    serde_json::from_str(&block.inner_html()).unwrap()
}

/// The variants' table shows each variant's totals, and the chart data adds up to them.
fn assert_shows(doc: &Html, report: &Report, scenario: usize) {
    let section = doc
        .select(&sel(&format!("section#s{scenario}")))
        .next()
        .unwrap();
    let cell = |row: scraper::ElementRef, col: &str| -> String {
        let s = sel(&format!("td[data-col=\"{col}\"]"));
        row.select(&s).next().unwrap().text().collect()
    };
    let rows: Vec<_> = section.select(&sel("table.variants tbody tr")).collect();
    assert_eq!(rows.len(), report.variants.len());
    let data = data(doc);
    for (row, (i, v)) in rows.into_iter().zip(report.variants.iter().enumerate()) {
        assert_eq!(cell(row, "variant"), v.name);
        assert_eq!(cell(row, "ops"), v.operations.total.to_string());
        assert_eq!(cell(row, "ok"), v.operations.ok.to_string());
        let failed = cell(row, "failed");
        assert_eq!(
            failed.split(' ').next().unwrap(),
            v.operations.failed.to_string()
        );
        let series = &data["scenarios"][scenario]["variants"][i]["series"];
        let sum = |col: &serde_json::Value| -> u64 {
            col.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .sum()
        };
        assert_eq!(sum(&series["ok"]), v.operations.ok, "{}", v.name);
        let failed: u64 = series["failed"]
            .as_object()
            .unwrap()
            .values()
            .map(sum)
            .sum();
        assert_eq!(failed, v.operations.failed, "{}", v.name);
        assert_eq!(series["t"].as_array().unwrap().len(), v.timeline.len());
    }
}

#[test]
fn a_run_with_faults_shows_its_totals_and_its_fault_windows() {
    let m = made();
    let report = m.report("faults.json");
    let doc = parse(&m.page("faults.html"));
    assert_shows(&doc, &report, 0);
    let v = &report.variants[0];
    assert_eq!(v.faults.len(), 2, "both faults fired");
    let marks = &data(&doc)["scenarios"][0]["variants"][0]["faults"];
    let marks = marks.as_array().unwrap();
    assert_eq!(marks.len(), 2);
    assert!(
        marks[0]["label"]
            .as_str()
            .unwrap()
            .starts_with("close_pool @1.")
    );
    let (from, to) = (
        marks[0]["from_s"].as_f64().unwrap(),
        marks[0]["to_s"].as_f64(),
    );
    assert!(
        to.is_some_and(|to| to >= from + 0.5),
        "the reopen_after window: {marks:?}"
    );
    let faults: Vec<String> = doc
        .select(&sel("table.faults tbody tr td:first-child"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(faults, ["close_pool", "terminate_backends"]);
    for kind in ["ops", "latency", "pool", "backends"] {
        let chart = sel(&format!("details.variant .chart[data-kind=\"{kind}\"]"));
        assert_eq!(doc.select(&chart).count(), 1, "{kind}");
    }
    let header: String = doc.select(&sel("dl.meta")).next().unwrap().text().collect();
    assert!(header.contains(&report.run_id) && header.contains(&report.database.server_version));
    let findings: String = doc
        .select(&sel("details.findings"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(findings.contains(&v.diagnosis[0].finding), "{findings}");
}

/// `stress report` renders a saved report into the page of the run that wrote it.
#[test]
fn a_saved_report_renders_to_the_page_of_its_run() {
    let m = made();
    let again = m.path("faults-again.html");
    let (code, text) = stress(&[
        os("report"),
        m.path("faults.json").as_os_str(),
        os("--html"),
        again.as_os_str(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("Scenario") || text.contains("html-faults"),
        "{text}"
    );
    let (again, first) = (
        parse(&m.page("faults-again.html")),
        parse(&m.page("faults.html")),
    );
    let main = |doc: &Html| doc.select(&sel("main")).next().unwrap().html();
    assert_eq!(main(&again), main(&first), "the same tables and text");
    // Numbers read back from JSON may differ in their last bit (serde_json's default parser).
    assert_close(&data(&again), &data(&first));
}

/// `stress report` of several files: one page, a section per report, each with its own totals.
#[test]
fn several_saved_reports_render_to_one_page() {
    let m = made();
    let page = m.path("several.html");
    let files = ["faults.json", "sweep.json", "merged.json"];
    let mut args = vec![os("report")];
    let paths: Vec<PathBuf> = files.iter().map(|f| m.path(f)).collect();
    args.extend(paths.iter().map(|p| p.as_os_str()));
    args.extend([os("--html"), page.as_os_str()]);
    let (code, text) = stress(&args);
    assert_eq!(code, 0, "{text}");
    let doc = parse(&m.page("several.html"));
    assert_eq!(doc.select(&sel("section.scenario")).count(), files.len());
    let scenarios = &data(&doc)["scenarios"];
    assert_eq!(scenarios.as_array().unwrap().len(), files.len());
    for (i, file) in files.iter().enumerate() {
        let report = m.report(file);
        assert_shows(&doc, &report, i);
        assert_eq!(scenarios[i]["name"], report.scenario.name.as_str());
        let header: String = doc
            .select(&sel(&format!("section#s{i} dl.meta")))
            .next()
            .unwrap()
            .text()
            .collect();
        assert!(header.contains(&report.run_id), "{file}: {header}");
    }
    let machines = doc.select(&sel("section#s2 table.peaks")).count();
    assert_eq!(
        machines, 1,
        "the merged report's machines, in its own section"
    );
}

/// Two JSON values alike, their numbers within a relative 1e-9.
fn assert_close(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()), "{x} vs {y}");
        }
        (Array(x), Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| assert_close(x, y));
        }
        (Object(x), Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.values()
                .zip(y.values())
                .for_each(|(x, y)| assert_close(x, y));
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn a_sweep_shows_every_point_and_its_metric_against_the_swept_value() {
    let m = made();
    let report = m.report("sweep.json");
    assert_eq!(report.variants.len(), 3);
    let doc = parse(&m.page("sweep.html"));
    assert_shows(&doc, &report, 0);
    let sweep = &data(&doc)["scenarios"][0]["sweep"];
    assert_eq!(sweep["key"], "pool.max_size");
    assert_eq!(sweep["values"], serde_json::json!([1.0, 2.0, 4.0]));
    assert_eq!(sweep["metrics"][0]["metric"], "operation.p99");
    assert_eq!(sweep["metrics"][0]["limit"], 5000.0);
    let checks = doc.select(&sel("table.checks tbody tr")).count();
    assert_eq!(checks, 3, "one check per point");
    let spectra = &data(&doc)["scenarios"][0]["spectra"];
    assert_eq!(spectra["operation"].as_array().unwrap().len(), 3);
    // Every point met `[expect]`: the page names the cheapest, as the report does.
    let cheapest = report.verdict.cheapest.as_ref().expect("a cheapest");
    let name = cheapest.variant.as_deref().expect("a point met [expect]");
    let shown = doc.select(&sel("p.cheapest")).next().expect("p.cheapest");
    let code: String = shown.select(&sel("code")).next().unwrap().text().collect();
    assert_eq!(code, name);
    let text: String = shown.text().collect();
    let connections = cheapest.connections.unwrap();
    assert!(
        text.contains(&format!("{connections} connection(s)")),
        "{text}"
    );
}

#[test]
fn a_merged_report_shows_each_machine() {
    let m = made();
    let report = m.report("merged.json");
    let doc = parse(&m.page("merged.html"));
    assert_shows(&doc, &report, 0);
    let hosts = doc.select(&sel("table.sources tbody tr")).count();
    assert_eq!(hosts, 2);
    let rows: Vec<_> = doc.select(&sel("table.peaks tbody tr")).collect();
    assert_eq!(rows.len(), 2, "one row per machine of the one variant");
    let text = |row: &scraper::ElementRef, s: &str| -> String {
        row.select(&sel(s)).next().unwrap().text().collect()
    };
    // Each machine's row carries that machine's own figures, from its own report.
    for input in ["a.json", "b.json"] {
        let machine = m.report(input);
        let v = &machine.variants[0];
        let row = rows
            .iter()
            .find(|row| text(row, "td code") == machine.run_id)
            .unwrap_or_else(|| panic!("no row for {}", machine.run_id));
        assert_eq!(
            text(row, "td[data-col=\"ok\"]"),
            v.operations.ok.to_string()
        );
        assert_eq!(
            text(row, "td[data-col=\"failed\"]"),
            v.operations.failed.to_string()
        );
        assert_eq!(
            text(row, "td[data-col=\"ok/s\"]"),
            format!("{:.1}", v.throughput_ops_s)
        );
    }
    let ok: u64 = rows
        .iter()
        .map(|row| text(row, "td[data-col=\"ok\"]").parse::<u64>().unwrap())
        .sum();
    assert_eq!(ok, report.variants[0].operations.ok, "the machines add up");
}

#[test]
fn a_comparison_shows_the_deltas() {
    let m = made();
    let new = m.report("b.json");
    let doc = parse(&m.page("compare.html"));
    assert_shows(&doc, &new, 0);
    let rows: Vec<Vec<String>> = doc
        .select(&sel("table.deltas tbody tr"))
        .map(|tr| {
            tr.select(&sel("td"))
                .map(|td| td.text().collect())
                .collect()
        })
        .collect();
    assert!(rows.len() >= 5, "{} delta rows", rows.len());
    // The throughput row is the two reports' difference.
    let (base, now) = (
        m.report("a.json").variants[0].throughput_ops_s,
        new.variants[0].throughput_ops_s,
    );
    let row = rows
        .iter()
        .find(|cells| cells[1] == "throughput")
        .expect("a throughput row");
    let throughput = stress::metric::Metric::Throughput;
    assert_eq!(row[0], new.variants[0].name);
    assert_eq!(row[2], throughput.format(base));
    assert_eq!(row[3], throughput.format(now));
    assert_eq!(row[4], format!("{:+.1}%", (now - base) / base * 100.0));
    let text: String = doc
        .select(&sel("section#s0"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(text.contains("Against the baseline") && text.contains(&new.run_id));
}

/// A command that produced no report still writes a page that says why.
#[test]
fn a_report_that_cannot_be_read_is_a_page_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"schema_version\": 1}").unwrap();
    let html = dir.path().join("r.html");
    let (code, text) = stress(&[
        os("report"),
        bad.as_os_str(),
        os("--html"),
        html.as_os_str(),
    ]);
    assert_eq!(code, 2, "{text}");
    let doc = parse(&std::fs::read_to_string(&html).unwrap());
    let shown: String = doc
        .select(&sel("section.not-run"))
        .next()
        .unwrap()
        .text()
        .collect();
    assert!(shown.contains("not a stress report"), "{shown}");
}

#[path = "html/browser.rs"]
mod browser;
