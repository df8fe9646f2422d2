//! The commands, at the edge: they load scenarios, run them, print, write files, and map every
//! outcome to an exit code.

pub mod check;
pub mod run;

use crate::scenario::source::ScenarioErrors;

/// Prints scenario errors with their snippets (file, line, caret) on stderr. Lines are not
/// wrapped: the first line of each error (`file:line:column: key `k`: message`) stays whole,
/// for people and for grep.
pub fn print_errors(errors: ScenarioErrors) {
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    for e in errors.0 {
        eprintln!("{:?}", miette::Report::new(e));
    }
}
