//! `stress run FILE...`: validate every file (and read every `--baseline` report, refusing one
//! of another scenario) first, then run each scenario, print its summary, write its report,
//! compare it with its baseline, and at the end write the JUnit and Markdown outputs. SIGINT,
//! SIGTERM and SIGHUP ([`super::signals`], caught before anything starts) stop the load, write
//! the partial report, remove the embedded server, and exit 128 + the signal's number.

use std::io::IsTerminal;

use crate::database::Target;
use crate::exit::Exit;
use crate::options::{Baseline, RunRequest};
use crate::report::compare::{self, Comparison, Fingerprint};
use crate::report::{Report, json, summary};
use crate::run::{Interrupt, RunError, RunOptions, run_scenario};
use crate::scenario::{self, Scenario};

/// A scenario's baseline report, and why it was compared although it differs (`--force`).
type Base = Option<(Report, Option<String>)>;

pub fn run(req: RunRequest) -> Exit {
    let interrupt = match super::signals::install() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot install the signal handlers: {e}");
            return Exit::Infra;
        }
    };
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut bad = false;
    for file in &req.scenarios.files {
        match scenario::load(file, &req.scenarios.load) {
            Ok(s) => scenarios.push(s),
            Err(errors) => {
                super::print_errors(errors);
                bad = true;
            }
        }
    }
    if bad {
        return Exit::BadInput;
    }
    let databases = scenarios
        .iter()
        .flat_map(|s| s.variants.iter().map(|v| &v.settings.database));
    if let Err(m) = crate::database::check_sources(req.database_url.as_deref(), databases) {
        eprintln!("error: {}", crate::redact::redact(&m));
        return Exit::BadInput;
    }
    let Some(baselines) = baselines(&scenarios, req.baseline.as_ref()) else {
        return Exit::BadInput;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Infra;
        }
    };
    rt.block_on(async {
        let mut target = Target::new(req.database_url.clone()).interruptible(interrupt.clone());
        let options = RunOptions {
            progress: !req.quiet && std::io::stderr().is_terminal(),
            phases: !req.quiet,
        };
        let mut exit = Exit::Ok;
        let mut done = Vec::new();
        for (s, base) in scenarios.iter().zip(baselines) {
            let outcome = run_scenario(s, &mut target, &options, &interrupt).await;
            let (e, finished) = finish(s, outcome, base, &req);
            exit = exit.worst(e);
            done.extend(finished);
            if interrupt.is_raised() {
                break;
            }
        }
        target.shutdown();
        exit = exit.worst(super::write_exports(&req.exports, &done, false));
        signalled(exit, &interrupt)
    })
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

/// Reads each scenario's baseline, refusing one of another scenario or other settings unless
/// `--force`. `None` (after printing why) when one cannot be used.
fn baselines(scenarios: &[Scenario], baseline: Option<&Baseline>) -> Option<Vec<Base>> {
    let Some(b) = baseline else {
        return Some(scenarios.iter().map(|_| None).collect());
    };
    let mut out = Vec::new();
    for s in scenarios {
        let path = b.at.path_for(&s.name);
        let report = match json::read(&path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: --baseline {e}");
                return None;
            }
        };
        let forced = match compare::comparable(&report, &Fingerprint::of_scenario(s)) {
            Ok(()) => None,
            Err(m) if b.force => Some(m.0),
            Err(m) => {
                eprintln!(
                    "error: --baseline {}: {m}\n  (pass --force to compare anyway)",
                    path.display()
                );
                return None;
            }
        };
        out.push(Some((report, forced)));
    }
    Some(out)
}

/// Prints and writes a scenario's report, or its error, and compares it with its baseline;
/// returns its exit code and what the other exporters need.
fn finish(
    s: &Scenario,
    outcome: Result<Report, RunError>,
    base: Base,
    req: &RunRequest,
) -> (Exit, Option<(Report, Option<Comparison>)>) {
    let report = match outcome {
        Ok(r) => r,
        Err(RunError::BadInput(m)) => {
            let m = crate::redact::redact(&m).into_owned();
            eprintln!("error: {}: {m}", s.file.display());
            return (Exit::BadInput, None);
        }
        Err(RunError::Infra(m)) => {
            let m = crate::redact::redact(&m).into_owned();
            eprintln!("error: {}: {m}", s.file.display());
            return (Exit::Infra, None);
        }
    };
    anstream::print!("{}", summary::render(&report));
    let comparison = base.map(|(base, forced)| {
        let tolerances = &req
            .baseline
            .as_ref()
            .expect("a baseline was read")
            .tolerances;
        compare::compare(&base, &report, tolerances, forced)
    });
    if let Some(c) = &comparison {
        anstream::print!("{}", summary::render_comparison(c));
    }
    let path = req.out.path_for(&s.name);
    if let Err(e) = json::write(&report, &path) {
        eprintln!("error: {e}");
        return (Exit::Infra, Some((report, comparison)));
    }
    println!("report: {}", path.display());
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
