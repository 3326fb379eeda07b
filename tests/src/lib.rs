//! Shared helpers for the corpus, docs and property tests: load specs, find `feat` blocks in
//! Markdown, and render a spec with its diagnostics for snapshots.

pub mod generate;

use std::path::{Path, PathBuf};

use featc::diagnostic::{json, render};
use featc::{Checked, Options, SourceMap, check_project};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Checks one spec text as a one-file project named `name`.
pub fn check_text(name: &str, text: &str) -> (SourceMap, Checked) {
    let mut sources = SourceMap::new();
    sources.add(name, text);
    let checked = check_project(&sources, &Options::default());
    (sources, checked)
}

/// The codes of a check's diagnostics, in order.
pub fn codes(checked: &Checked) -> Vec<&'static str> {
    checked.diagnostics.iter().map(|d| d.code.id).collect()
}

/// A snapshot body: the source, then the rendered diagnostics, then the JSON form.
pub fn snapshot_body(sources: &SourceMap, checked: &Checked, with_json: bool) -> String {
    let text = sources.files().map(|(_, f)| f.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut out =
        format!("----- SOURCE\n{text}\n----- DIAGNOSTICS\n{}", render::render(&checked.diagnostics, sources, false));
    if with_json {
        out.push_str("----- JSON\n");
        out.push_str(&json::to_json(&checked.diagnostics, sources));
        out.push('\n');
    }
    out
}

/// A fenced block of a Markdown file.
#[derive(Debug, Clone)]
pub struct Block {
    /// The words after the fence: `feat`, `feat error E0301`, ...
    pub info: Vec<String>,
    pub code: String,
    /// 1-based line of the opening fence.
    pub line: usize,
}

/// Every fenced block whose info string starts with `feat`.
pub fn feat_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    // Inside a fenced block of another language, skipped to its closing fence.
    let mut in_other = false;
    for (i, line) in markdown.lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("```") {
            if let Some(block) = current.take() {
                blocks.push(block);
            } else if in_other {
                in_other = false;
            } else {
                let info: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                if info.first().map(String::as_str) == Some("feat") {
                    current = Some(Block { info, code: String::new(), line: i + 1 });
                } else {
                    in_other = true;
                }
            }
        } else if let Some(block) = current.as_mut() {
            block.code.push_str(line);
            block.code.push('\n');
        }
    }
    blocks
}

/// Every Markdown file under `dir`, sorted.
pub fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A project of the corpus: a `.feat` file alone, or a folder of them.
#[derive(Debug)]
pub struct CorpusProject {
    /// Path relative to the workspace root, `/`-separated.
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// The projects under `tests/corpus/<kind>`, sorted by name.
pub fn corpus(kind: &str) -> Vec<CorpusProject> {
    let dir = root().join("tests/corpus").join(kind);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.strip_prefix(root()).unwrap_or(&path).display().to_string().replace('\\', "/");
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map(|es| {
                    es.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "feat")).collect()
                })
                .unwrap_or_default();
            files.sort();
            out.push(CorpusProject { name, files });
        } else if path.extension().is_some_and(|x| x == "feat") {
            out.push(CorpusProject { name, files: vec![path] });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// An example project: the `.feat` files of `examples/<name>`.
pub fn example(name: &str) -> CorpusProject {
    let dir = root().join("examples").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|es| es.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "feat")).collect())
        .unwrap_or_default();
    files.sort();
    CorpusProject { name: format!("examples/{name}"), files }
}

/// Loads a corpus project, naming each file by its path from the workspace root.
pub fn load(project: &CorpusProject) -> SourceMap {
    let mut sources = SourceMap::new();
    for file in &project.files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let name = file.strip_prefix(root()).unwrap_or(file).display().to_string().replace('\\', "/");
        sources.add(name, text);
    }
    sources
}

/// The `(file, line, code)` triples that `//~ CODE [CODE...]` markers announce.
pub fn expected_markers(sources: &SourceMap) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for (_, file) in sources.files() {
        for (i, line) in file.text.lines().enumerate() {
            if let Some((_, codes)) = line.split_once("//~") {
                for code in codes.split_whitespace() {
                    out.push((file.name.clone(), i + 1, code.to_owned()));
                }
            }
        }
    }
    out.sort();
    out
}

/// The `(file, line, code)` of each diagnostic's primary label.
pub fn actual_markers(sources: &SourceMap, checked: &Checked) -> Vec<(String, usize, String)> {
    let mut out: Vec<(String, usize, String)> = checked
        .diagnostics
        .iter()
        .filter_map(|d| {
            let span = d.primary_span()?;
            let file = sources.get(span.file)?;
            Some((file.name.clone(), file.line_col(span.start as usize).0, d.code.id.to_owned()))
        })
        .collect();
    out.sort();
    out
}

/// The AST as JSON without spans, to compare trees that differ only in layout.
pub fn ast_without_spans(module: &featc::Module) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("span");
                map.remove("rule_span");
                map.remove("file");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(module).unwrap_or_default();
    strip(&mut v);
    v
}
