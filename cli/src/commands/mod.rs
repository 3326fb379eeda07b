//! One module per command, each with its arguments (`Args`) and `run`; the value types that
//! several commands' flags share.

pub(crate) mod batch;
pub(crate) mod check;
pub(crate) mod diff;
pub(crate) mod example_data;
pub(crate) mod explain;
pub(crate) mod fmt;
pub(crate) mod get;
pub(crate) mod log;
pub(crate) mod materialize;
pub(crate) mod plan;
pub(crate) mod produce;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod training_set;
pub(crate) mod verify;

use clap::ValueEnum;
use featc::ir::Target;
use featc_runtime::runners::materialize::Format as FileFormat;

/// `--format` of the commands that print a report: for people or as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

/// `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    Lambda,
    Kappa,
}

impl TargetArg {
    pub(crate) fn target(self) -> Target {
        match self {
            TargetArg::Lambda => Target::Lambda,
            TargetArg::Kappa => Target::Kappa,
        }
    }

    /// What the progress bar of this target's reading of the logs is called.
    pub(crate) fn reading(self) -> &'static str {
        match self {
            TargetArg::Lambda => "speed layer",
            TargetArg::Kappa => "replay",
        }
    }
}

/// `--format` of the commands that write features to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FileFormatArg {
    Parquet,
    Csv,
    /// A Delta Lake table (a folder; each run appends one commit with its metadata).
    Delta,
}

impl FileFormatArg {
    pub(crate) fn format(self) -> FileFormat {
        match self {
            FileFormatArg::Parquet => FileFormat::Parquet,
            FileFormatArg::Csv => FileFormat::Csv,
            FileFormatArg::Delta => FileFormat::Delta,
        }
    }

    /// The file name extension.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            FileFormatArg::Parquet => "parquet",
            FileFormatArg::Csv => "csv",
            FileFormatArg::Delta => "delta",
        }
    }
}

/// `--engine`, `--master`, `--spark-submit`: what computes the Lambda batch view.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EngineArgs {
    /// The engine of the batch layer: featc's operators over DataFusion, or the emitted Spark
    /// job run with spark-submit and installed by featc.
    #[arg(long, value_enum, default_value_t = EngineArg::Datafusion)]
    engine: EngineArg,
    /// With `--engine spark`: Spark's master URL (`local[*]`, `spark://host:7077`, `yarn`, ...).
    #[arg(long, default_value = "local[*]")]
    master: String,
    /// With `--engine spark`: the spark-submit launcher (default: `$SPARK_HOME/bin/spark-submit`,
    /// else `spark-submit` on the PATH).
    #[arg(long)]
    spark_submit: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Datafusion,
    Spark,
}

impl EngineArgs {
    pub(crate) fn engine(&self) -> featc_runtime::runners::lambda::Engine {
        use featc_runtime::runners::lambda::{Engine, spark::SparkRun};
        match self.engine {
            EngineArg::Datafusion => Engine::DataFusion,
            EngineArg::Spark => {
                let mut run = SparkRun::from_env();
                run.master = self.master.clone();
                if let Some(p) = &self.spark_submit {
                    run.spark_submit = p.clone();
                }
                Engine::Spark(run)
            }
        }
    }
}
