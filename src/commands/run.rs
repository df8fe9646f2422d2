//! `stress run FILE...`: validate every file first, then run each scenario, print its summary
//! and write its report. Ctrl-C stops the load, writes the partial report, removes the
//! embedded server, and exits 130.

use std::io::IsTerminal;
use std::sync::Arc;

use crate::database::Target;
use crate::exit::Exit;
use crate::options::RunRequest;
use crate::report::{json, summary};
use crate::run::{Interrupt, RunError, RunOptions, run_scenario};
use crate::scenario::{self, Scenario};

pub fn run(req: RunRequest) -> Exit {
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
    let interrupt = Arc::new(Interrupt::default());
    rt.block_on(async {
        listen_for_signals(interrupt.clone());
        let mut target = Target::new(req.database_url.clone());
        let options = RunOptions {
            progress: !req.quiet && std::io::stderr().is_terminal(),
        };
        let mut exit = Exit::Ok;
        for s in &scenarios {
            let outcome = run_scenario(s, &mut target, &options, &interrupt).await;
            exit = exit.worst(finish(s, outcome, &req));
            if interrupt.is_raised() {
                break;
            }
        }
        target.shutdown();
        exit
    })
}

/// Writes and prints a scenario's report, or its error; returns its exit code.
fn finish(
    s: &Scenario,
    outcome: Result<crate::report::Report, RunError>,
    req: &RunRequest,
) -> Exit {
    let report = match outcome {
        Ok(r) => r,
        Err(RunError::BadInput(m)) => {
            eprintln!("error: {}: {m}", s.file.display());
            return Exit::BadInput;
        }
        Err(RunError::Infra(m)) => {
            eprintln!("error: {}: {m}", s.file.display());
            return Exit::Infra;
        }
    };
    print!("{}", summary::render(&report));
    let path = req.out.path_for(&s.name);
    if let Err(e) = json::write(&report, &path) {
        eprintln!("error: cannot write the report to {}: {e}", path.display());
        return Exit::Infra;
    }
    println!("report: {}", path.display());
    if report.interrupted {
        Exit::Interrupted
    } else if !report.verdict.pass {
        Exit::ExpectationFailed
    } else {
        Exit::Ok
    }
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
