//! Events and lines that could not be counted in, append-only NDJSON files under
//! `<data-dir>/dead_letters/` out: never overwritten, synced before the state that follows
//! them, and each group's events numbered so that a replay after a crash appends no line twice.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::io::durable;
use crate::io::history::Rejected;

fn folder(data_dir: &Path) -> Result<PathBuf, String> {
    let dir = data_dir.join("dead_letters");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn rejected_json(r: &Rejected) -> serde_json::Value {
    serde_json::Value::Object(rejected_object(r))
}

/// A rejected line (or a broker's payload: `file` its partition, `line` its offset) as a
/// dead-letter object.
pub(crate) fn rejected_object(r: &Rejected) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    object.insert("reason".to_owned(), r.reason.clone().into());
    object.insert("file".to_owned(), r.file.display().to_string().into());
    object.insert("line".to_owned(), r.line.into());
    object.insert("text".to_owned(), r.text.clone().into());
    object
}

/// Appends rejected lines to `dead_letters/<name>.ndjson` and syncs it; returns the file, or
/// `None` when there was nothing to write.
pub fn append_rejected(data_dir: &Path, name: &str, rejected: &[Rejected]) -> Result<Option<PathBuf>, String> {
    if rejected.is_empty() {
        return Ok(None);
    }
    let path = folder(data_dir)?.join(format!("{name}.ndjson"));
    let lines: Vec<serde_json::Value> = rejected.iter().map(rejected_json).collect();
    append_lines(&path, lines.iter())?;
    Ok(Some(path))
}

/// The rejected lines of a history being seeded: written to a temporary file as they come and
/// put in place whole at the end, since seeding happens once (a seeding cut short by a crash
/// starts over, and so does its file).
#[derive(Debug)]
pub struct RejectedFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
}

impl RejectedFile {
    pub fn create(data_dir: &Path, name: &str) -> Result<RejectedFile, String> {
        let dir = folder(data_dir)?;
        Ok(RejectedFile {
            path: dir.join(format!("{name}.ndjson")),
            tmp: dir.join(format!(".{name}.ndjson.tmp")),
            out: None,
            count: 0,
        })
    }

    pub fn write(&mut self, rejected: &[Rejected]) -> Result<(), String> {
        for r in rejected {
            if self.out.is_none() {
                let file = File::create(&self.tmp).map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
                self.out = Some(BufWriter::new(file));
            }
            if let Some(out) = &mut self.out {
                writeln!(out, "{}", rejected_json(r))
                    .map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
            }
            self.count += 1;
        }
        Ok(())
    }

    /// Puts the file in place durably; returns how many lines it holds and where it is.
    pub fn finish(self) -> Result<(u64, Option<PathBuf>), String> {
        let Some(out) = self.out else { return Ok((0, None)) };
        let file = out.into_inner().map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
        file.sync_all().map_err(|e| format!("cannot sync {}: {e}", self.tmp.display()))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| format!("cannot move {}: {e}", self.path.display()))?;
        durable::sync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        Ok((self.count, Some(self.path)))
    }
}

/// Appends a group's dead letters to `dead_letters/<name>.ndjson`: `letters` are numbered
/// from `first`, each line carries its number (`seq`), and those the file already holds (a
/// replay after a crash makes them again) are skipped. A line cut short by a crash is removed
/// first. Returns the file, or `None` when there was nothing to write.
pub fn append_numbered(
    data_dir: &Path,
    name: &str,
    first: u64,
    letters: impl IntoIterator<Item = serde_json::Map<String, serde_json::Value>>,
) -> Result<Option<PathBuf>, String> {
    let mut letters = letters.into_iter().peekable();
    if letters.peek().is_none() {
        return Ok(None);
    }
    let path = folder(data_dir)?.join(format!("{name}.ndjson"));
    let next = next_seq(&path)?;
    let lines: Vec<serde_json::Value> = letters
        .zip(first..)
        .filter(|(_, seq)| *seq >= next)
        .map(|(mut object, seq)| {
            object.insert("seq".to_owned(), serde_json::Value::from(seq));
            serde_json::Value::Object(object)
        })
        .collect();
    if !lines.is_empty() {
        append_lines(&path, lines.iter())?;
    }
    Ok(Some(path))
}

/// Appends lines to a file and syncs it (and, when the file is new, its folder).
fn append_lines<'a>(path: &Path, lines: impl Iterator<Item = &'a serde_json::Value>) -> Result<(), String> {
    let new = !path.exists();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    for line in lines {
        writeln!(out, "{line}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let file = out.into_inner().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.sync_all().map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
    if new {
        durable::sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    Ok(())
}

/// The `seq` after the last whole line of a numbered file (0 when there is none); a last line
/// without its newline (a crash mid-write) is cut off.
fn next_seq(path: &Path) -> Result<u64, String> {
    let Ok(mut file) = OpenOptions::new().read(true).write(true).open(path) else { return Ok(0) };
    let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let len = file.metadata().map_err(err)?.len();
    // Read back from the end until the tail holds a whole line.
    let mut back = 4096u64;
    loop {
        let from = len.saturating_sub(back);
        file.seek(SeekFrom::Start(from)).map_err(err)?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).map_err(err)?;
        let whole = match tail.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if from == 0 => 0,
            None => {
                back *= 2;
                continue;
            }
        };
        if whole < tail.len() {
            file.set_len(from + whole as u64).map_err(err)?;
            file.sync_all().map_err(err)?;
        }
        let body = &tail[..whole.saturating_sub(1)];
        // The last whole line must start inside the window: a newline before it, or the file's
        // start; otherwise read further back.
        if from > 0 && !body.contains(&b'\n') {
            back *= 2;
            continue;
        }
        let last = body.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        if last.is_empty() {
            return Ok(0);
        }
        let seq = serde_json::from_slice::<serde_json::Value>(last)
            .ok()
            .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64));
        return seq.map(|s| s + 1).ok_or_else(|| format!("{}: its last line has no `seq`", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(reason: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("reason".to_owned(), reason.into());
        m
    }

    fn seqs(path: &Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn numbered_letters_are_appended_once_even_when_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = append_numbered(dir.path(), "g", 0, ["a", "b"].map(letter)).unwrap().unwrap();
        // A replay from an older snapshot makes 1 and 2 again: only 2 is new.
        append_numbered(dir.path(), "g", 1, ["b", "c"].map(letter)).unwrap();
        assert_eq!(seqs(&path), [0, 1, 2]);
        // A crash mid-line: the torn line is cut off and written again.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&path, &bytes).unwrap();
        append_numbered(dir.path(), "g", 2, ["c", "d"].map(letter)).unwrap();
        assert_eq!(seqs(&path), [0, 1, 2, 3]);
    }

    #[test]
    fn a_torn_line_that_fills_the_read_window_is_cut_and_the_numbers_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = append_numbered(dir.path(), "g", 0, ["a", "b"].map(letter)).unwrap().unwrap();
        // A torn line of exactly the first read window less its newline.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(b'x', 4095));
        std::fs::write(&path, &bytes).unwrap();
        append_numbered(dir.path(), "g", 0, ["a", "b", "c"].map(letter)).unwrap();
        assert_eq!(seqs(&path), [0, 1, 2]);
    }

    #[test]
    fn a_long_last_line_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let long = "x".repeat(20_000);
        let path = append_numbered(dir.path(), "g", 0, [letter("a"), letter(&long)]).unwrap().unwrap();
        append_numbered(dir.path(), "g", 0, [letter("a"), letter(&long), letter("b")]).unwrap();
        assert_eq!(seqs(&path), [0, 1, 2]);
    }
}
