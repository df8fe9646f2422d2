//! `stress run FILE...`: validate every file (and read every `--baseline` report, refusing one
//! of another scenario) first, then run each scenario, print its summary, write its report,
//! compare it with its baseline, and at the end write the JUnit and Markdown outputs. Ctrl-C
//! stops the load, writes the partial report, removes the embedded server, and exits 130.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::database::Target;
use crate::exit::Exit;
use crate::options::{Baseline, RunRequest};
use crate::report::compare::{self, Comparison, Fingerprint};
use crate::report::export::Failure;
use crate::report::{Report, json, summary};
use crate::run::{Interrupt, RunError, RunOptions, run_scenario};
use crate::scenario::{self, Scenario};

/// A scenario's baseline report, and why it was compared although it differs (`--force`).
type Base = Option<(Report, Option<String>)>;

pub fn run(req: RunRequest) -> Exit {
    let scenarios = match load(&req) {
        Ok(s) => s,
        Err(exit) => return exit,
    };
    let baselines = match baselines(&scenarios, req.baseline.as_ref()) {
        Ok(b) => b,
        Err(m) => {
            eprintln!("error: {m}");
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
            eprintln!("error: {m}");
            return super::write_failed(&req.exports, Failure::new("stress run", m), Exit::Infra);
        }
    };
    let interrupt = Arc::new(Interrupt::default());
    rt.block_on(async {
        listen_for_signals(interrupt.clone());
        let mut target = Target::new(req.database_url.clone());
        let options = RunOptions {
            progress: !req.quiet && std::io::stderr().is_terminal(),
        };
        let mut exit = Exit::Ok;
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for (s, base) in scenarios.iter().zip(baselines) {
            let outcome = run_scenario(s, &mut target, &options, &interrupt).await;
            let (e, finished) = finish(s, outcome, base, &req, &mut failures);
            exit = exit.worst(e);
            done.extend(finished);
            if interrupt.is_raised() {
                break;
            }
        }
        target.shutdown();
        exit.worst(super::write_exports(&req.exports, &done, &failures, false))
    })
}

/// Loads every scenario file; on errors, prints them and says so in `--junit` / `--markdown`.
fn load(req: &RunRequest) -> Result<Vec<Scenario>, Exit> {
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut bad = Vec::new();
    for file in &req.scenarios.files {
        match scenario::load(file, &req.scenarios.load) {
            Ok(s) => scenarios.push(s),
            Err(errors) => {
                bad.push(format!("{}: {errors}", file.display()));
                super::print_errors(errors);
            }
        }
    }
    if bad.is_empty() {
        return Ok(scenarios);
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
        out.push(Some((report, forced)));
    }
    Ok(out)
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
            eprintln!("error: {}: {m}", s.file.display());
            failures.push(Failure::new(s.file.display(), m));
            return (Exit::BadInput, None);
        }
        Err(RunError::Infra(m)) => {
            eprintln!("error: {}: {m}", s.file.display());
            failures.push(Failure::new(s.file.display(), m));
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
        failures.push(Failure::new(s.file.display(), e));
        return (Exit::Infra, Some((report, comparison)));
    }
    println!("report: {}", path.display());
    let regressed = comparison.as_ref().is_some_and(|c| c.regressions() > 0);
    let exit = if report.interrupted {
        Exit::Interrupted
    } else if !report.verdict.pass || regressed {
        Exit::ExpectationFailed
    } else {
        Exit::Ok
    };
    (exit, Some((report, comparison)))
}

fn listen_for_signals(interrupt: Arc<Interrupt>) {
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        loop {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                _ = term.recv() => {}
            }
            if interrupt.is_raised() {
                eprintln!("interrupted again: stopping now");
            } else {
                eprintln!("interrupted: stopping the load, writing the partial report");
            }
            interrupt.raise();
        }
    });
}
