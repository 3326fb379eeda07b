//! A command's failure in, its kind out: what `main` turns into the `featc: message` line and
//! an exit status.

use std::fmt;

/// Why a command did not succeed. `main` maps each kind to an exit status in one place: 2 for
/// usage, I/O and runtime errors (after printing `featc: message`), 1 for a project with
/// errors, and the given status for a report that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CliError {
    /// A flag or value the command cannot use.
    Usage(String),
    /// A file or folder that cannot be read or written.
    Io(String),
    /// The data or the runtime failed (every runtime error arrives as a `String`).
    Runtime(String),
    /// The project does not check: its diagnostics are printed already.
    HasErrors,
    /// A report is printed and says the command failed: check with errors, `fmt --check` with
    /// files to reformat, verify with unexplained differences, diff with changes.
    Exit(u8),
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Runtime(message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) | CliError::Io(message) | CliError::Runtime(message) => f.write_str(message),
            CliError::HasErrors => f.write_str("the project has errors"),
            CliError::Exit(code) => write!(f, "exit status {code}"),
        }
    }
}
