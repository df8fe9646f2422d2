//! Validated settings of each command, made from the parsed command line (the binary's
//! `main.rs` hands the parsed arguments over; this module never sees clap). A bad argument
//! (a `--tolerance` with an unknown metric, say) is an [`OptionsError`]: exit 2 before anything
//! runs.

use std::path::PathBuf;

use crate::report::compare::{Tolerance, ToleranceError, Tolerances};
use crate::scenario::LoadOptions;

/// A command-line argument that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("--tolerance {0}")]
    Tolerance(#[from] ToleranceError),
}

/// Parses `--tolerance METRIC=PCT` arguments.
pub fn tolerances(args: &[String]) -> Result<Tolerances, OptionsError> {
    let parsed = args
        .iter()
        .map(|a| a.parse::<Tolerance>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Tolerances(parsed))
}

/// Outputs besides the JSON report.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub html: Option<PathBuf>,
}

/// `--baseline`: where each scenario's baseline report is, and how to judge against it.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// A file (one scenario) or a directory of `<scenario name>.json`.
    pub at: Out,
    pub tolerances: Tolerances,
    pub force: bool,
}

/// Scenario files and what the command line adds to them.
#[derive(Debug, Clone)]
pub struct Scenarios {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) load: LoadOptions,
}

impl Scenarios {
    /// The files, their `--set` overrides and the `--variant` names chosen.
    pub fn new(files: Vec<PathBuf>, sets: Vec<String>, variants: Vec<String>) -> Scenarios {
        Scenarios {
            files,
            load: LoadOptions { sets, variants },
        }
    }
}

/// Where reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// `reports/<scenario name>.json`.
    Default,
    /// This file (one scenario).
    File(PathBuf),
    /// `<dir>/<scenario name>.json` (several scenarios).
    Dir(PathBuf),
}

impl Out {
    /// A file for one scenario; a directory for several (or when it is one).
    pub fn file_or_dir(path: PathBuf, several: bool) -> Out {
        if several || path.is_dir() {
            Out::Dir(path)
        } else {
            Out::File(path)
        }
    }

    pub(crate) fn path_for(&self, scenario_name: &str) -> PathBuf {
        let file = format!("{}.json", file_name(scenario_name));
        match self {
            Out::Default => PathBuf::from("reports").join(file),
            Out::File(p) => p.clone(),
            Out::Dir(d) => d.join(file),
        }
    }
}

/// A scenario name as a file name: path separators and other awkward characters become `-`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub scenarios: Scenarios,
    pub database_url: Option<String>,
    pub out: Out,
    pub quiet: bool,
    pub baseline: Option<Baseline>,
    pub exports: Exports,
}

/// `stress compare BASE NEW`.
#[derive(Debug, Clone)]
pub struct CompareRequest {
    pub base: PathBuf,
    pub new: PathBuf,
    pub tolerances: Tolerances,
    pub force: bool,
    pub exports: Exports,
}

/// `stress merge A B ... --out M`.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub files: Vec<PathBuf>,
    pub out: PathBuf,
    pub force: bool,
    pub exports: Exports,
}

/// `stress report FILE...`: saved reports to render again.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub files: Vec<PathBuf>,
    pub exports: Exports,
}

#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub scenarios: Scenarios,
    pub print: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_tolerance_metric_is_refused_at_argument_time() {
        let e = tolerances(&["operation.p95=10%".into()]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--tolerance `operation.p95=10%`: unknown metric `operation.p95`"),
            "{e}"
        );
        assert_eq!(tolerances(&["throughput=20%".into()]).unwrap().0.len(), 1);
    }

    #[test]
    fn report_paths() {
        assert_eq!(
            Out::Default.path_for("a b/c"),
            PathBuf::from("reports/a-b-c.json")
        );
        assert_eq!(
            Out::Dir("x".into()).path_for("s"),
            PathBuf::from("x/s.json")
        );
        assert_eq!(
            Out::File("r.json".into()).path_for("s"),
            PathBuf::from("r.json")
        );
    }
}
