//! Lines for the user on stdout and stderr that never panic.
//!
//! `println!` and `eprintln!` panic when the write fails, and during `stress run` it can: a
//! closed pipe (`stress run … | head`: Rust ignores SIGPIPE, so the write is an error), or a
//! terminal that hung up (EIO). A run must still write its report and remove its server, so a
//! line its output cannot take is dropped. `run` keeps SIGPIPE ignored for that reason; the
//! other commands restore its default and end quietly on a closed pipe (`cli`).

use std::fmt::Arguments;
use std::io::Write;

/// A line on stdout; dropped when stdout cannot take it.
pub(crate) fn out(line: Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A line on stderr; dropped when stderr cannot take it.
pub(crate) fn err(line: Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Text on stdout as is, styles stripped when stdout is no terminal (`anstream`); dropped
/// when stdout cannot take it.
pub(crate) fn out_styled(text: &str) {
    let mut stdout = anstream::stdout();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// `println!` that never panics.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::console::out(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::console::err(format_args!($($arg)*)) };
}

pub(crate) use {errln, outln};
