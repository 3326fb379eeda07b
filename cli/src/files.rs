//! Paths on the command line in, projects (lists of `.feat` files) and their sources out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use featc::SourceMap;

use crate::error::CliError;

/// Groups the `.feat` files under `paths` into projects: one per folder that holds any, and
/// one for all the files named directly. Sorted, so output is stable.
pub(crate) fn projects(paths: &[PathBuf]) -> Result<Vec<Vec<PathBuf>>, CliError> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut named = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut by_dir)?;
        } else {
            named.push(path.clone());
        }
    }
    // A file reached twice (named and through its folder, or a folder named twice) counts once.
    let mut seen = std::collections::HashSet::new();
    let mut first_time = |p: &PathBuf| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    let mut out: Vec<Vec<PathBuf>> = by_dir
        .into_values()
        .map(|files| files.into_iter().filter(|f| first_time(f)).collect::<Vec<_>>())
        .filter(|files| !files.is_empty())
        .collect();
    named.sort();
    named.retain(|f| first_time(f));
    if !named.is_empty() {
        out.push(named);
    }
    if out.is_empty() {
        return Err(CliError::Io(format!(
            "no .feat files under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(out)
}

fn walk(dir: &Path, by_dir: &mut BTreeMap<PathBuf, Vec<PathBuf>>) -> Result<(), CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::Io(format!("cannot read {}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, by_dir)?;
            }
        } else if path.extension().is_some_and(|e| e == "feat") {
            by_dir.entry(dir.to_path_buf()).or_default().push(path);
        }
    }
    Ok(())
}

/// Reads a project's files into a source map, named by their paths as given.
pub(crate) fn load(files: &[PathBuf]) -> Result<SourceMap, CliError> {
    let mut sources = SourceMap::new();
    for path in files {
        let text =
            std::fs::read_to_string(path).map_err(|e| CliError::Io(format!("cannot read {}: {e}", path.display())))?;
        sources.add(path.display().to_string(), text);
    }
    Ok(sources)
}
