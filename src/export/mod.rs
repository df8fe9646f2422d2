//! Exporters: one per output format, one file each (hyperfine's layout), behind one trait
//! ([`Exporter`]) and driven by one manager ([`ExportManager`]): the JSON report ([`json`]),
//! JUnit XML ([`junit`]), Markdown ([`markdown`]), the HTML report ([`html`]) and the terminal
//! summary ([`summary`], which
//! shares the variants' table [`columns`] with Markdown and fits it with [`layout`]). Each
//! renders the runs of one command (every scenario's report, with its comparison to a baseline
//! when there is one) into bytes; [`export`] writes them atomically (temp file and rename), so a
//! reader never sees half a file. Scenarios that produced no report ([`Failure`]) are rendered
//! too, as errors: a run that did not run is never green. When the final write fails (a full
//! disk), the bytes go to a fallback file in the temporary directory (else the current one),
//! and the error says where.

mod columns;
pub mod html;
pub mod json;
pub(crate) mod junit;
mod layout;
pub(crate) mod markdown;
pub(crate) mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::report::compare::Comparison;
use crate::report::model::Report;

/// One scenario's report, and its comparison with a baseline.
#[derive(Clone, Copy, Debug)]
pub struct Exported<'a> {
    pub report: &'a Report,
    pub comparison: Option<&'a Comparison>,
    /// `stress compare`: the verdict is the comparison's alone, so the report's own checks are
    /// left out of the formats that judge (JUnit, Markdown).
    pub comparison_only: bool,
}

/// A scenario (or a whole command) that produced no report, and why: JUnit and Markdown show it
/// as an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The scenario file, or what failed (`--baseline`, an output path).
    pub(crate) name: String,
    pub(crate) reason: String,
}

