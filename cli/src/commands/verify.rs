//! A project in, every feature value on which Lambda, Kappa and the brute-force reference
//! differ out, with the late events that explain a difference: featc verify.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::Target;
use featc_runtime::io::time::rfc3339;
use featc_runtime::runners::kappa::json_value;

use crate::commands::Format;
use crate::error::CliError;
use crate::project;

// `featc verify`; the help text is the doc comment of `Command::Verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder.
    paths: Vec<PathBuf>,
    /// The Lambda batch cutoff (default: as `featc batch`).
    #[arg(long)]
    cutoff: Option<String>,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    engine: crate::commands::EngineArgs,
}

/// Exit status: 0 when every difference is explained by late events, 1 otherwise.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let json = args.format == Format::Json;
    let (ir, dir) = project::load(&args.paths, Target::Lambda)?;
    let data_dir = project::data_dir(args.data_dir, &dir);
    let cutoff = args.cutoff.as_deref().map(project::parse_time).transpose()?;
    let progress = project::bar(0, "verify", json);
    progress.set_length(3 * project::history_events(&ir, &dir));
    let report =
        featc_runtime::runners::verify::verify(&ir, &dir, &data_dir, cutoff, &args.engine.engine(), &mut |n| {
            progress.inc(n)
        })?;
    progress.finish_and_clear();
    let unexplained = report.unexplained();
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?);
    } else {
        println!(
            "verified {} keys at {} feature values per target ({} events, batch cutoff {}): {} differences, {} of them unexplained",
            report.keys,
            report.compared,
            report.events,
            rfc3339(report.cutoff),
            report.differences.len(),
            unexplained
        );
        for d in &report.differences {
            let key: Vec<String> = d.key.iter().map(|v| json_value(v).to_string()).collect();
            println!(
                "  {}[{}].{} at {}: lambda {}, kappa {}, reference {}{}",
                d.group,
                key.join(", "),
                d.feature,
                rfc3339(d.at),
                json_value(&d.lambda),
                json_value(&d.kappa),
                d.reference,
                match (d.explained, d.late_events) {
                    (true, n) => format!(
                        " (explained: {n} late events for this key, dead-lettered by the stream, counted by the batch layer)"
                    ),
                    (false, 0) => String::new(),
                    (false, n) => format!(" (unexplained: the {n} late events of this key do not account for it)"),
                }
            );
        }
        for (group, reason, _) in &report.late {
            println!("  late event in {group}: {reason}");
        }
    }
    if unexplained == 0 { Ok(ExitCode::SUCCESS) } else { Err(CliError::Exit(1)) }
}
