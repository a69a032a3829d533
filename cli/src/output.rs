//! Writing to stdout and stderr without panicking: `println!` panics when
//! the reader of a pipe has gone (`tensorsafe stats x | head -2`).

use std::fmt;
use std::io::{self, Write};

/// What a shell reports for a program ended by SIGPIPE (128 + 13), as
/// `ls | head` ends: the output was not all wanted, and the command did
/// not finish.
pub const CLOSED_PIPE: u8 = 141;

/// Writes one line to stdout. When stdout's reader has gone, the program
/// ends at once and quietly with [`CLOSED_PIPE`]; any other failure to
/// write (a full disk) is reported on stderr and ends it with 2.
pub fn out_line(args: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(e) = written {
        drop(stdout);
        stdout_failed(&e);
    }
}

/// Flushes stdout (lines are flushed as written; this catches the end).
pub fn flush() {
    if let Err(e) = io::stdout().lock().flush() {
        stdout_failed(&e);
    }
}

fn stdout_failed(e: &io::Error) -> ! {
    if e.kind() != io::ErrorKind::BrokenPipe {
        err_line(format_args!("tensorsafe: cannot write to stdout: {e}"));
        std::process::exit(2);
    }
    std::process::exit(CLOSED_PIPE.into())
}

/// Writes one line to stderr; if stderr is closed there is nobody to
/// tell, and the exit code still says what happened.
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

/// `println!` that ends the program quietly when stdout is a closed pipe.
macro_rules! outln {
    () => {
        $crate::output::out_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::out_line(format_args!($($arg)*))
    };
}

/// `eprintln!` that does not panic when stderr is closed.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::err_line(format_args!($($arg)*))
    };
}
