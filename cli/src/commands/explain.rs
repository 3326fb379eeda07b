//! A diagnostic code in, its page out: featc explain.

use std::process::ExitCode;

use featc::diagnostic::codes;

use crate::error::CliError;

// `featc explain`; the help text is the doc comment of `Command::Explain`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The code, e.g. E0301 or W0003.
    code: String,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    match codes::lookup(&args.code) {
        Some(c) => {
            print!("{}", c.explanation);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(CliError::Usage(format!(
            "no diagnostic code `{}`; codes run from E0100 to E0800 and W0001 to W0008",
            args.code
        ))),
    }
}
