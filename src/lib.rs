//! `stress`: a concurrency stress-test and race-condition diagnosis harness for PostgreSQL
//! connection handling.
//!
//! The pieces, in the order a run uses them:
//! - [`scenario`]: the TOML model, variants, `--set`, validation with file/line/key errors, and
//!   the compiled workload mix (compiling is validating, done once);
//! - [`conninfo`]: connection strings and TLS modes, parsed as libpq does;
//! - [`database`]: where the server comes from (a URL, or an embedded throwaway cluster);
//! - [`access`]: how tasks get a connection (shared, pool, per operation, per task);
//! - [`workload`]: parameter values, preparing statements, running an operation's steps;
//! - [`run`]: tasks, the load model, the runtime layout;
//! - [`record`]: histograms, error classes, the timeline;
//! - [`report`]: the JSON report, the verdict, comparisons and merges, the schema;
//! - [`export`]: the outputs (JSON, JUnit, Markdown, the terminal summary), one file each;
//! - [`metric`]: the one metric vocabulary of `[expect]`, `--tolerance` and every table;
//! - [`value`]: parameter and captured values, statement templates (vocabulary, below all).
//!
//! [`redact`] hides passwords in anything shown to a user; [`console`] writes lines for the user
//! that never panic (a closed pipe or a hung-up terminal must not cost a run its report).
//!
//! [`cli`] and [`options`] are the edge: the binary's `main.rs` parses with [`cli`], turns the
//! arguments into settings with [`options`] and runs [`commands`]; neither of the first two
//! imports the other, and nothing below them sees clap.
//!
//! Imports go one way, with no circle between files or top-level modules (`tests/layers.rs`
//! checks it): vocabulary ([`metric`], [`value`], [`record`]'s error classes and recorders,
//! [`redact`], [`console`], [`signal`]) and [`conninfo`] → [`scenario`] → [`database`] → [`access`] →
//! [`workload`] → [`run`] (with [`network`]) → [`report`] → [`export`] → [`commands`].

pub mod access;
pub mod cli;
pub mod commands;
pub mod conninfo;
pub(crate) mod console;
pub mod database;
pub mod exit;
pub mod export;
pub mod metric;
pub mod network;
pub mod options;
pub mod record;
pub mod redact;
pub mod report;
pub mod run;
pub mod scenario;
pub mod signal;
pub mod value;
pub mod workload;
