//! What the run tells every variant ([`Env`]): its id, the interrupt, how to show progress.
//! Its own file so that preparing a variant's load (`prepare.rs`) and running it
//! (`variant.rs`) both read it without importing each other.

use std::sync::Arc;

use super::Interrupt;

/// What the run tells every variant.
pub(crate) struct Env<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) interrupt: &'a Arc<Interrupt>,
    pub(crate) progress: bool,
    /// The variant's place in the run: `(k, n)`, the `k`th of `n` (for the progress line).
    pub(crate) position: (usize, usize),
    /// Say on stderr when each phase begins.
    pub(crate) phases: bool,
}

impl Env<'_> {
    /// `stress: [variant] what`, on stderr, when phases are shown; never fails.
    pub(crate) fn phase(&self, variant: &str, what: &str) {
        if self.phases {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "stress: [{variant}] {what}");
        }
    }
}
