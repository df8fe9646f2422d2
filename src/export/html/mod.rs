//! The HTML report (`--html PATH`, `stress report FILE.json... --html PATH`): one
//! self-contained page per command, its styles, scripts and data inline, nothing fetched when
//! it is opened (readable offline and as a CI artifact).
//!
//! The page ([`page`]) holds per scenario its header, verdict and findings, the variants'
//! table and the charts that compare them, the latency spectra, the checks, the cheapest
//! configuration, the deltas against a baseline, a merged report's machines, and per variant
//! its time series with the fault windows shaded and labelled. Tables are HTML ([`tables`]);
//! charts are drawn by the vendored uPlot (`vendor/uplot/`, included at compile time) from a
//! JSON block of data computed here ([`data`], [`spectrum`]), by the script in
//! `assets/report.js` (no framework, no build step).

mod data;
mod page;
mod spectrum;
mod tables;

use super::{ExportError, Exported, Exporter, Failure};

/// The HTML exporter.
pub struct Html;

impl Exporter for Html {
    fn format(&self) -> &'static str {
        "HTML"
    }

    fn render(&self, runs: &[Exported<'_>], failures: &[Failure]) -> Result<Vec<u8>, ExportError> {
        let reports: Vec<_> = runs.iter().map(|r| r.report).collect();
        let json =
            serde_json::to_string(&data::page(&reports)).map_err(|e| ExportError::Render {
                format: "HTML",
                message: e.to_string(),
            })?;
        // Inside <script>, `</script>` would end the block: `<` is only ever in JSON strings,
        // where `\u003c` means the same.
        let json = json.replace('<', "\\u003c");
        Ok(page::document(runs, failures, &json)
            .into_string()
            .into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures;

    fn page(r: &crate::report::Report, failures: &[Failure]) -> String {
        let run = Exported {
            report: r,
            comparison: None,
            comparison_only: false,
        };
        String::from_utf8(Html.render(&[run], failures).unwrap()).unwrap()
    }

    /// Issue 16: a variant's header (its findings, its section) names its pool model unless it
    /// is bb8's.
    #[test]
    fn a_variant_header_names_its_pool_model() {
        let model = |m: &str| serde_json::json!({ "name": "s", "pool": { "model": m } });
        let r = fixtures::report(
            "r1",
            "2026-01-01T00:00:00.000Z",
            vec![
                fixtures::variant("small", 3, 0, model("psycopg")),
                fixtures::variant("large", 3, 0, model("bb8")),
            ],
        );
        let html = page(&r, &[]);
        assert!(html.contains("<h4>small [psycopg]</h4>"), "{html}");
        assert!(html.contains("<summary>small [psycopg]: 3 ok"), "{html}");
        assert!(html.contains("<h4>large</h4>"), "{html}");
    }

    /// A name or a message is text, never markup: not in the tables, not in the data block.
    #[test]
    fn names_and_messages_cannot_break_out_of_the_page() {
        let evil = "</script><script>alert(1)</script><b>";
        let mut r = fixtures::report(
            "r1",
            "2026-01-01T00:00:00.000Z",
            vec![fixtures::variant(evil, 3, 0, serde_json::json!({}))],
        );
        r.scenario.name = evil.into();
        r.variants[0].warnings = vec![format!("ran on 1 of the 2 machines {evil}")];
        let html = page(&r, &[Failure::new(evil, "refused <&>")]);
        // Review of 2026-12-03: a variant's warnings were on no page.
        assert!(
            html.contains("warning</strong>: ran on 1 of the 2 machines &lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
            "escaped in the markup"
        );
        assert!(
            html.contains("\\u003c/script>\\u003cscript>alert(1)"),
            "escaped in the data"
        );
        assert!(html.contains("refused &lt;&amp;&gt;"));
        assert_eq!(
            html.matches("<script").count(),
            3,
            "data, uPlot, the page's script"
        );
    }
}
