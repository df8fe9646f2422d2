//! SIGINT, SIGTERM and SIGHUP for `stress run`, caught from the command's first instruction,
//! before anything is started, and in every phase after it.
//!
//! The handlers (signal-hook's) only record the signal and wake a thread of ours, which raises
//! the run's [`Interrupt`]: the first signal stops the load and keeps what was measured; the
//! second cancels what still runs (setup and teardown statements included) and removes the
//! server; if the run has not ended [`GRACE`] after it, or at a third signal, the process exits
//! at once with the signal's exit code, and the watchdogs remove the servers
//! (`database::watchdog`). A SIGHUP means the terminal is gone: our terminal descriptors are
//! pointed at `/dev/null` first, so that writing the summary does not fail.
//!
//! A thread, not tokio's signal streams: those only run when the runtime is polled, and the
//! embedded server's start and the template's `initdb` block the runtime's thread.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit::Exit;
use crate::signal::Interrupt;

/// How long a second signal waits for the run to end in order before exiting at once.
const GRACE: Duration = Duration::from_millis(1500);

/// Installs the handlers; the returned interrupt is raised by the signals.
pub(crate) fn install() -> std::io::Result<Arc<Interrupt>> {
    let interrupt = Arc::new(Interrupt::default());
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let raised = interrupt.clone();
    // Which descriptors are a terminal is asked now: after a hang-up, none is any more.
    let terminals = [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signo in signals.forever() {
                on_signal(&raised, signo, terminals);
            }
        })?;
    Ok(interrupt)
}

fn on_signal(interrupt: &Arc<Interrupt>, signo: i32, terminals: [bool; 3]) {
    if signo == SIGHUP {
        detach_from_terminal(terminals);
    }
    let name = name(signo);
    if !interrupt.is_raised() {
        say(&format!(
            "{name}: stopping the load, writing the partial report (again to stop at once)"
        ));
        interrupt.raise_by(signo);
    } else if !interrupt.is_urgent() {
        say(&format!(
            "{name} again: cancelling what runs, skipping the rest, removing what was started"
        ));
        interrupt.raise_by(signo);
        let code = exit_code(interrupt);
        std::thread::spawn(move || {
            std::thread::sleep(GRACE);
            say("stopping now; the watchdog removes the server");
            std::process::exit(code);
        });
    } else {
        say(&format!("{name} a third time: stopping now"));
        std::process::exit(exit_code(interrupt));
    }
}

/// The exit code for the signal that stopped the run (128 + its number).
pub(crate) fn exit_code(interrupt: &Interrupt) -> i32 {
    i32::from(Exit::Interrupted(interrupt.signo().unwrap_or(SIGINT)).code())
}

fn name(signo: i32) -> &'static str {
    match signo {
        SIGINT => "interrupted (SIGINT)",
        SIGTERM => "terminated (SIGTERM)",
        SIGHUP => "hung up (SIGHUP)",
        _ => "signalled",
    }
}

/// Writes a line on stderr; never panics (stderr may be a closed terminal).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "stress: {line}");
}

/// Points the descriptors that were a terminal when the run began at `/dev/null`: after a
/// hang-up, writing to the terminal fails (EIO), and the summary must not make the run fail.
/// (`is_terminal` cannot be asked here: a hung-up terminal is no terminal any more.)
fn detach_from_terminal(terminals: [bool; 3]) {
    let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") else {
        return;
    };
    for (fd, terminal) in terminals.into_iter().enumerate() {
        if terminal {
            // SAFETY: dup2 onto one of the standard descriptors, which stay open; Rust's
            // handles to them do not cache the descriptor's state.
            unsafe { nix::libc::dup2(null.as_raw_fd(), fd as i32) };
        }
    }
}
