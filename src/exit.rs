//! The contract's exit codes, and which one wins when several scenarios run.

use std::process::ExitCode;

/// `0` ran and every expectation held · `1` an expectation failed · `2` bad invocation or
/// scenario · `3` infrastructure failure · `128 + N` stopped by signal N, as shells report it:
/// `129` SIGHUP, `130` SIGINT (Ctrl-C), `143` SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok,
    ExpectationFailed,
    BadInput,
    Infra,
    /// Stopped by this signal number.
    Interrupted(i32),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::ExpectationFailed => 1,
            Exit::BadInput => 2,
            Exit::Infra => 3,
            // Signal numbers are small; anything odd still reads as SIGINT's 130.
            Exit::Interrupted(signo) => u8::try_from(128 + signo).unwrap_or(130),
        }
    }

    /// With several files the worst wins: interrupted, then 2, then 3, then 1, then 0.
    pub(crate) fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::ExpectationFailed => 1,
            Exit::Infra => 2,
            Exit::BadInput => 3,
            Exit::Interrupted(_) => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit::*;

    #[test]
    fn the_worst_exit_wins() {
        assert_eq!(Ok.worst(ExpectationFailed), ExpectationFailed);
        assert_eq!(Infra.worst(ExpectationFailed), Infra);
        assert_eq!(Infra.worst(BadInput), BadInput);
        assert_eq!(BadInput.worst(Ok), BadInput);
        assert_eq!(BadInput.worst(Interrupted(15)), Interrupted(15));
        assert_eq!(Interrupted(15).worst(Interrupted(2)), Interrupted(15));
    }

    #[test]
    fn a_signal_exits_as_shells_report_it() {
        assert_eq!(Interrupted(1).code(), 129);
        assert_eq!(Interrupted(2).code(), 130);
        assert_eq!(Interrupted(15).code(), 143);
    }
}
