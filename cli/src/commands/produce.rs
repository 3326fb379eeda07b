//! A project, a source and event files in (by default the source's history), the events on
//! the source's Kafka topic out: featc produce.

use std::path::PathBuf;
use std::process::ExitCode;

use featc::ir::{FileFormat, Target};
use featc_runtime::io::kafka::KafkaConfig;
use featc_runtime::io::kafka::produce::EventProducer;
use featc_runtime::io::{dead_letters, history};

use crate::error::CliError;
use crate::project;

// `featc produce`; the help text is the doc comment of `Command::Produce`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder (its `featc.toml` names the brokers, or FEATC_KAFKA_BROKERS does).
    project: PathBuf,
    /// The source whose topic receives the events.
    #[arg(long)]
    source: String,
    /// The files to produce, in order (Parquet, CSV or NDJSON); default: the source's history.
    files: Vec<PathBuf>,
    /// The partitions of the topic, when it does not exist yet and is created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// The brokers (`host:port,...`), instead of the project's configuration.
    #[arg(long)]
    brokers: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let (ir, dir) = project::load(std::slice::from_ref(&args.project), Target::Kappa)?;
    let Some(source) = ir.sources.iter().find(|s| s.name == args.source) else {
        return Err(CliError::Usage(format!("no source `{}` in the project", args.source)));
    };
    let mut config = KafkaConfig::load(&dir)?.unwrap_or_default();
    if let Some(brokers) = args.brokers {
        config.brokers = brokers;
    }
    if config.brokers.is_empty() {
        return Err(CliError::Usage(format!(
            "no Kafka brokers: pass --brokers, set {}, or write them in {}",
            featc_runtime::io::kafka::BROKERS_ENV,
            dir.join(featc_runtime::io::kafka::CONFIG_FILE).display()
        )));
    }
    if args.partitions < 1 {
        return Err(CliError::Usage("--partitions must be at least 1".to_owned()));
    }
    // The files: those given, or the history's.
    let files: Vec<(PathBuf, FileFormat)> = if args.files.is_empty() {
        let Some(h) = &source.history else {
            return Err(CliError::Usage(format!("source `{}` has no history files: name the files", source.name)));
        };
        history::files(&dir, &h.glob)?.into_iter().map(|f| (f, h.format)).collect()
    } else {
        let mut out = Vec::new();
        for file in &args.files {
            let name = file.to_string_lossy();
            if !file.is_file() {
                return Err(CliError::Io(format!("{name}: no such file; nothing was produced")));
            }
            let format = FileFormat::from_path(&name)
                .ok_or_else(|| CliError::Usage(format!("{name}: say .parquet, .csv or .ndjson")))?;
            out.push((file.clone(), format));
        }
        out
    };
    // Keyed by the entity key of the first group reading the source.
    let si = ir.sources.iter().position(|s| s.name == source.name).unwrap_or_default();
    let keys: Vec<String> = ir
        .groups
        .iter()
        .find(|g| g.source == si)
        .map(|g| g.keys.iter().map(|k| k.name.clone()).collect())
        .unwrap_or_default();
    let mut producer = EventProducer::open(&config, source, &keys, args.partitions)?;
    let data_dir = project::data_dir(args.data_dir, &dir);
    let mut rejected = Vec::new();
    for (file, format) in &files {
        for chunk in history::file_chunks(file, *format, source, 1 << 16) {
            let chunk = chunk?;
            rejected.extend(chunk.rejected);
            for batch in &chunk.batches {
                producer.send(batch)?;
            }
        }
    }
    let sent = producer.finish()?;
    let topic = config.topic(source);
    eprintln!("produced {sent} events to `{topic}` at {}", config.brokers);
    if let Some(path) = dead_letters::append_rejected(&data_dir, &source.name, &rejected)? {
        eprintln!("{} lines could not be read as events: see {}", rejected.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}
