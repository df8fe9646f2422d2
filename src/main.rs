//! The `stress` binary: everything lives in the library; this ties the layers together, as
//! hyperfine's `main.rs` does: [`stress::cli`] parses the command line, [`stress::options`]
//! turns it into validated settings, [`stress::commands`] runs them and returns the exit code.

use std::process::ExitCode;

use stress::cli::{
    self, CheckArgs, Command, CompareArgs, ExportArgs, MergeArgs, ReportArgs, RunArgs, ScenarioArgs,
};
use stress::commands;
use stress::exit::Exit;
use stress::options::{
    self, Baseline, CheckRequest, CompareRequest, Exports, MergeRequest, OptionsError, Out,
    ReportRequest, RunRequest, Scenarios,
};

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    if !matches!(cli.command, Command::Run(_)) {
        cli::quiet_on_closed_pipe();
    }
    let exit = match cli.command {
        Command::Run(args) => run(args).map(commands::run::run),
        Command::Check(args) => Ok(commands::check::check(check(args))),
        Command::Compare(args) => compare(args).map(commands::compare::compare),
        Command::Merge(args) => Ok(commands::merge::merge(merge(args))),
        Command::Report(args) => Ok(commands::report::report(report(args))),
        Command::Schema => {
            print!("{}", stress::report::schema::report_schema());
            Ok(Exit::Ok)
        }
    };
    exit.unwrap_or_else(|e| {
        eprintln!("error: {}", stress::redact::redact(&e.to_string()));
        Exit::BadInput
    })
    .into()
}

fn exports(args: ExportArgs) -> Exports {
    Exports {
        junit: args.junit,
        markdown: args.markdown,
        html: args.html,
    }
}

fn scenarios(args: ScenarioArgs) -> Scenarios {
    Scenarios::new(args.files, args.sets, args.variants)
}

fn run(args: RunArgs) -> Result<RunRequest, OptionsError> {
    let several = args.scenario.files.len() > 1;
    let out = args
        .out
        .map_or(Out::Default, |p| Out::file_or_dir(p, several));
    let baseline = match args.baseline {
        Some(p) => Some(Baseline {
            at: Out::file_or_dir(p, several),
            tolerances: options::tolerances(&args.tolerances)?,
            force: args.force,
        }),
        None => None,
    };
    Ok(RunRequest {
        scenarios: scenarios(args.scenario),
        database_url: args.database_url,
        out,
        quiet: args.quiet,
        baseline,
        exports: exports(args.export),
    })
}

fn compare(args: CompareArgs) -> Result<CompareRequest, OptionsError> {
    Ok(CompareRequest {
        tolerances: options::tolerances(&args.tolerances)?,
        base: args.base,
        new: args.new,
        force: args.force,
        exports: exports(args.export),
    })
}

fn merge(args: MergeArgs) -> MergeRequest {
    MergeRequest {
        files: args.files,
        out: args.out,
        force: args.force,
        exports: exports(args.export),
    }
}

fn report(args: ReportArgs) -> ReportRequest {
    ReportRequest {
        files: args.files,
        exports: exports(args.export),
    }
}

fn check(args: CheckArgs) -> CheckRequest {
    CheckRequest {
        scenarios: scenarios(args.scenario),
        print: args.print,
    }
}
