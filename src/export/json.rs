//! The JSON report: the exporter that always runs (one file per scenario). Reading a report
//! back (`--baseline`, `compare`, `merge`, `report`) is [`crate::report::json`].

use std::path::Path;

use super::{ExportError, Exported, Exporter, Failure};
use crate::report::model::Report;

/// The JSON report, pretty-printed; one report per file.
pub(crate) struct Json;

impl Exporter for Json {
    fn format(&self) -> &'static str {
        "JSON"
    }

    fn render(&self, runs: &[Exported<'_>], _failures: &[Failure]) -> Result<Vec<u8>, ExportError> {
        let [run] = runs else {
            return Err(ExportError::Render {
                format: "JSON",
                message: format!("one report per JSON file, not {}", runs.len()),
            });
        };
        let mut bytes = serde_json::to_vec_pretty(run.report).map_err(|e| ExportError::Render {
            format: "JSON",
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// Writes `report` as pretty JSON to `path` (atomically), creating the directory if needed.
pub fn write(report: &Report, path: &Path) -> Result<(), ExportError> {
    let run = Exported {
        report,
        comparison: None,
        comparison_only: false,
    };
    super::export(&Json, &[run], &[], path)
}
