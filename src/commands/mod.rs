//! The commands, at the edge: they load scenarios, run them, print, write files, and map every
//! outcome to an exit code.

pub mod check;
pub mod run;

use crate::scenario::source::ScenarioErrors;

/// Prints scenario errors with their snippets (file, line, caret) on stderr.
pub fn print_errors(errors: ScenarioErrors) {
    for e in errors.0 {
        eprintln!("{:?}", miette::Report::new(e));
    }
}
