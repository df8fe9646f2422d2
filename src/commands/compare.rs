//! `stress compare BASE.json NEW.json`: the deltas of every variant against the baseline, exit
//! 1 on a regression; reports of another scenario or other settings are refused (exit 2)
//! unless `--force`.

use crate::exit::Exit;
use crate::options::CompareRequest;
use crate::report::compare::{self, Fingerprint, comparable};
use crate::report::{json, summary};

pub fn compare(req: CompareRequest) -> Exit {
    let (base, new) = match (json::read_strict(&req.base), json::read_strict(&req.new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let forced = match comparable(&base, &Fingerprint::of(&new)) {
        Ok(()) => None,
        Err(m) if req.force => Some(m.0),
        Err(m) => {
            eprintln!(
                "error: {} against {}: {m}\n  (pass --force to compare anyway)",
                req.new.display(),
                req.base.display()
            );
            return Exit::BadInput;
        }
    };
    let c = compare::compare(&base, &new, &req.tolerances, forced);
    anstream::print!("{}", summary::render_comparison(&c));
    let exit = super::write_exports(&req.exports, &[(new, Some(c.clone()))], true);
    if c.regressions() > 0 {
        exit.worst(Exit::ExpectationFailed)
    } else {
        exit
    }
}
