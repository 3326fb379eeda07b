//! The words the IR and the plans share with every layer: windows, merge rules, history file
//! formats and targets. Plain data with no source positions; the checker produces them.

use serde::{Deserialize, Serialize};

/// A checked window. As of time `t` (see `docs/language.md`, "Windows"):
/// `lifetime` covers `ts <= t`; `tumbling(s)` covers `floor(t, s) <= ts <= t`;
/// `sliding(w, h)` covers `floor(t - w, h) <= ts <= t`; `session(g)` is the session open at `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowSpec {
    Lifetime,
    Tumbling { size_ms: u64 },
    Sliding { size_ms: u64, hop_ms: u64 },
    Session { gap_ms: u64 },
}

impl WindowSpec {
    pub fn is_lifetime(self) -> bool {
        self == WindowSpec::Lifetime
    }

    /// The window as the language writes it: `sliding(5m, every: 1m)`.
    pub fn text(self) -> String {
        let d = format_millis;
        match self {
            WindowSpec::Lifetime => "lifetime".to_owned(),
            WindowSpec::Tumbling { size_ms } => format!("tumbling({})", d(size_ms)),
            WindowSpec::Sliding { size_ms, hop_ms } => format!("sliding({}, every: {})", d(size_ms), d(hop_ms)),
            WindowSpec::Session { gap_ms } => format!("session({})", d(gap_ms)),
        }
    }
}

/// Writes milliseconds in the largest unit that divides them exactly: `300000` gives `5m`.
pub fn format_millis(ms: u64) -> String {
    for (unit, suffix) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
        if ms != 0 && ms.is_multiple_of(unit) {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{ms}ms")
}

/// How the serving layer combines the batch and speed views of one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeRule {
    /// The batch view alone, as of the cutoff.
    Batch,
    /// The speed view alone.
    Speed,
    /// The batch partial up to the cutoff merged with the speed partial after it.
    BatchPlusSpeed,
}

impl MergeRule {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRule::Batch => "batch",
            MergeRule::Speed => "speed",
            MergeRule::BatchPlusSpeed => "batch + speed",
        }
    }

    /// Whether the Lambda batch layer computes a feature with this rule.
    pub fn uses_batch(self) -> bool {
        matches!(self, MergeRule::Batch | MergeRule::BatchPlusSpeed)
    }
}

/// The format of a source's history files. `Delta` is a Delta Lake table: the path names the
/// table's folder, whose log lists the Parquet files of each version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Parquet,
    Csv,
    Ndjson,
    Delta,
}

impl FileFormat {
    pub const NAMES: [&'static str; 4] = ["parquet", "csv", "ndjson", "delta"];

    pub fn from_name(name: &str) -> Option<FileFormat> {
        match name {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "ndjson" => Some(FileFormat::Ndjson),
            "delta" => Some(FileFormat::Delta),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Ndjson => "ndjson",
            FileFormat::Delta => "delta",
        }
    }

    /// The format a path's extension implies, ignoring a trailing compression extension.
    pub fn from_path(path: &str) -> Option<FileFormat> {
        let path = path.trim_end_matches(".gz").trim_end_matches(".zst");
        let ext = path.rsplit_once('.')?.1;
        match ext {
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "ndjson" | "jsonl" | "json" => Some(FileFormat::Ndjson),
            _ => None,
        }
    }
}

/// Where a source's history is: a glob relative to the project folder (a Delta table: its
/// folder), and its format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryFiles {
    pub glob: String,
    pub format: FileFormat,
    /// A Delta table read as of one version or time instead of its latest (time travel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<DeltaPin>,
}

/// The version of a Delta table a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeltaPin {
    /// The table as of this commit version.
    Version(u64),
    /// The table as of its latest commit at or before this time (epoch milliseconds).
    Timestamp(i64),
}

/// The targets a spec compiles for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Lambda,
    Kappa,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Lambda, Target::Kappa];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::Lambda => "lambda",
            Target::Kappa => "kappa",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_use_the_largest_exact_unit() {
        assert_eq!(format_millis(300_000), "5m");
        assert_eq!(format_millis(90_000), "90s");
        assert_eq!(format_millis(0), "0ms");
        assert_eq!(format_millis(86_400_000 * 30), "30d");
    }

    #[test]
    fn windows_print_as_written() {
        assert_eq!(WindowSpec::Sliding { size_ms: 300_000, hop_ms: 60_000 }.text(), "sliding(5m, every: 1m)");
        assert_eq!(FileFormat::from_path("a/b.ndjson.gz"), Some(FileFormat::Ndjson));
    }
}
