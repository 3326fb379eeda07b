//! A project and a key in, its feature vectors as JSON out: featc get.

use std::path::PathBuf;
use std::process::ExitCode;

use featc_runtime::runners::kappa::json_value;
use featc_runtime::value::Value;

use crate::commands::TargetArg;
use crate::error::CliError;
use crate::project;

// `featc get`; the help text is the doc comment of `Command::Get`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
}

/// Prints, for each group keyed by exactly the `--key` fields, the key's feature vector as of
/// `--at` (default: the earliest time the runtime answers for it), or that it was not found.
pub(crate) fn run(args: Args) -> Result<ExitCode, CliError> {
    let pairs: Vec<(&str, &str)> = args
        .keys
        .iter()
        .map(|k| k.split_once('=').ok_or_else(|| CliError::Usage(format!("`--key {k}`: write name=value"))))
        .collect::<Result<_, _>>()?;
    let at_ms = args.at.as_deref().map(project::parse_time).transpose()?;
    // The data folder of a consumer group's members holds one folder per partition, each with
    // the keys of its partition: the key is looked up in each.
    let shared = project::data_dir_of(&args.paths, args.data_dir.as_deref())?;
    let partitions = featc_runtime::io::kafka::group::partition_dirs(&shared)?;
    let folders: Vec<Option<PathBuf>> = if partitions.is_empty() || args.target != TargetArg::Kappa {
        vec![args.data_dir.clone()]
    } else {
        partitions.into_iter().map(|(_, d)| Some(d)).collect()
    };
    let mut readers = Vec::new();
    for folder in folders {
        let mut reader = project::open_reader(&args.paths, args.target, folder, None, true, &[])?;
        project::catch_up(&mut *reader, args.target.reading(), true)?;
        readers.push(reader);
    }
    let Some(first) = readers.first() else { return Err(CliError::Usage("no data folder".to_owned())) };
    let mut results = Vec::new();
    for (gi, ir_group) in first.ir().groups.iter().enumerate() {
        let names: Vec<&str> = ir_group.keys.iter().map(|k| k.name.as_str()).collect();
        if names.len() != pairs.len() || !names.iter().all(|n| pairs.iter().any(|(k, _)| k == n)) {
            continue;
        }
        let key: Vec<Value> = ir_group
            .keys
            .iter()
            .map(|k| project::key_value(pairs.iter().find(|(n, _)| *n == k.name).map_or("", |(_, v)| v), &k.ty.ty))
            .collect();
        let holding: Vec<_> = readers.iter().filter_map(|r| r.present(gi, &key).map(|t| (r, t))).collect();
        // A key's events are all in one partition when the producer keys them by it; a key in
        // two folders has its state split, and no folder has its features.
        if holding.len() > 1 {
            return Err(CliError::Runtime(format!(
                "group `{}`: the key is in {} partitions' folders; its events were not partitioned by it",
                ir_group.name,
                holding.len()
            )));
        }
        let Some(&(reader, latest)) = holding.first() else {
            results.push(serde_json::json!({ "group": ir_group.name, "found": false }));
            continue;
        };
        let t = at_ms.unwrap_or(latest);
        let vector = reader.lookup(gi, &key, t)?.unwrap_or_default();
        let features: serde_json::Map<String, serde_json::Value> =
            ir_group.outputs.iter().cloned().zip(vector.iter().map(json_value)).collect();
        results.push(serde_json::json!({
            "group": ir_group.name,
            "found": true,
            "as_of": featc_runtime::io::time::rfc3339(t),
            "features": features,
        }));
    }
    if results.is_empty() {
        return Err(CliError::Usage(format!(
            "no feature group is keyed by {}",
            pairs.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        )));
    }
    println!("{}", serde_json::to_string_pretty(&results).map_err(|e| CliError::Runtime(e.to_string()))?);
    // Answered; the streams close as usual, the state is left to the exit.
    for mut reader in readers {
        project::leave(reader.take_state());
    }
    Ok(ExitCode::SUCCESS)
}
