//! The command line: clap builds it here; [`crate::options`] turns it into validated settings,
//! and [`crate::commands`] runs them. Nothing below this layer sees clap.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::options;

/// Concurrency stress tests and race diagnosis for PostgreSQL connection handling.
#[derive(Debug, Parser)]
#[command(name = "stress", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios: every variant (or those named), a summary, a JSON report each.
    Run(RunArgs),
    /// Validate scenarios without touching a database.
    Check(CheckArgs),
    /// Print the JSON Schema of the report.
    Schema,
}

/// What `--set` and `--variant` do to the scenario files.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario files (TOML).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Override a setting in every variant, after variants are merged: KEY is a TOML dotted
    /// key, VALUE a TOML value or else a string (`--set pool.max_size=20 --set load.duration=1s`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run (or check) only the variant with this name; repeatable.
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Use this existing server instead of an embedded one (also DATABASE_URL, PG* variables).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Where to write the report (a directory when several files run); default
    /// reports/<scenario name>.json.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Show the effective settings of every variant.
    #[arg(long)]
    pub print: bool,
}

/// Parses the command line, runs the command, returns the contract's exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let exit = match cli.command {
        Command::Run(args) => commands::run::run(options::run(args)),
        Command::Check(args) => commands::check::check(options::check(args)),
        Command::Schema => {
            print!("{}", crate::report::schema::report_schema());
            crate::exit::Exit::Ok
        }
    };
    exit.into()
}
