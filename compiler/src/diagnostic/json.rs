//! Diagnostics in, machine-readable JSON out (`featc check --format json`), for CI and editors.

use serde::Serialize;

use super::{Diagnostic, Severity, Target};
use crate::source::{SourceMap, Span};

/// The version of the JSON layout below; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub version: u32,
    pub diagnostics: Vec<JsonDiagnostic<'a>>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub message: &'a str,
    pub target: Option<Target>,
    #[serde(flatten)]
    pub location: Option<Location<'a>>,
    pub labels: Vec<JsonLabel<'a>>,
    pub notes: &'a [String],
    pub help: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct JsonLabel<'a> {
    pub primary: bool,
    pub message: &'a str,
    #[serde(flatten)]
    pub location: Location<'a>,
}

/// Where a span is: file name, 1-based line and column (in characters), byte range.
#[derive(Debug, Serialize)]
pub struct Location<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub byte_start: u32,
    pub byte_end: u32,
}

fn locate(span: Span, sources: &SourceMap) -> Option<Location<'_>> {
    let file = sources.get(span.file)?;
    let (line, column) = file.line_col(span.start as usize);
    let (end_line, end_column) = file.line_col(span.end as usize);
    Some(Location { file: &file.name, line, column, end_line, end_column, byte_start: span.start, byte_end: span.end })
}

/// Builds the JSON report of one run.
pub fn report<'a>(diagnostics: &'a [Diagnostic], sources: &'a SourceMap) -> Report<'a> {
    let errors = diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    Report {
        version: JSON_VERSION,
        diagnostics: diagnostics
            .iter()
            .map(|d| JsonDiagnostic {
                code: d.code.id,
                severity: d.severity(),
                title: d.code.title,
                message: &d.message,
                target: d.target,
                location: d.primary_span().and_then(|s| locate(s, sources)),
                labels: d
                    .labels
                    .iter()
                    .filter_map(|l| {
                        Some(JsonLabel { primary: l.primary, message: &l.message, location: locate(l.span, sources)? })
                    })
                    .collect(),
                notes: &d.notes,
                help: d.help.as_deref(),
            })
            .collect(),
        summary: Summary { files: sources.len(), errors, warnings: diagnostics.len() - errors },
    }
}

/// The report as pretty-printed JSON text.
pub fn to_json(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_string_pretty(&report(diagnostics, sources)).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
