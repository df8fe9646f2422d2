//! `stress run FILE...`: validate every file (and read every `--baseline` report, refusing one
//! of another scenario) first, then run each scenario, print its summary, write its report,
//! compare it with its baseline, and at the end write the JUnit and Markdown outputs. SIGINT,
//! SIGTERM and SIGHUP ([`super::signals`], caught before anything starts) stop the load, write
//! the partial report, remove the embedded server, and exit 128 + the signal's number.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::database::Target;
use crate::exit::Exit;
use crate::export::Failure;
use crate::options::{Baseline, RunRequest};
use crate::report::compare::{self, Comparison, Fingerprint};
use crate::report::{Report, json};
use crate::run::{Interrupt, RunError, RunOptions, run_scenario};
use crate::scenario::{self, Scenario};

/// A scenario's baseline report, and why it was compared although it differs (`--force`).
type Base = Option<(Report, Option<String>)>;

pub fn run(req: RunRequest) -> Exit {
    let interrupt = match super::signals::install() {
        Ok(i) => i,
        Err(e) => {
            crate::console::errln!("error: cannot install the signal handlers: {e}");
            return Exit::Infra;
        }
    };
    let scenarios = match load(&req) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let baselines = match baselines(&scenarios, req.baseline.as_ref()) {
        Ok(b) => b,
        Err(m) => {
            crate::console::errln!("error: {m}");
            return super::write_failed(
                &req.exports,
                Failure::new("--baseline", m),
                Exit::BadInput,
            );
        }
    };
    let outputs = super::outputs::for_run(&scenarios, &req);
    if let Err(exit) = super::outputs::preflight(&outputs, &req.exports) {
        return exit;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let m = format!("cannot start the async runtime: {e}");
            crate::console::errln!("error: {m}");
            return super::write_failed(&req.exports, Failure::new("stress run", m), Exit::Infra);
        }
    };
    rt.block_on(run_all(&req, &scenarios, baselines, &interrupt))
}

/// Runs the scenarios one after the other (until interrupted), then writes the exports.
async fn run_all(
    req: &RunRequest,
    scenarios: &[Scenario],
    baselines: Vec<Base>,
    interrupt: &Arc<Interrupt>,
) -> Exit {
    let mut target = Target::new(req.database_url.clone()).interruptible(interrupt.clone());
    let options = RunOptions {
        progress: !req.quiet && std::io::stderr().is_terminal(),
        phases: !req.quiet,
    };
    let mut exit = Exit::Ok;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for (s, base) in scenarios.iter().zip(baselines) {
        let outcome = run_scenario(s, &mut target, &options, interrupt).await;
        let (e, finished) = finish(s, outcome, base, req, &mut failures);
        exit = exit.worst(e);
        done.extend(finished);
        if interrupt.is_raised() {
            break;
        }
    }
    target.shutdown();
    exit = exit.worst(super::write_exports(&req.exports, &done, &failures, false));
    signalled(exit, interrupt)
}

/// A run that received a signal exits 128 + its number, as shells report it, even when the
/// signal came after the last load (its report is then complete, and not marked interrupted).
fn signalled(exit: Exit, interrupt: &Interrupt) -> Exit {
    match interrupt.signo() {
        // The worst of all exits: nothing else can win over it.
        Some(signo) => Exit::Interrupted(signo),
        None => exit,
    }
}

/// Loads every scenario file; on errors, prints them and says so in `--junit` / `--markdown`.
fn load(req: &RunRequest) -> Result<Vec<Scenario>, Exit> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut bad = Vec::new();
    for file in &req.scenarios.files {
        match scenario::load(file, &req.scenarios.load) {
            Ok(s) => scenarios.push(s),
            Err(errors) => {
                bad.push(
                    crate::redact::redact(&format!("{}: {errors}", file.display())).into_owned(),
                );
                super::print_errors(errors);
            }
        }
    }
    if bad.is_empty() {
        let databases = scenarios
            .iter()
            .flat_map(|s| s.variants.iter().map(|v| &v.settings.database));
        let images = scenarios.iter().flat_map(|s| {
            s.variants
                .iter()
                .map(|v| (v.name.as_str(), &v.settings.database))
        });
        let checked = crate::database::check_sources(req.database_url.as_deref(), databases)
            .and_then(|()| crate::database::check_images(images));
        return match checked {
            Ok(()) => Ok(scenarios),
            Err(m) => {
                let m = crate::redact::redact(&m);
                crate::console::errln!("error: {m}");
                let failure = Failure::new("database", m);
                Err(super::write_failed(&req.exports, failure, Exit::BadInput))
            }
        };
    }
    let failure = Failure::new("scenario files", bad.join("\n"));
    Err(super::write_failed(&req.exports, failure, Exit::BadInput))
}

