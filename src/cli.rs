//! The command line: clap builds it here and nothing else; the binary's `main.rs` hands it to
//! [`crate::options`] (validated settings) and [`crate::commands`] (which run them), as
//! hyperfine does. This module imports neither, and nothing below this layer sees clap.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
    /// Compare a report with a baseline report: deltas per variant, exit 1 on a regression.
    Compare(CompareArgs),
    /// Merge the reports of one scenario run on several machines at once into one report.
    Merge(MergeArgs),
    /// Render saved reports again: their summaries, and the --html, --junit, --markdown outputs.
    Report(ReportArgs),
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
    /// Compare with this earlier report of the scenario (a directory of them when several files
    /// run); a regression exits 1.
    #[arg(long, value_name = "OLD.json")]
    pub baseline: Option<PathBuf>,
    /// How much worse METRIC may get than in the baseline, in percent (repeatable):
    /// `operation.p99=10%`, `throughput=20%`.
    #[arg(long = "tolerance", value_name = "METRIC=PCT", requires = "baseline")]
    pub tolerances: Vec<String>,
    /// Compare with a baseline of other settings or another scenario anyway.
    #[arg(long, requires = "baseline")]
    pub force: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

/// Outputs besides the JSON report.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Also write JUnit XML: a test case per variant and per check.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write a Markdown summary (for a pull-request comment or a CI step summary).
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Also write an HTML report: one self-contained page with the variants side by side,
    /// time series with the fault windows shaded, and latency distributions.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline report.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The report to judge.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// How much worse METRIC may get, in percent (repeatable): `operation.p99=10%`.
    #[arg(long = "tolerance", value_name = "METRIC=PCT")]
    pub tolerances: Vec<String>,
    /// Compare reports of other settings or of another scenario anyway.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Reports of the same scenario, run at the same time on several machines.
    #[arg(required = true, num_args = 2.., value_name = "REPORT.json")]
    pub files: Vec<PathBuf>,
    /// Where to write the merged report.
    #[arg(long, required = true, value_name = "M.json")]
    pub out: PathBuf,
    /// Merge reports whose settings differ anyway.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Reports written by `stress run` or `stress merge` (read strictly).
    #[arg(required = true, value_name = "REPORT.json")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Show the effective settings of every variant.
    #[arg(long)]
    pub print: bool,
}

/// Parses the command line. `Err` carries the exit code when there is nothing to run: 2 for a
/// usage error (printed, redacted), success for `--help` and `--version` (printed).
pub fn parse() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        if e.use_stderr() {
            // An error may echo an argument, a URL with its password say: redacted.
            eprint!("{}", crate::redact::redact(&e.render().to_string()));
            ExitCode::from(2)
        } else {
            // --help and --version are not errors.
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}

/// `stress check --print | head` should end quietly, as Unix tools do, not panic in
/// `println!` (Rust ignores SIGPIPE, so a closed pipe is an error there). Not for `run`: it
/// owns a server to shut down and a report to write, whatever happens to its stdout.
pub fn quiet_on_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE, before any thread is started.
    use nix::sys::signal::{SigHandler, Signal, signal};
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
