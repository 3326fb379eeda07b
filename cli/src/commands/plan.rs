//! A project and a target in, its plan (text, JSON or Graphviz) or the SQL of its batch layer
//! or stream out: featc plan.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use featc::diagnostic::render;
use featc::{Options, check_project};

use crate::commands::TargetArg;
use crate::error::CliError;
use crate::files;

// `featc plan`; the help text is the doc comment of `Command::Plan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// Batch cutoff in milliseconds since the epoch, with `--emit sql` (default: a parameter;
    /// in a Spark job, a session variable that takes every event unless set).
    #[arg(long)]
    cutoff_ms: Option<i64>,
    /// With `--dialect spark` or `flink`: the folder the job writes each statement's results
    /// under (default: `.featc/spark/partials` or `.featc/flink/partials` in the project folder).
    #[arg(long)]
    output: Option<PathBuf>,
    /// With `--dialect flink`: where the job reads its events. `kafka` gives a streaming job over
    /// the topics of the project's Kafka settings (`featc.toml` `[kafka]`, or
    /// `FEATC_KAFKA_BROKERS`), writing each statement's rows to a topic `featc.<statement>`.
    #[arg(long, value_enum, default_value_t = From::Files)]
    from: From,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum From {
    Files,
    Kafka,
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

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let projects = files::projects(&args.paths)?;
    let [project] = projects.as_slice() else {
        return Err(CliError::Usage(format!(
            "plan takes one project; found {} folders of .feat files",
            projects.len()
        )));
    };
    let target = args.target.target();
    let sources = files::load(project)?;
    let checked = check_project(&sources, &Options { targets: vec![target] });
    if checked.has_errors() {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        eprint!("{}", render::render(&checked.diagnostics, &sources, color));
        eprintln!("plan failed: the project has errors");
        return Err(CliError::HasErrors);
    }
    let ir = featc::ir::lower(&checked.project)?;
    let text = match args.emit {
        Emit::Sql => {
            let dialect = match args.dialect {
                SqlDialect::Datafusion => featc::sql::Dialect::DataFusion,
                // Spark and Flink: a complete job over the files the spec binds, read from where
                // the spec is, each result written under the output folder.
                SqlDialect::Spark | SqlDialect::Flink => {
                    let dir =
                        project.first().and_then(|p| p.parent()).map_or_else(|| PathBuf::from("."), PathBuf::from);
                    let dir = std::path::absolute(&dir).unwrap_or(dir);
                    let engine = if args.dialect == SqlDialect::Spark { "spark" } else { "flink" };
                    let output = args.output.unwrap_or_else(|| dir.join(".featc").join(engine).join("partials"));
                    let output = std::path::absolute(&output).unwrap_or(output).to_string_lossy().into_owned();
                    let base_dir = Some(dir.to_string_lossy().into_owned());
                    let job = if args.dialect == SqlDialect::Spark {
                        let job =
                            featc::sql::spark::SparkJob { cutoff_ms: args.cutoff_ms, base_dir, output_dir: output };
                        featc::sql::spark::job(&ir, &job)
                    } else {
                        let kafka = match args.from {
                            From::Files => None,
                            From::Kafka => Some(flink_kafka(&ir, &dir)?),
                        };
                        featc::sql::flink::job(
                            &ir,
                            &featc::sql::flink::FlinkJob { base_dir, output_dir: output, kafka },
                        )
                    };
                    let text = job.map_err(CliError::Usage)?.to_script();
                    write!(std::io::stdout(), "{text}").map_err(|e| CliError::Io(e.to_string()))?;
                    return Ok(ExitCode::SUCCESS);
                }
            };
            featc::sql::emit(&ir, dialect, args.cutoff_ms).to_script()
        }
        Emit::Plan => {
            let plan = featc::plan::plan(&ir, target);
            match args.format {
                PlanFormat::Text => featc::plan::to_text(&plan),
                PlanFormat::Json => featc::plan::to_json(&plan),
                PlanFormat::Dot => featc::plan::to_dot(&plan),
            }
        }
    };
    write!(std::io::stdout(), "{text}").map_err(|e| CliError::Io(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

/// The Kafka a Flink job reads: the project's Kafka settings and the topics of the sources they bind.
fn flink_kafka(ir: &featc::ir::FeatureIr, dir: &std::path::Path) -> Result<featc::sql::flink::FlinkKafka, CliError> {
    let config = featc_runtime::io::kafka::KafkaConfig::load(dir).map_err(CliError::Usage)?.ok_or_else(|| {
        CliError::Usage(
            "--from kafka needs the project's Kafka settings: a [kafka] table in featc.toml, or FEATC_KAFKA_BROKERS"
                .to_owned(),
        )
    })?;
    let topics =
        ir.sources.iter().filter(|s| config.binds(s)).map(|s| (s.name.clone(), config.topic(s))).collect::<Vec<_>>();
    if topics.is_empty() {
        return Err(CliError::Usage("the project's Kafka settings bind no source of this spec".to_owned()));
    }
    Ok(featc::sql::flink::FlinkKafka {
        brokers: config.brokers.clone(),
        group: format!("{}-flink", config.group()),
        topics,
        sink_prefix: "featc.".to_owned(),
    })
}
