//! An example's name in, its sample data (deterministic) written under `examples/<name>/data`
//! out: featc example-data.

use std::path::PathBuf;
use std::process::ExitCode;

use featc_runtime::io::generate;

use crate::error::CliError;

// `featc example-data`; the help text is the doc comment of `Command::ExampleData`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `fraud` or `recsys`.
    example: String,
    /// The folder holding the examples.
    #[arg(long, default_value = "examples")]
    dir: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let out = args.dir.join(&args.example).join("data");
    std::fs::create_dir_all(&out).map_err(|e| CliError::Io(format!("cannot create {}: {e}", out.display())))?;
    match args.example.as_str() {
        "fraud" => {
            let batch = generate::fraud(20_000, 7)?;
            generate::write_parquet(&out.join("transactions.parquet"), &batch)?;
        }
        "recsys" => generate::recsys_ndjson(&out.join("user_events.ndjson"), 20_000, 11)?,
        other => return Err(CliError::Usage(format!("no example `{other}`: fraud or recsys"))),
    }
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
