//! The contract's exit codes, and which one wins when several scenarios run.

use std::process::ExitCode;

/// `0` ran and every expectation held · `1` an expectation failed · `2` bad invocation or
/// scenario · `3` infrastructure failure · `130` interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok,
    ExpectationFailed,
    BadInput,
    Infra,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::ExpectationFailed => 1,
            Exit::BadInput => 2,
            Exit::Infra => 3,
            Exit::Interrupted => 130,
        }
    }

    /// With several files the worst wins: interrupted, then 2, then 3, then 1, then 0.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::ExpectationFailed => 1,
            Exit::Infra => 2,
            Exit::BadInput => 3,
            Exit::Interrupted => 4,
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
        assert_eq!(BadInput.worst(Interrupted), Interrupted);
    }
}
