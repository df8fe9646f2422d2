//! The commands, at the edge: they load scenarios, run them, print, write files, and map every
//! outcome to an exit code.

pub mod check;
pub mod compare;
pub mod merge;
mod outputs;
pub mod report;
pub mod run;
mod signals;

use crate::exit::Exit;
use crate::export::html::Html;
use crate::export::junit::Junit;
use crate::export::markdown::Markdown;
use crate::export::summary::Summary;
use crate::export::{ExportManager, Exported, Exporter, Failure};
use crate::options::Exports;
use crate::report::Report;
use crate::report::compare::Comparison;
use crate::scenario::source::ScenarioErrors;

/// Writes the `--junit`, `--markdown` and `--html` outputs of these runs, and of the scenarios that
/// produced no report (`failures`, shown as errors); with `comparison_only` (`stress compare`)
/// they judge the comparisons alone.
pub(crate) fn write_exports(
    exports: &Exports,
    done: &[(Report, Option<Comparison>)],
    failures: &[Failure],
    comparison_only: bool,
) -> Exit {
    let runs: Vec<Exported<'_>> = done
        .iter()
        .map(|(report, comparison)| Exported {
            report,
            comparison: comparison.as_ref(),
            comparison_only,
        })
        .collect();
    let mut manager = ExportManager::default();
    if let Some(path) = &exports.junit {
        manager.add(Box::new(Junit), path.clone());
    }
    if let Some(path) = &exports.markdown {
        manager.add(Box::new(Markdown), path.clone());
    }
    if let Some(path) = &exports.html {
        manager.add(Box::new(Html), path.clone());
    }
    let mut exit = Exit::Ok;
    for (format, path, done) in manager.write(&runs, failures) {
        match done {
            Ok(()) => crate::console::outln!("{format}: {}", path.display()),
            Err(e) => {
                crate::console::errln!("error: {e}");
                exit = Exit::Infra;
            }
        }
    }
    exit
}

/// Prints the terminal summary of a report and of its comparison with a baseline (only the
/// comparison with `comparison_only`).
pub(crate) fn print_summary(
    report: &Report,
    comparison: Option<&Comparison>,
    comparison_only: bool,
) {
    let run = Exported {
        report,
        comparison,
        comparison_only,
    };
    if let Ok(bytes) = Summary.render(&[run], &[]) {
        crate::console::out_styled(&String::from_utf8_lossy(&bytes));
    }
}

/// A command that stops before producing any report: its `--junit`, `--markdown`, `--html` outputs
/// carry the reason as an error (never an empty, green file); `exit`, or worse.
pub(crate) fn write_failed(exports: &Exports, failure: Failure, exit: Exit) -> Exit {
    exit.worst(write_exports(exports, &[], &[failure], false))
}

/// Prints scenario errors with their snippets (file, line, caret) on stderr. Lines are not
/// wrapped: the first line of each error (`file:line:column: key `k`: message`) stays whole,
/// for people and for grep. The snippet's text has its passwords masked already; the whole
/// rendering is redacted once more, for whatever else an error may echo.
pub(crate) fn print_errors(errors: ScenarioErrors) {
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    for e in errors.0 {
        let shown = format!("{:?}", miette::Report::new(e));
        crate::console::errln!("{}", crate::redact::redact(&shown));
    }
}
