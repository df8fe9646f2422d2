//! Exporters: one per output format (hyperfine's layout): the JSON report ([`super::json`]),
//! JUnit XML ([`super::junit`]) and Markdown ([`super::markdown`]). Each renders the runs of
//! one command (every scenario's report, with its comparison to a baseline when there is
//! one) into bytes; [`export`] writes them atomically (temp file and rename), so a reader never
//! sees half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::compare::Comparison;
use super::model::Report;

/// One scenario's report, and its comparison with a baseline.
#[derive(Clone, Copy, Debug)]
pub struct Exported<'a> {
    pub report: &'a Report,
    pub comparison: Option<&'a Comparison>,
    /// `stress compare`: the verdict is the comparison's alone, so the report's own checks are
    /// left out of the formats that judge (JUnit, Markdown).
    pub comparison_only: bool,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot render the {format} output: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
    #[error("cannot write the {format} output to {}: {source}", path.display())]
    Write {
        format: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An output format.
pub trait Exporter {
    /// The format's name in messages: `JSON`, `JUnit`, `Markdown`.
    fn format(&self) -> &'static str;

    /// Renders the runs of a command.
    fn render(&self, runs: &[Exported<'_>]) -> Result<Vec<u8>, ExportError>;
}

/// Renders `runs` with `exporter` and writes them to `path`.
pub fn export(
    exporter: &dyn Exporter,
    runs: &[Exported<'_>],
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = exporter.render(runs)?;
    write_atomic(path, &bytes).map_err(|source| ExportError::Write {
        format: exporter.format(),
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// creating the directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // tempfile creates its files 0600; asking for 0666 lets open(2) apply the umask, as for
    // any file a program writes (0644 with umask 022): another user may read the report.
    let mut tmp = tempfile::Builder::new()
        .prefix(".stress-")
        .suffix(".tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
