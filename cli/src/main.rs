//! The `featc` command line: arguments in, files read, compiler stages called, output and exit codes out.

// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod error;
mod files;
mod project;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// mimalloc: the state of a feature group is many small allocations made on one thread and
/// freed on another (a batch view decoded on every core, put together on one); glibc's
/// allocator serializes those frees on its arena locks. Transparent huge pages are turned off
/// in `main` before any command runs (`featc_runtime::process::without_huge_pages`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// featc: a compiler for ML feature pipelines.
#[derive(Debug, Parser)]
#[command(name = "featc", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check specs without running anything: no data, no network.
    ///
    /// Each folder holding .feat files is one project; files named on the command line form
    /// one project together. Exit status: 0 clean, 1 errors (or warnings with
    /// --deny-warnings), 2 usage or I/O errors.
    Check(commands::check::Args),
    /// What an edit changes: each feature added, removed, renamed, changed or unchanged, and
    /// what each target must recompute. Exit status: 0 no semantic change, 1 changes, 2 errors.
    Diff(commands::diff::Args),
    /// Rewrite specs in the canonical layout, or with --check list those that differ.
    Fmt(commands::fmt::Args),
    /// Print the plan of a project for one target, or the SQL of its batch layer or stream.
    Plan(commands::plan::Args),
    /// Run a project: replay each source's log from offset 0 through the plan, then follow it.
    ///
    /// The embedded log of each source lives under `--data-dir` (default: `.featc` in the
    /// project); an empty log is first seeded from the source's history files.
    Run(commands::run::Args),
    /// Print the feature vector of a key as of a time (default: its latest event), as JSON.
    Get(commands::get::Args),
    /// Run the pipeline and answer feature lookups over HTTP, as of request time.
    ///
    /// Follows the logs (Kappa, or Lambda's speed layer beside its batch view), keeps the state
    /// in memory and answers `GET /v1/features/<group>?<key>=<value>[&at=T]`, `POST
    /// /v1/features`, `/healthz`, `/readyz` and `/metrics`. Listens on 127.0.0.1 unless told
    /// otherwise; with `--token-file`, requests must carry `Authorization: Bearer <token>`.
    Serve(commands::serve::Args),
    /// Write every key's feature vector as of a time, one Parquet or CSV file per group.
    ///
    /// Reads only the events at or before `--at`, from each group's latest checkpoint that
    /// holds no event after it (else from offset 0), so the files hold exactly the features as
    /// of that time.
    Materialize(commands::materialize::Args),
    /// Write a training set: for each row of a spine (key columns, a time, any other columns
    /// such as a label), the features as of that time, from the events at or before it only.
    TrainingSet(commands::training_set::Args),
    /// Run the Lambda batch layer: recompute the batch view over the whole history as of a
    /// cutoff and swap it in (the speed layer then reads only events after the new cutoff).
    Batch(commands::batch::Args),
    /// Run both targets and the brute-force reference over the project's data and report every
    /// feature value on which they differ, with the late events that explain a difference.
    ///
    /// Exits 0 when every difference is explained by late events (none, for on-time data), 1
    /// otherwise.
    Verify(commands::verify::Args),
    /// Work with the embedded log.
    Log(commands::log::Args),
    /// Put a source's events on its Kafka topic: its history files, or the files named.
    ///
    /// Each event is one JSON message keyed by its entity key; the topic is created with
    /// `--partitions` partitions if it does not exist. The brokers come from `--brokers`,
    /// FEATC_KAFKA_BROKERS or the project's featc.toml.
    Produce(commands::produce::Args),
    /// Write the sample data of an example (deterministic) into `examples/<name>/data`.
    ExampleData(commands::example_data::Args),
    /// Print the page of a diagnostic code, e.g. `featc explain E0301`.
    Explain(commands::explain::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logs();
    // After the logs are set up (a kernel that refuses says so at debug level), before any
    // command allocates.
    featc_runtime::process::without_huge_pages();
    let result = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Diff(args) => commands::diff::run(args),
        Command::Fmt(args) => commands::fmt::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Get(args) => commands::get::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Materialize(args) => commands::materialize::run(args),
        Command::TrainingSet(args) => commands::training_set::run(args),
        Command::Batch(args) => commands::batch::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Log(args) => commands::log::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::ExampleData(args) => commands::example_data::run(args),
        Command::Explain(args) => commands::explain::run(args),
    };
    result.unwrap_or_else(exit_code)
}

/// Logs (what long-running commands report while they run: following the logs, retries,
/// version switches) go to standard error through `tracing`, at the level `FEATC_LOG` names
/// (`error`, `warn`, `info`, `debug` or `trace`; default `info`). A command's own output and
/// summaries are printed, not logged.
fn logs() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = std::env::var("FEATC_LOG")
        .ok()
        .and_then(|l| l.trim().parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    // Dependencies (the Delta kernel logs every scan at info) speak up at warnings only.
    let theirs = if level > tracing::Level::WARN { tracing::Level::WARN } else { level };
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target("featc", level)
        .with_target("featc_runtime", level)
        .with_target("featc_cli", level)
        .with_default(theirs);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .finish()
        .with(targets)
        .init();
}

/// The one place a failure becomes an exit status: 2 with a `featc: message` line for usage,
/// I/O and runtime errors; 1 for a project with errors (its diagnostics are printed); the
/// status a printed report asks for.
fn exit_code(error: CliError) -> ExitCode {
    match error {
        CliError::Usage(_) | CliError::Io(_) | CliError::Runtime(_) => {
            eprintln!("featc: {error}");
            ExitCode::from(2)
        }
        CliError::HasErrors => ExitCode::from(1),
        CliError::Exit(code) => ExitCode::from(code),
    }
}
