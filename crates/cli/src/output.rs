//! Everything the CLI prints. The only module allowed to write to stdout and stderr directly.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

/// Prints a line to stdout. A closed pipe (`gatehouse logs | head`) ends the process quietly, as Unix tools do.
pub fn line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Prints a progress note to stderr (kept out of stdout, which carries results).
pub fn progress(text: &str) {
    eprintln!("{text}");
}

/// Prints an error to stderr and returns the failure exit code.
pub fn fatal(message: &str) -> ExitCode {
    eprintln!("gatehouse: {message}");
    ExitCode::FAILURE
}