impl Failure {
    pub(crate) fn new(name: impl std::fmt::Display, reason: impl std::fmt::Display) -> Failure {
        Failure {
            name: name.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot render the {format} output: {message}")]
    Render {
        format: &'static str,
        message: String,
    },
    #[error("cannot write the {format} output to {}: {source}{}", path.display(), saved_note(saved))]
    Write {
        format: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
        /// Where the output was written instead, if anywhere.
        saved: Option<PathBuf>,
    },
}

fn saved_note(saved: &Option<PathBuf>) -> String {
    match saved {
        Some(p) => format!("; it was written to {} instead", p.display()),
        None => "; no fallback location could be written either".into(),
    }
}

/// An output format.
pub trait Exporter {
    /// The format's name in messages: `JSON`, `JUnit`, `Markdown`.
    fn format(&self) -> &'static str;

    /// Renders the runs of a command, and the scenarios that produced no report.
    fn render(&self, runs: &[Exported<'_>], failures: &[Failure]) -> Result<Vec<u8>, ExportError>;
}

/// The files a command writes at its end, each with its format (hyperfine's `ExportManager`).
#[derive(Default)]
pub(crate) struct ExportManager {
    exporters: Vec<(Box<dyn Exporter>, PathBuf)>,
}

impl ExportManager {
    /// Adds an output: `exporter` renders into `path`.
    pub(crate) fn add(&mut self, exporter: Box<dyn Exporter>, path: PathBuf) -> &mut Self {
        self.exporters.push((exporter, path));
        self
    }

    /// Writes every output, each independently of the others' failures: per output, its format
    /// and path, and whether it was written.
    pub(crate) fn write(
        &self,
        runs: &[Exported<'_>],
        failures: &[Failure],
    ) -> Vec<(&'static str, &Path, Result<(), ExportError>)> {
        self.exporters
            .iter()
            .map(|(exporter, path)| {
                let done = export(exporter.as_ref(), runs, failures, path);
                (exporter.format(), path.as_path(), done)
            })
            .collect()
    }
}

/// Renders `runs` and `failures` with `exporter` and writes them to `path`, or to a fallback
/// file (said in the error) when `path` cannot be written.
pub(crate) fn export(
    exporter: &dyn Exporter,
    runs: &[Exported<'_>],
    failures: &[Failure],
    path: &Path,
) -> Result<(), ExportError> {
    let bytes = exporter.render(runs, failures)?;
    let run_id = runs.first().map(|r| r.report.run_id.as_str());
    let fallbacks =
        [std::env::temp_dir(), PathBuf::from(".")].map(|dir| dir.join(fallback_name(path, run_id)));
    deliver(path, &bytes, &fallbacks, write_atomic).map_err(|(source, saved)| ExportError::Write {
        format: exporter.format(),
        path: path.to_path_buf(),
        source,
        saved,
    })
}

/// `stress-<run id>-<file name>`: a fallback that names the run and the file it stands for, its
/// file name kept short enough for any file system.
fn fallback_name(path: &Path, run_id: Option<&str>) -> String {
    let run = run_id.map_or_else(|| format!("pid{}", std::process::id()), str::to_string);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut short: String = format!("stress-{run}-{name}");
    while short.len() > 120 {
        short.pop();
    }
    short
}

/// Writes `bytes` to `path` with `write`, else to the first of `fallbacks` that takes them:
/// the first error, and where the bytes went, when `path` failed.
fn deliver(
    path: &Path,
    bytes: &[u8],
    fallbacks: &[PathBuf],
    write: impl Fn(&Path, &[u8]) -> std::io::Result<()>,
) -> Result<(), (std::io::Error, Option<PathBuf>)> {
    let Err(first) = write(path, bytes) else {
        return Ok(());
    };
    let saved = fallbacks
        .iter()
        .filter(|f| f.as_path() != path)
        .find(|f| write(f, bytes).is_ok())
        .cloned();
    Err((first, saved))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
/// creating the directory if needed. A path that is a device or a pipe (`--out /dev/null`) is
/// written into: a rename would replace the device node itself (as root, `/dev/null` became a
/// regular file).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)?
            .write_all(bytes);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 9 item 8: a report whose final write fails (a full disk) is not lost.
    #[test]
    fn a_failed_write_lands_in_the_first_fallback_that_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let wanted = dir.path().join("full/r.json");
        let unwritable = dir.path().join("also-full.json");
        let fallback = dir.path().join("stress-run1-r.json");
        let full_disk = |p: &Path, bytes: &[u8]| {
            if p == wanted || p == unwritable {
                Err(std::io::Error::from_raw_os_error(28))
            } else {
                write_atomic(p, bytes)
            }
        };
        let (e, saved) = deliver(
            &wanted,
            b"{}",
            &[unwritable.clone(), fallback.clone()],
            full_disk,
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(saved.as_deref(), Some(fallback.as_path()));
        assert_eq!(std::fs::read(&fallback).unwrap(), b"{}");
        let message = ExportError::Write {
            format: "JSON",
            path: wanted.clone(),
            source: e,
            saved,
        }
        .to_string();
        assert!(
            message.contains("r.json: No space left on device")
                && message.ends_with(&format!("it was written to {} instead", fallback.display())),
            "{message}"
        );
        assert!(
            deliver(&wanted, b"{}", &[], full_disk)
                .unwrap_err()
                .1
                .is_none()
        );
    }

    #[test]
    fn fallback_names_stay_short_and_name_the_run() {
        let long = PathBuf::from(format!("/x/{}.json", "é".repeat(200)));
        let name = fallback_name(&long, Some("abc"));
        assert!(
            name.starts_with("stress-abc-éé") && name.len() <= 120,
            "{name}"
        );
    }

    /// `--out /dev/null` replaced the device node by a regular file (a rename over it, as root).
    /// Shown on a pipe of our own, never on the machine's `/dev/null`.
    #[test]
    fn a_device_or_pipe_is_written_into_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"{}").unwrap();
        // Before joining: a pipe replaced by a file would leave the reader waiting forever.
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "still a pipe, not replaced by a file");
        assert_eq!(reader.join().unwrap(), b"{}");
    }
}
