//! Validated settings of each command, made from the parsed command line.

use std::path::PathBuf;

use crate::cli::{CheckArgs, RunArgs, ScenarioArgs};
use crate::scenario::LoadOptions;

/// Scenario files and what the command line adds to them.
#[derive(Debug, Clone)]
pub struct Scenarios {
    pub files: Vec<PathBuf>,
    pub load: LoadOptions,
}

fn scenarios(args: ScenarioArgs) -> Scenarios {
    Scenarios {
        files: args.files,
        load: LoadOptions {
            sets: args.sets,
            variants: args.variants,
        },
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
    pub fn path_for(&self, scenario_name: &str) -> PathBuf {
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
}

pub fn run(args: RunArgs) -> RunRequest {
    let several = args.scenario.files.len() > 1;
    let out = match args.out {
        None => Out::Default,
        Some(p) if several || p.is_dir() => Out::Dir(p),
        Some(p) => Out::File(p),
    };
    RunRequest {
        scenarios: scenarios(args.scenario),
        database_url: args.database_url,
        out,
        quiet: args.quiet,
    }
}

#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub scenarios: Scenarios,
    pub print: bool,
}

pub fn check(args: CheckArgs) -> CheckRequest {
    CheckRequest {
        scenarios: scenarios(args.scenario),
        print: args.print,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
