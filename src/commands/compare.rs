//! `stress compare BASE.json NEW.json`: the deltas of every variant against the baseline, exit
//! 1 on a regression; reports of another scenario or other settings are refused (exit 2)
//! unless `--force`, as are reports that disagree with themselves (read strictly), and output
//! paths that cannot be written (checked first).

use crate::exit::Exit;
use crate::export::Failure;
use crate::options::CompareRequest;
use crate::report::compare::{self, Fingerprint, comparable};
use crate::report::json;

pub fn compare(req: CompareRequest) -> Exit {
    let outputs = super::outputs::exports(&req.exports);
    if let Err(exit) = super::outputs::preflight(&outputs, &req.exports) {
        return exit;
    }
    let refuse = |m: String| {
        eprintln!("error: {m}");
        super::write_failed(
            &req.exports,
            Failure::new("stress compare", m),
            Exit::BadInput,
        )
    };
    let (base, new) = match (json::read_strict(&req.base), json::read_strict(&req.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => return refuse(e.to_string()),
    };
    let known = compare::workloads(&base).chain(compare::workloads(&new));
    if let Some(m) = req.tolerances.unknown_workload(known, "reports compared") {
        return refuse(m);
    }
    let forced = match comparable(&base, &Fingerprint::of(&new)) {
        Ok(()) => None,
        Err(m) if req.force => Some(m.0),
        Err(m) => {
            return refuse(format!(
                "{} against {}: {m}\n  (pass --force to compare anyway)",
                req.new.display(),
                req.base.display()
            ));
        }
    };
    let c = compare::compare(&base, &new, &req.tolerances, forced);
    super::print_summary(&new, Some(&c), true);
    let exit = super::write_exports(&req.exports, &[(new, Some(c.clone()))], &[], true);
    if c.regressions() > 0 {
        exit.worst(Exit::ExpectationFailed)
    } else {
        exit
    }
}
