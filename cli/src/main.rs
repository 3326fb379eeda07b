//! The `featc` command line: arguments in, files read, compiler stages called, output and exit codes out.

// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod commands;
mod files;
mod runtime_cmds;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use featc::diagnostic::{codes, json, render};
use featc::{Options, Severity, Target, check_project};

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
    Check {
        /// Files and folders to check (default: the current folder).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Check for one target only (default: both).
        #[arg(long, value_enum)]
        target: Option<TargetArg>,
        /// When to colour human output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// What an edit changes: each feature added, removed, renamed, changed or unchanged, and
    /// what each target must recompute. Exit status: 0 no semantic change, 1 changes, 2 errors.
    Diff {
        /// The project before the edit (a folder of .feat files).
        old: PathBuf,
        /// The project after the edit.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite specs in the canonical layout, or with --check list those that differ.
    Fmt {
        /// Files and folders to format (default: the current folder).
        paths: Vec<PathBuf>,
        /// Change nothing; exit 1 if a file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Print the plan of a project for one target, or the SQL of its batch layer or stream.
    Plan {
        /// The project: a folder of .feat files, or files.
        paths: Vec<PathBuf>,
        /// The target to plan for.
        #[arg(long, value_enum)]
        target: TargetArg,
        /// Output format of the plan.
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// What to print: the plan, or SQL.
        #[arg(long, value_enum, default_value_t = Emit::Plan)]
        emit: Emit,
        /// SQL dialect, with `--emit sql`.
        #[arg(long, value_enum, default_value_t = SqlDialect::Datafusion)]
        dialect: SqlDialect,
        /// Batch cutoff in milliseconds since the epoch, with `--emit sql` (default: a parameter).
        #[arg(long)]
        cutoff_ms: Option<i64>,
    },
    /// Run a project: replay each source's log from offset 0 through the plan, then follow it.
    ///
    /// The embedded log of each source lives under `--data-dir` (default: `.featc` in the
    /// project); an empty log is first seeded from the source's history files.
    Run {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The target to run.
        #[arg(long, value_enum)]
        target: TargetArg,
        /// Stop once the logs are drained instead of following them.
        #[arg(long)]
        until_caught_up: bool,
        /// Where the logs, state and dead letters live.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print the feature vector of a key as of a time (default: its latest event), as JSON.
    Get {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The target whose runtime answers.
        #[arg(long, value_enum, default_value = "kappa")]
        target: TargetArg,
        /// A key field and its value, e.g. `--key user_id=u00042`; one per key field.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        /// As of this time: RFC 3339, or milliseconds since the epoch.
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write every key's feature vector as of a time, one Parquet or CSV file per group.
    ///
    /// Replays the logs from offset 0, reading only the events at or before `--at`, so the
    /// files hold exactly the features as of that time.
    Materialize {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The target whose runtime answers (Lambda: `--at` must be at or after the cutoff).
        #[arg(long, value_enum, default_value = "kappa")]
        target: TargetArg,
        /// As of this time: RFC 3339, or milliseconds since the epoch.
        #[arg(long)]
        at: String,
        /// The folder the files go to (default: `materialized` under the data dir).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "parquet")]
        format: FileFormatArg,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Write a training set: for each row of a spine (key columns, a time, any other columns
    /// such as a label), the features as of that time, from the events at or before it only.
    TrainingSet {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The spine: a Parquet or CSV file with the entity's key columns and a time column.
        #[arg(long)]
        spine: PathBuf,
        /// The spine's time column (a timestamp, epoch milliseconds or RFC 3339 text).
        #[arg(long, default_value = "ts")]
        time_column: String,
        /// The output file (default: the spine's name with `.features.parquet` or `.csv`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "parquet")]
        format: FileFormatArg,
    },
    /// Run the Lambda batch layer: recompute the batch view over the whole history as of a
    /// cutoff and swap it in (the speed layer then reads only events after the new cutoff).
    Batch {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The cutoff: RFC 3339 or milliseconds (default: the latest history event, floored to
        /// the batch cadence).
        #[arg(long)]
        cutoff: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run both targets and the brute-force reference over the project's data and report every
    /// feature value on which they differ, with the late events that explain a difference.
    ///
    /// Exits 0 when every difference is explained by late events (none, for on-time data), 1
    /// otherwise.
    Verify {
        /// The project folder.
        paths: Vec<PathBuf>,
        /// The Lambda batch cutoff (default: as `featc batch`).
        #[arg(long)]
        cutoff: Option<String>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Work with the embedded log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Write the sample data of an example (deterministic) into `examples/<name>/data`.
    ExampleData {
        /// `fraud` or `recsys`.
        example: String,
        /// The folder holding the examples.
        #[arg(long, default_value = "examples")]
        dir: PathBuf,
    },
    /// Print the page of a diagnostic code, e.g. `featc explain E0301`.
    Explain {
        /// The code, e.g. E0301 or W0003.
        code: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Append events from Parquet, CSV or NDJSON files to a source's log.
    Append {
        /// The project folder.
        project: PathBuf,
        /// The source whose log receives the events.
        #[arg(long)]
        source: String,
        /// The files to append, in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FileFormatArg {
    Parquet,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Text,
    Json,
    Dot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    Plan,
    Sql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SqlDialect {
    Datafusion,
    Spark,
    Flink,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    Lambda,
    Kappa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { paths, format, deny_warnings, target, color } => {
            check(&paths, format, deny_warnings, target, color)
        }
        Command::Diff { old, new, format } => commands::diff::run(&old, &new, format == Format::Json),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Plan { paths, target, format, emit, dialect, cutoff_ms } => {
            plan(&paths, target, format, emit, dialect, cutoff_ms)
        }
        Command::Run { paths, target, until_caught_up, data_dir } => {
            runtime_cmds::run(&paths, target == TargetArg::Lambda, data_dir, until_caught_up)
        }
        Command::Get { paths, target, keys, at, data_dir } => {
            runtime_cmds::get(&paths, target == TargetArg::Lambda, &keys, at.as_deref(), data_dir)
        }
        Command::TrainingSet { paths, spine, time_column, out, format } => {
            let format = match format {
                FileFormatArg::Parquet => featc_runtime::runners::materialize::Format::Parquet,
                FileFormatArg::Csv => featc_runtime::runners::materialize::Format::Csv,
            };
            runtime_cmds::training_set(&paths, &spine, &time_column, out, format)
        }
        Command::Batch { paths, cutoff, data_dir } => runtime_cmds::batch(&paths, cutoff.as_deref(), data_dir),
        Command::Verify { paths, cutoff, format, data_dir } => {
            runtime_cmds::verify(&paths, cutoff.as_deref(), format == Format::Json, data_dir)
        }
        Command::Materialize { paths, target, at, out, format, data_dir } => {
            let format = match format {
                FileFormatArg::Parquet => featc_runtime::runners::materialize::Format::Parquet,
                FileFormatArg::Csv => featc_runtime::runners::materialize::Format::Csv,
            };
            runtime_cmds::materialize(&paths, target == TargetArg::Lambda, &at, out, format, data_dir)
        }
        Command::Log(LogCommand::Append { project, source, files, data_dir }) => {
            runtime_cmds::log_append(&[project], &source, &files, data_dir)
        }
        Command::ExampleData { example, dir } => runtime_cmds::example_data(&example, &dir),
        Command::Explain { code } => explain(&code),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("featc: {message}");
            ExitCode::from(2)
        }
    }
}

fn check(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    target: Option<TargetArg>,
    color: Color,
) -> Result<ExitCode, String> {
    let projects = files::projects(paths)?;
    let targets = match target {
        Some(TargetArg::Lambda) => vec![Target::Lambda],
        Some(TargetArg::Kappa) => vec![Target::Kappa],
        None => Target::ALL.to_vec(),
    };
    let options = Options { targets };
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut checked = Vec::new();
    for project in &projects {
        let sources = files::load(project)?;
        let result = check_project(&sources, &options);
        checked.push((sources, result));
    }
    let errors: usize =
        checked.iter().map(|(_, c)| c.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count()).sum();
    let warnings: usize = checked.iter().map(|(_, c)| c.warnings()).sum();
    let file_count: usize = checked.iter().map(|(s, _)| s.len()).sum();
    let failed = errors > 0 || (deny_warnings && warnings > 0);
    match format {
        Format::Human => {
            for (sources, result) in &checked {
                eprint!("{}", render::render(&result.diagnostics, sources, color));
            }
            let status = if failed { "failed" } else { "ok" };
            let n = |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
            eprintln!(
                "check {status}: {} in {}, {}, {}",
                n(file_count, "file"),
                n(projects.len(), "project"),
                n(errors, "error"),
                n(warnings, "warning")
            );
        }
        Format::Json => {
            let diagnostics = checked.iter().flat_map(|(s, c)| json::report(&c.diagnostics, s).diagnostics).collect();
            let report = CheckReport {
                version: json::JSON_VERSION,
                diagnostics,
                summary: Summary { projects: projects.len(), files: file_count, errors, warnings },
            };
            let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            writeln!(std::io::stdout(), "{text}").map_err(|e| e.to_string())?;
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `featc check --format json`: the diagnostics of every project, then a summary.
#[derive(Debug, serde::Serialize)]
struct CheckReport<'a> {
    version: u32,
    diagnostics: Vec<json::JsonDiagnostic<'a>>,
    summary: Summary,
}

#[derive(Debug, serde::Serialize)]
struct Summary {
    projects: usize,
    files: usize,
    errors: usize,
    warnings: usize,
}

fn fmt(paths: &[PathBuf], check: bool) -> Result<ExitCode, String> {
    let mut unformatted = 0;
    let mut broken = 0;
    for path in files::projects(paths)?.into_iter().flatten() {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        match featc::format::format_text(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                unformatted += 1;
                if check {
                    println!("would reformat {}", path.display());
                } else {
                    std::fs::write(&path, formatted).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    println!("formatted {}", path.display());
                }
            }
            Err(problems) => {
                broken += 1;
                let mut sources = featc::SourceMap::new();
                sources.add(path.display().to_string(), text);
                let diagnostics: Vec<_> = problems.iter().map(featc::Problem::to_diagnostic).collect();
                eprint!("{}", render::render(&diagnostics, &sources, false));
                eprintln!("cannot format {}: it does not parse", path.display());
            }
        }
    }
    Ok(if broken > 0 || (check && unformatted > 0) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn plan(
    paths: &[PathBuf],
    target: TargetArg,
    format: PlanFormat,
    emit: Emit,
    dialect: SqlDialect,
    cutoff_ms: Option<i64>,
) -> Result<ExitCode, String> {
    let projects = files::projects(paths)?;
    let [project] = projects.as_slice() else {
        return Err(format!("plan takes one project; found {} folders of .feat files", projects.len()));
    };
    let target = match target {
        TargetArg::Lambda => Target::Lambda,
        TargetArg::Kappa => Target::Kappa,
    };
    let sources = files::load(project)?;
    let checked = check_project(&sources, &Options { targets: vec![target] });
    if checked.has_errors() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render::render(&checked.diagnostics, &sources, color));
        eprintln!("plan failed: the project has errors");
        return Ok(ExitCode::from(1));
    }
    let ir = featc::ir::lower(&checked.project)?;
    let text = match emit {
        Emit::Sql => {
            let dialect = match dialect {
                SqlDialect::Datafusion => featc::sql::Dialect::DataFusion,
                SqlDialect::Spark => featc::sql::Dialect::Spark,
                SqlDialect::Flink => featc::sql::Dialect::Flink,
            };
            featc::sql::emit(&ir, dialect, cutoff_ms).to_script()
        }
        Emit::Plan => {
            let plan = featc::plan::plan(&ir, target);
            match format {
                PlanFormat::Text => featc::plan::to_text(&plan),
                PlanFormat::Json => featc::plan::to_json(&plan),
                PlanFormat::Dot => featc::plan::to_dot(&plan),
            }
        }
    };
    write!(std::io::stdout(), "{text}").map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn explain(code: &str) -> Result<ExitCode, String> {
    match codes::lookup(code) {
        Some(c) => {
            print!("{}", c.explanation);
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("no diagnostic code `{code}`; codes run from E0100 to E0705 and W0001 to W0007")),
    }
}
