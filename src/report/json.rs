//! Writing and reading report files. Writes are atomic (a temporary file in the same
//! directory, then a rename), so a reader never sees half a report.

use std::io::Write;
use std::path::Path;

use super::model::Report;

/// Writes `report` as pretty JSON to `path`, creating the directory if needed.
pub fn write(report: &Report, path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".stress-report-")
        .suffix(".json.tmp")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(&mut tmp, report)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Reads a report.
pub fn read(path: &Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a stress report: {e}", path.display()))
}
