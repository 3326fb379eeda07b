//! A parsed module and its text in, the canonical layout out (`featc fmt`), comments kept.
//!
//! Layout: four-space indentation; one blank line between items; blank lines between block
//! members kept (collapsed to one); within a run of members without a blank line between them,
//! the `=` of features, the `over` of aggregate features, the values of source properties and
//! trailing comments are aligned. Nothing is reordered, so formatting never changes the AST.

mod expr;

/// A float literal in the shortest text that reads back to it, always with a `.`.
pub fn float_text(v: f64) -> String {
    expr::float(v)
}

/// An expression in canonical text, as `featc fmt` writes it.
pub fn expr_text(e: &Expr) -> String {
    expr::expr(e)
}

use crate::problem::Problem;
use crate::source::FileId;
use crate::syntax::ast::*;
use crate::syntax::parse;

/// Formats one file. Text that does not parse is refused with its problems: formatting it could
/// lose what the parser skipped.
pub fn format_text(text: &str) -> Result<String, Vec<Problem>> {
    let (module, problems) = parse(FileId(0), text);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(format_module(&module, text))
}

/// Formats a module parsed from `text` (the text supplies the comments and blank lines).
pub fn format_module(module: &Module, text: &str) -> String {
    let mut p = Printer { text, comments: comments(text), next: 0, last_end: 0, out: String::new() };
    for (i, item) in module.items.iter().enumerate() {
        let span = item.span();
        let leading = p.take_leading(span.start as usize);
        if i > 0 {
            p.out.push('\n');
        }
        p.write_leading(&leading, 0, i == 0);
        if !leading.is_empty() && p.blank_between(p.last_end, span.start as usize) {
            p.out.push('\n');
        }
        match item {
            Item::Source(s) => p.source(s),
            Item::Entity(e) => p.entity(e),
            Item::Group(g) => p.group(g),
            Item::Lambda(l) => p.lambda(l),
        }
        let trailing = p.take_trailing(span.end as usize);
        p.end_line(trailing);
        p.last_end = span.end as usize;
    }
    let rest = p.take_leading(text.len());
    if !module.items.is_empty() && !rest.is_empty() {
        p.out.push('\n');
    }
    p.write_leading(&rest, 0, module.items.is_empty());
    p.out
}

/// The offset of the first `{` at or after `from`, outside comments.
fn brace_after(text: &str, from: usize) -> Option<usize> {
    let mut i = from;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'{' => return Some(i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

#[derive(Debug, Clone)]
struct Comment {
    start: usize,
    text: String,
}

fn comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(c) = crate::syntax::comment_start(line) {
            out.push(Comment { start: offset + c, text: line[c..].trim_end().to_owned() });
        }
        offset += line.len();
    }
    out
}

/// A comment on its own line, and whether a blank line precedes it.
struct Leading {
    text: String,
    blank_before: bool,
}

/// One member line of a block, in cells to align, with its comments.
struct Line {
    leading: Vec<Leading>,
    blank_before: bool,
    cells: Vec<String>,
    trailing: Option<String>,
}

struct Printer<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    next: usize,
    /// End of the last thing printed, in the source.
    last_end: usize,
    out: String,
}

