//! The JSON report: the exporter that always runs (one file per scenario), and reading a
//! report back (`--baseline`, `compare`, `merge`).

use std::path::Path;

use super::export::{self, ExportError, Exported, Exporter};
use super::model::Report;

/// The JSON report, pretty-printed; one report per file.
pub struct Json;

impl Exporter for Json {
    fn format(&self) -> &'static str {
        "JSON"
    }

    fn render(&self, runs: &[Exported<'_>]) -> Result<Vec<u8>, ExportError> {
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
    export::export(&Json, &[run], path)
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a stress report: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a report.
pub fn read(path: &Path) -> Result<Report, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReadError::Parse {
        path: path.to_path_buf(),
        source,
    })
}