/// Reads each scenario's baseline, refusing one of another scenario or other settings unless
/// `--force`; the reason when one cannot be used.
fn baselines(scenarios: &[Scenario], baseline: Option<&Baseline>) -> Result<Vec<Base>, String> {
    let Some(b) = baseline else {
        return Ok(scenarios.iter().map(|_| None).collect());
    };
    let mut out = Vec::new();
    let mut known = Vec::new();
    for s in scenarios {
        let path = b.at.path_for(&s.name);
        let report = match json::read_strict(&path) {
            Ok(r) => r,
            Err(e) => return Err(format!("--baseline {e}")),
        };
        let forced = match compare::comparable(&report, &Fingerprint::of_scenario(s)) {
            Ok(()) => None,
            Err(m) if b.force => Some(m.0),
            Err(m) => {
                return Err(format!(
                    "--baseline {}: {m}\n  (pass --force to compare anyway)",
                    path.display()
                ));
            }
        };
        let planned = s.variants.iter().flat_map(|v| &v.plan.workloads);
        known.extend(planned.map(|w| w.name.clone()));
        known.extend(compare::workloads(&report).map(String::from));
        out.push(Some((report, forced)));
    }
    // A tolerance applies to every scenario that has its metric: refused only when none has.
    match (b.tolerances).unknown_workload(known.iter().map(String::as_str), "scenarios run") {
        Some(m) => Err(m),
        None => Ok(out),
    }
}

/// Prints and writes a scenario's report, or its error, and compares it with its baseline;
/// returns its exit code and what the other exporters need.
fn finish(
    s: &Scenario,
    outcome: Result<Report, RunError>,
    base: Base,
    req: &RunRequest,
    failures: &mut Vec<Failure>,
) -> (Exit, Option<(Report, Option<Comparison>)>) {
    let report = match outcome {
        Ok(r) => r,
        Err(RunError::BadInput(m)) => {
            let m = crate::redact::redact(&m).into_owned();
            crate::console::errln!("error: {}: {m}", s.file.display());
            failures.push(Failure::new(s.file.display(), m));
            return (Exit::BadInput, None);
        }
        Err(RunError::Infra(m)) => {
            let m = crate::redact::redact(&m).into_owned();
            crate::console::errln!("error: {}: {m}", s.file.display());
            failures.push(Failure::new(s.file.display(), m));
            return (Exit::Infra, None);
        }
    };
    let comparison = base.map(|(base, forced)| {
        let tolerances = &req
            .baseline
            .as_ref()
            .expect("a baseline was read")
            .tolerances;
        compare::compare(&base, &report, tolerances, forced)
    });
    super::print_summary(&report, comparison.as_ref(), false);
    let path = req.out.path_for(&s.name);
    if let Err(e) = crate::export::json::write(&report, &path) {
        crate::console::errln!("error: {e}");
        failures.push(Failure::new(s.file.display(), e));
        return (Exit::Infra, Some((report, comparison)));
    }
    crate::console::outln!("report: {}", path.display());
    let regressed = comparison.as_ref().is_some_and(|c| c.regressions() > 0);
    let exit = if report.interrupted {
        Exit::Interrupted(crate::signal::SIGINT)
    } else if !report.verdict.pass || regressed {
        Exit::ExpectationFailed
    } else {
        Exit::Ok
    };
    (exit, Some((report, comparison)))
}
