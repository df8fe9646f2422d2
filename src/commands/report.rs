//! `stress report FILE.json... [--html PATH] [--junit PATH] [--markdown PATH]`: renders saved
//! reports again (a CI artifact turned into a page later): each is read strictly (an unreadable
//! or inconsistent report is exit 2, and the outputs say why), its terminal summary printed,
//! and the outputs written from all of them, after their paths were checked. It judges nothing:
//! exit 0 when everything was written, whatever the reports' verdicts.

use crate::exit::Exit;
use crate::export::Failure;
use crate::options::ReportRequest;
use crate::report::json;

pub fn report(req: ReportRequest) -> Exit {
    let outputs = super::outputs::exports(&req.exports);
    if let Err(exit) = super::outputs::preflight(&outputs, &req.exports) {
        return exit;
    }
    let mut reports = Vec::new();
    for file in &req.files {
        match json::read_strict(file) {
            Ok(r) => reports.push((r, None)),
            Err(e) => {
                let m = e.to_string();
                eprintln!("error: {m}");
                let failure = Failure::new("stress report", m);
                return super::write_failed(&req.exports, failure, Exit::BadInput);
            }
        }
    }
    for (r, _) in &reports {
        super::print_summary(r, None, false);
    }
    super::write_exports(&req.exports, &reports, &[], false)
}
