//! Everything the CLI prints. The only module allowed to write to stdout and stderr directly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

/// Prints a line to stdout.
pub fn line(text: &str) {
    println!("{text}");
}

/// Prints an error to stderr and returns the failure exit code.
pub fn fatal(message: &str) -> ExitCode {
    eprintln!("gatehouse: {message}");
    ExitCode::FAILURE
}