impl Printer<'_> {
    /// Whether the source has an empty line between two offsets.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let gap = self.text.get(from.min(to)..to).unwrap_or("");
        let pieces: Vec<&str> = gap.split('\n').collect();
        pieces.len() > 2 && pieces[1..pieces.len() - 1].iter().any(|l| l.trim().is_empty())
    }

    /// Comments that start before `pos` and are not printed yet.
    fn take_leading(&mut self, pos: usize) -> Vec<Leading> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next).filter(|c| c.start < pos) {
            let blank_before = self.blank_between(self.last_end, c.start);
            let (text, start) = (c.text.clone(), c.start);
            out.push(Leading { text, blank_before });
            self.last_end = start + c.text.len();
            self.next += 1;
        }
        out
    }

    /// The comments inside `start..end` and the one after `end` on the same line, joined.
    fn take_trailing_from(&mut self, start: usize, end: usize) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            let same_line = c.start >= end && !self.text.get(end..c.start).unwrap_or("\n").contains('\n');
            if (c.start >= start && c.start < end) || same_line {
                parts.push(c.text.clone());
                self.next += 1;
                if same_line {
                    self.last_end = c.start + c.text.len();
                    break;
                }
            } else {
                break;
            }
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn take_trailing(&mut self, end: usize) -> Option<String> {
        self.take_trailing_from(end, end)
    }

    fn write_leading(&mut self, leading: &[Leading], indent: usize, first_in_block: bool) {
        for (i, c) in leading.iter().enumerate() {
            let at_block_start = first_in_block && i == 0;
            let already_blank = self.out.is_empty() || self.out.ends_with("\n\n") || self.out.ends_with("{\n");
            if c.blank_before && !at_block_start && !already_blank {
                self.out.push('\n');
            }
            self.indent(indent);
            self.out.push_str(&c.text);
            self.out.push('\n');
        }
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("    ");
        }
    }

    fn end_line(&mut self, trailing: Option<String>) {
        if let Some(t) = trailing {
            self.out.push_str("  ");
            self.out.push_str(&t);
        }
        self.out.push('\n');
    }

    /// A member of a block: its leading comments, blank line, cells and trailing comment.
    fn line(&mut self, start: usize, end: usize, cells: Vec<String>) -> Line {
        let leading = self.take_leading(start);
        let blank_before = leading.first().map_or_else(|| self.blank_between(self.last_end, start), |l| l.blank_before);
        let trailing = self.take_trailing_from(start, end);
        self.last_end = self.last_end.max(end);
        Line { leading, blank_before, cells, trailing }
    }

    /// Writes member lines at `indent`, aligning cells and trailing comments within runs.
    fn write_lines(&mut self, lines: Vec<Line>, indent: usize) {
        let mut run: Vec<Line> = Vec::new();
        let mut first = true;
        for line in lines {
            if line.blank_before && !run.is_empty() {
                self.write_run(std::mem::take(&mut run), indent, first);
                first = false;
            }
            run.push(line);
        }
        if !run.is_empty() {
            self.write_run(run, indent, first);
        }
    }

    fn write_run(&mut self, run: Vec<Line>, indent: usize, first_in_block: bool) {
        let columns = run.iter().map(|l| l.cells.len()).max().unwrap_or(0);
        // Width of each column but the last of its line.
        let mut widths = vec![0usize; columns];
        for line in &run {
            for (i, cell) in line.cells.iter().enumerate().take(line.cells.len().saturating_sub(1)) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let rendered: Vec<String> = run
            .iter()
            .map(|line| {
                let mut s = String::new();
                for (i, cell) in line.cells.iter().enumerate() {
                    if i > 0 {
                        s.push(' ');
                    }
                    s.push_str(cell);
                    if i + 1 < line.cells.len() {
                        s.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
                    }
                }
                s
            })
            .collect();
        let comment_col = run
            .iter()
            .zip(&rendered)
            .filter(|(l, _)| l.trailing.is_some())
            .map(|(_, r)| r.chars().count())
            .max()
            .unwrap_or(0);
        for (i, (line, text)) in run.into_iter().zip(rendered).enumerate() {
            let first = first_in_block && i == 0;
            if i == 0 && !first && !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
            self.write_leading(&line.leading, indent, first || i > 0);
            self.indent(indent);
            let width = text.chars().count();
            self.out.push_str(text.trim_end());
            if let Some(t) = line.trailing {
                self.out.extend(std::iter::repeat_n(' ', comment_col - width + 2));
                self.out.push_str(&t);
            }
            self.out.push('\n');
        }
    }

    /// The comments before a block's closing brace, then the brace.
    fn close_block(&mut self, close: usize, indent: usize) {
        let leading = self.take_leading(close);
        if let Some(first) = leading.first()
            && first.blank_before
        {
            self.out.push('\n');
        }
        self.write_leading(&leading, indent + 1, true);
        self.indent(indent);
        self.out.push('}');
        self.last_end = close + 1;
    }

    /// Writes `{` (after `sep`) and the comment that follows it on its line, finding the brace
    /// in the source after `after`.
    fn open_block(&mut self, sep: &str, after: usize) {
        let brace = brace_after(self.text, after);
        self.out.push_str(sep);
        self.out.push('{');
        let trailing = brace.and_then(|b| self.take_trailing(b + 1));
        self.end_line(trailing);
        self.last_end = brace.map_or(after, |b| b + 1);
    }

    fn source(&mut self, s: &Source) {
        self.out.push_str(&format!("source {}", s.name.name));
        self.open_block(" ", s.name.span.end as usize);
        let mut lines = Vec::new();
        for prop in &s.props {
            let (start, end) = (prop.span.start as usize, prop.span.end as usize);
            if let SourcePropKind::Schema(fields) = &prop.kind {
                self.write_lines(std::mem::take(&mut lines), 1);
                let leading = self.take_leading(start);
                let blank =
                    leading.first().map_or_else(|| self.blank_between(self.last_end, start), |l| l.blank_before);
                if blank && !self.out.ends_with("{\n") {
                    self.out.push('\n');
                }
                self.write_leading(&leading, 1, true);
                self.indent(1);
                self.out.push_str("schema {");
                let header_end = fields.first().map_or(end, |f| f.span.start as usize);
                let after_brace = self.text[start..header_end].find('{').map_or(start + 6, |i| start + i + 1);
                let trailing = self.take_trailing(after_brace);
                self.end_line(trailing);
                self.last_end = start + 6;
                let field_lines: Vec<Line> = fields
                    .iter()
                    .map(|f| {
                        let cells = vec![format!("{}: {},", f.name.name, expr::type_ref(&f.ty))];
                        self.line(f.span.start as usize, f.span.end as usize, cells)
                    })
                    .collect();
                self.write_lines(field_lines, 2);
                self.close_block(end.saturating_sub(1), 1);
                let trailing = self.take_trailing(end);
                self.end_line(trailing);
                self.last_end = end;
                continue;
            }
            let value = match &prop.kind {
                SourcePropKind::EventTime(f) => f.name.clone(),
                SourcePropKind::Lateness(d) => expr::duration(d),
                SourcePropKind::Files { path, format, pin } => {
                    let mut text = expr::string(&path.value);
                    if let Some(f) = format {
                        text = format!("{text} format {}", f.name);
                    }
                    match pin {
                        Some(PinLit::Version { version, .. }) => text = format!("{text} version {version}"),
                        Some(PinLit::AsOf(t)) => text = format!("{text} as_of {}", expr::string(&t.value)),
                        None => {}
                    }
                    text
                }
                SourcePropKind::Topic(t) => expr::string(&t.value),
                SourcePropKind::Schema(_) => String::new(),
            };
            let line = self.line(start, end, vec![prop.kind.keyword().to_owned(), value]);
            lines.push(line);
        }
        self.write_lines(lines, 1);
        self.close_block((s.span.end as usize).saturating_sub(1), 0);
    }

    fn has_comment_in(&self, start: usize, end: usize) -> bool {
        self.comments.get(self.next).is_some_and(|c| c.start > start && c.start < end)
    }

    fn entity(&mut self, e: &Entity) {
        let keys = |d: &KeyDecl| {
            let fields: Vec<String> =
                d.fields.iter().map(|f| format!("{}: {}", f.name.name, expr::type_ref(&f.ty))).collect();
            format!("key {}", fields.join(", "))
        };
        let (start, end) = (e.span.start as usize, e.span.end as usize);
        if e.key_decls.len() == 1 && !self.has_comment_in(start, end) {
            self.out.push_str(&format!("entity {} {{ {} }}", e.name.name, keys(&e.key_decls[0])));
            self.last_end = end;
            return;
        }
        self.out.push_str(&format!("entity {}", e.name.name));
        self.open_block(" ", e.name.span.end as usize);
        let lines: Vec<Line> =
            e.key_decls.iter().map(|d| self.line(d.span.start as usize, d.span.end as usize, vec![keys(d)])).collect();
        self.write_lines(lines, 1);
        self.close_block(end.saturating_sub(1), 0);
    }

    fn group(&mut self, g: &Group) {
        self.out.push_str(&format!("features {}({}) from {}", g.name.name, g.entity.name, g.source.name));
        self.last_end = g.source.span.end as usize;
        match &g.filter {
            Some(filter) => {
                self.out.push('\n');
                self.indent(1);
                self.out.push_str("where ");
                self.out.push_str(&expr::expr(filter));
                let trailing = self.take_trailing_from(filter.span.start as usize, filter.span.end as usize);
                self.end_line(trailing);
                self.last_end = filter.span.end as usize;
                self.open_block("", filter.span.end as usize);
            }
            None => self.open_block(" ", g.source.span.end as usize),
        }
        let lines: Vec<Line> = g
            .features
            .iter()
            .map(|f| {
                let mut cells = vec![f.name.name.clone()];
                let mut body = format!("= {}", expr::expr(&f.expr));
                if let Some(filter) = &f.filter {
                    body.push_str(" where ");
                    body.push_str(&expr::expr(filter));
                }
                cells.push(body);
                if let Some(w) = &f.window {
                    cells.push(format!("over {}", expr::window(w)));
                }
                self.line(f.span.start as usize, f.span.end as usize, cells)
            })
            .collect();
        self.write_lines(lines, 1);
        self.close_block((g.span.end as usize).saturating_sub(1), 0);
    }

    fn lambda(&mut self, l: &LambdaBlock) {
        self.out.push_str(&format!("lambda {}", l.group.name));
        self.open_block(" ", l.group.span.end as usize);
        let lines: Vec<Line> = l
            .stmts
            .iter()
            .map(|s| {
                let text = match &s.kind {
                    LambdaStmtKind::BatchEvery(d) => format!("batch every {}", expr::duration(d)),
                    LambdaStmtKind::Merge { patterns, rule, .. } => {
                        let names: Vec<&str> = patterns.iter().map(|p| p.name.as_str()).collect();
                        format!("merge {} = {}", names.join(", "), rule.as_str())
                    }
                };
                self.line(s.span.start as usize, s.span.end as usize, vec![text])
            })
            .collect();
        self.write_lines(lines, 1);
        self.close_block((l.span.end as usize).saturating_sub(1), 0);
    }
}
