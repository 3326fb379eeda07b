#![doc = include_str!("../ARCHITECTURE.md")]
// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregates;
mod check;
pub mod diagnostic;
pub mod diff;
pub mod format;
pub mod ir;
pub mod plan;
pub mod problem;
pub mod source;
pub mod sql;
pub mod syntax;
pub mod types;

pub use check::{CheckedProject, Options};
pub use diagnostic::{Diagnostic, Severity, Target};
pub use ir::lower;
pub use problem::Problem;
pub use source::{FileId, SourceFile, SourceMap, Span};
pub use syntax::ast::Module;

/// Stage 1, `parse`: every file of the project to its [`Module`], with the syntax problems.
pub fn parse_project(sources: &SourceMap) -> (Vec<Module>, Vec<Problem>) {
    let mut problems = Vec::new();
    let modules = sources
        .files()
        .map(|(id, file)| {
            let (module, mut p) = syntax::parse(id, &file.text);
            problems.append(&mut p);
            module
        })
        .collect();
    (modules, problems)
}

/// Stage 2, `check`: parsed modules to a [`CheckedProject`], with the semantic problems.
pub fn check_modules(modules: &[Module], options: &Options) -> (CheckedProject, Vec<Problem>) {
    check::check(modules, options)
}

/// The result of checking a project: what checked, and every diagnostic, sorted.
#[derive(Debug)]
pub struct Checked {
    pub modules: Vec<Module>,
    pub project: CheckedProject,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity() == Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity() == Severity::Warning).count()
    }
}

/// `featc check` as a function: parse and check every file, and turn the problems into
/// diagnostics. Pure: the caller reads the files into the [`SourceMap`].
pub fn check_project(sources: &SourceMap, options: &Options) -> Checked {
    let (modules, mut problems) = parse_project(sources);
    let (project, mut more) = check_modules(&modules, options);
    problems.append(&mut more);
    let mut diagnostics: Vec<Diagnostic> = problems.iter().map(Problem::to_diagnostic).collect();
    diagnostic::sort_and_dedup(&mut diagnostics);
    Checked { modules, project, diagnostics }
}
