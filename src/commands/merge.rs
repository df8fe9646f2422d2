//! `stress merge A.json B.json... --out M.json`: one report from the reports of a scenario run
//! on several machines at once (see [`crate::report::merge`]). Output paths are checked first;
//! unreadable or inconsistent reports (read strictly), reports of different scenarios or
//! settings (without `--force`) and corrupt histograms are exit 2; the merged verdict decides
//! between 0 and 1, and a merge with an interrupted run is 1.

use crate::exit::Exit;
use crate::export::Failure;
use crate::options::MergeRequest;
use crate::report::json;
use crate::report::merge::{self, Input};

pub fn merge(req: MergeRequest) -> Exit {
    if let Err(exit) = super::outputs::preflight(&super::outputs::for_merge(&req), &req.exports) {
        return exit;
    }
    let refuse = |m: String| {
        eprintln!("error: {m}");
        super::write_failed(
            &req.exports,
            Failure::new("stress merge", m),
            Exit::BadInput,
        )
    };
    if let Some(f) = req.files.iter().find(|f| same_file(f, &req.out)) {
        return refuse(format!(
            "--out {} is one of the reports to merge: write the merge elsewhere",
            f.display()
        ));
    }
    let mut inputs = Vec::new();
    for file in &req.files {
        match json::read_strict(file) {
            Ok(report) => inputs.push(Input {
                file: file.clone(),
                report,
            }),
            Err(e) => return refuse(e.to_string()),
        }
    }
    let report = match merge::merge(&inputs, req.force) {
        Ok(r) => r,
        Err(e) => return refuse(format!("cannot merge: {e}")),
    };
    super::print_summary(&report, None, false);
    if let Err(e) = crate::export::json::write(&report, &req.out) {
        eprintln!("error: {e}");
        let failure = Failure::new("stress merge", e);
        return super::write_exports(&req.exports, &[(report, None)], &[failure], false)
            .worst(Exit::Infra);
    }
    println!("merged report: {}", req.out.display());
    // Review of 2026-12-03: a merge with an interrupted run passed its gate (exit 0) on a
    // machine's partial figures; a partial merge never passes.
    let interrupted: Vec<&str> = (inputs.iter())
        .filter(|i| i.report.interrupted)
        .map(|i| i.file.to_str().unwrap_or("?"))
        .collect();
    if !interrupted.is_empty() {
        eprintln!(
            "stress merge: {} was interrupted: the merge holds partial results and does not pass",
            interrupted.join(", ")
        );
    }
    let pass = report.verdict.pass && interrupted.is_empty();
    let exit = super::write_exports(&req.exports, &[(report, None)], &[], false);
    if pass {
        exit
    } else {
        exit.worst(Exit::ExpectationFailed)
    }
}

/// Whether two paths name one file (review of 2026-12-03: `--out a.json` with a.json among
/// the inputs replaced a source).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
