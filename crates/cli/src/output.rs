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

/// An error answer of the Management or Authentication API as a sentence: Auth0's `message` (Management API) or
/// `error_description` (OAuth), with its code; the raw JSON only when it has neither.
pub fn api_error(body: &serde_json::Value) -> String {
    let text = |k: &str| body.get(k).and_then(serde_json::Value::as_str);
    match (text("message"), text("error_description"), text("error")) {
        (Some(message), _, Some(error)) => format!("{message} ({error})"),
        (Some(message), _, None) => message.to_owned(),
        (None, Some(description), Some(error)) => format!("{description} ({error})"),
        (None, Some(description), None) => description.to_owned(),
        (None, None, Some(error)) => error.to_owned(),
        (None, None, None) => body.to_string(),
    }
}
