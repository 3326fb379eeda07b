//! Text in, [`Module`] and syntax problems out: runs the pest grammar and converts its pairs.
//!
//! pest's pairs never leave this module and `expr.rs`. Broken items and block members come
//! back from the grammar as `bad_item` and `bad_line`; each is parsed again alone with a probe
//! rule to locate the error precisely, and parsing goes on after it.

use pest::Parser as _;
use pest::error::InputLocation;
use pest::iterators::Pair;
use pest_derive::Parser;

use super::ast::*;
use super::expr::ExprBuilder;
use crate::problem::Problem;
use crate::source::{FileId, Span};

#[derive(Parser)]
#[grammar = "../grammar/feat.pest"]
pub(super) struct FeatGrammar;

/// Deepest nesting the parser accepts: parentheses, prefix operators, `if`s, and the depth of an
/// expression's tree (a chain of 300 `+` is 300 deep).
pub(super) const MAX_NESTING: usize = 256;

static PROBE_DETAIL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Parses one file. Always returns a module: the items that parsed, plus a problem for each
/// part that did not.
pub fn parse(file: FileId, text: &str) -> (Module, Vec<Problem>) {
    let mut cx = Cx { file, text, problems: Vec::new() };
    if let Some(offset) = too_deep(text) {
        cx.problems.push(Problem::NestedTooDeeply { span: cx.span_at(offset, offset + 1), limit: MAX_NESTING });
        return (Module { file, items: Vec::new() }, cx.problems);
    }
    let items = match FeatGrammar::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let file_pair = pairs.next();
            file_pair.map(|p| p.into_inner().filter_map(|item| cx.item(item)).collect()).unwrap_or_default()
        }
        Err(error) => {
            // Only pest's own limits (the native stack guard) fail the whole file.
            let limit = matches!(&error.variant, pest::error::ErrorVariant::CustomError { .. });
            if limit {
                cx.problems.push(Problem::NestedTooDeeply { span: cx.span_at(0, 1), limit: MAX_NESTING });
            } else {
                cx.problems.push(cx.syntax_problem(&error, 0));
            }
            Vec::new()
        }
    };
    (Module { file, items }, cx.problems)
}

/// The offset where nesting first exceeds [`MAX_NESTING`], if it does. Bounds the recursion of
/// the parser and of every pass after it.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    let mut prefix_run = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth = depth.saturating_sub(1),
            b'-' => prefix_run += 1,
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                match &text[start..i] {
                    "if" => depth += 1,
                    "else" => depth = depth.saturating_sub(1),
                    "not" => prefix_run += 1,
                    _ => prefix_run = 0,
                }
                if depth > MAX_NESTING || prefix_run > MAX_NESTING {
                    return Some(start);
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => prefix_run = 0,
        }
        if depth > MAX_NESTING || prefix_run > MAX_NESTING {
            return Some(i.min(text.len().saturating_sub(1)));
        }
        i += 1;
    }
    None
}

/// The length of `text` without trailing whitespace and `//` comments.
fn trimmed_len(text: &str) -> usize {
    let mut end = text.trim_end().len();
    loop {
        let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        match comment_start(&text[line_start..end]) {
            Some(c) => end = text[..line_start + c].trim_end().len(),
            None => return end,
        }
    }
}

/// Where a `//` comment starts in one line, outside string literals.
pub(crate) fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

pub(super) struct Cx<'t> {
    pub(super) file: FileId,
    pub(super) text: &'t str,
    pub(super) problems: Vec<Problem>,
}

impl<'t> Cx<'t> {
    /// The span of a pair, without the whitespace and comments pest leaves at its end when an
    /// optional trailing part is absent.
    pub(super) fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.start() + trimmed_len(s.as_str()))
    }

    pub(super) fn span_at(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end.min(self.text.len()).max(start))
    }

    pub(super) fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_owned(), span: self.span(pair) }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        match pair.as_rule() {
            Rule::source => Some(Item::Source(self.source(pair))),
            Rule::entity => Some(Item::Entity(self.entity(pair))),
            Rule::features => self.group(pair).map(Item::Group),
            Rule::lambda => Some(Item::Lambda(self.lambda(pair))),
            Rule::bad_item => {
                self.probe(Rule::item_probe, pair.as_span().start());
                None
            }
            _ => None,
        }
    }

    /// Parses the text from `offset` with `rule` alone and reports where it fails.
    fn probe(&mut self, rule: Rule, offset: usize) {
        let rest = self.text.get(offset..).unwrap_or("");
        // pest's error detail is a process-wide switch: probes hold it in turn, so one probe's
        // switching off cannot thin another's message.
        let result = {
            let _guard = PROBE_DETAIL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            pest::set_error_detail(true);
            let result = FeatGrammar::parse(rule, rest);
            pest::set_error_detail(false);
            result
        };
        let problem = match result {
            Err(error) => self.syntax_problem(&error, offset),
            // Parses alone but not in place: what follows it is what is wrong.
            Ok(pairs) => {
                let end = offset + pairs.as_str().len();
                let (span, found) = self.found_at(end);
                Problem::Syntax { span, expected: vec![], found: format!("{found} after this"), help: None }
            }
        };
        self.problems.push(problem);
    }

    fn syntax_problem(&self, error: &pest::error::Error<Rule>, offset: usize) -> Problem {
        let pos = offset
            + match error.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        let (span, found) = self.found_at(pos);
        let expected = expected_tokens(error);
        let help = syntax_help(&expected, &found);
        Problem::Syntax { span, expected, found, help }
    }

    /// The token at `pos`, for "found ..." in messages, and its span.
    fn found_at(&self, pos: usize) -> (Span, String) {
        let pos = pos.min(self.text.len());
        let rest = &self.text[pos..];
        let Some(c) = rest.chars().next() else {
            return (self.span_at(pos, pos), "end of file".to_owned());
        };
        if c == '\n' || c == '\r' {
            return (self.span_at(pos, pos + 1), "end of line".to_owned());
        }
        let len = if c.is_alphanumeric() || c == '_' {
            rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).unwrap_or(rest.len())
        } else if c == '"' {
            rest[1..]
                .find('"')
                .filter(|&i| !rest[1..=i].contains('\n'))
                .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |i| i + 2)
        } else {
            c.len_utf8()
        };
        let token = &rest[..len];
        if c == '"' && !(len > 1 && token.ends_with('"')) {
            return (self.span_at(pos, pos + len), "an unterminated string".to_owned());
        }
        let shown = if token.chars().count() > 30 {
            format!("{}…", token.chars().take(30).collect::<String>())
        } else {
            token.to_owned()
        };
        (self.span_at(pos, pos + len), format!("`{shown}`"))
    }

    fn bad_line(&mut self, pair: &Pair<'_, Rule>, probe: Rule) {
        self.probe(probe, pair.as_span().start());
    }

    fn source(&mut self, pair: Pair<'_, Rule>) -> Source {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let _kw = inner.next();
        let name = inner.next().map(|p| self.ident(&p)).unwrap_or_else(|| self.missing_ident(span));
        let mut props = Vec::new();
        for member in inner {
            let mspan = self.span(&member);
            let kind = match member.as_rule() {
                Rule::event_time_prop => member.into_inner().nth(1).map(|p| SourcePropKind::EventTime(self.ident(&p))),
                Rule::lateness_prop => member.into_inner().nth(1).map(|p| SourcePropKind::Lateness(self.duration(&p))),
                Rule::files_prop => {
                    let mut parts = member.into_inner().skip(1);
                    let path = parts.next().map(|p| self.string(&p));
                    let (mut format, mut pin) = (None, None);
                    for part in parts {
                        match part.as_rule() {
                            Rule::ident => format = Some(self.ident(&part)),
                            Rule::delta_pin => pin = self.delta_pin(part),
                            _ => {}
                        }
                    }
                    path.map(|path| SourcePropKind::Files { path, format, pin })
                }
                Rule::topic_prop => member.into_inner().nth(1).map(|p| SourcePropKind::Topic(self.string(&p))),
                Rule::schema_prop => Some(SourcePropKind::Schema(
                    member.into_inner().filter(|p| p.as_rule() == Rule::field).map(|p| self.field(p)).collect(),
                )),
                Rule::bad_line => {
                    self.bad_line(&member, Rule::source_member_probe);
                    None
                }
                _ => None,
            };
            if let Some(kind) = kind {
                props.push(SourceProp { kind, span: mspan });
            }
        }
        Source { name, props, span }
    }

    fn missing_ident(&self, span: Span) -> Ident {
        Ident { name: String::new(), span }
    }

    pub(super) fn field(&mut self, pair: Pair<'_, Rule>) -> Field {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = inner.next().map(|p| self.ident(&p)).unwrap_or_else(|| self.missing_ident(span));
        let ty = inner.next().map(|p| self.type_ref(p)).unwrap_or_else(|| TypeRef {
            name: self.missing_ident(span),
            arg: None,
            nullable: false,
            span,
        });
        Field { name, ty, span }
    }

    pub(super) fn type_ref(&mut self, pair: Pair<'_, Rule>) -> TypeRef {
        let span = self.span(&pair);
        let mut name = self.missing_ident(span);
        let mut arg = None;
        let mut nullable = false;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => name = self.ident(&part),
                Rule::type_ref => arg = Some(Box::new(self.type_ref(part))),
                Rule::nullable => nullable = true,
                _ => {}
            }
        }
        TypeRef { name, arg, nullable, span }
    }

    fn delta_pin(&mut self, pair: Pair<'_, Rule>) -> Option<PinLit> {
        let value = pair.into_inner().nth(1)?;
        let span = self.span(&value);
        match value.as_rule() {
            Rule::int => match value.as_str().parse::<u64>() {
                Ok(version) => Some(PinLit::Version { version, span }),
                Err(_) => {
                    self.problems.push(Problem::InvalidLiteral { span, reason: "a version out of range" });
                    None
                }
            },
            _ => Some(PinLit::AsOf(self.string(&value))),
        }
    }

    fn string(&mut self, pair: &Pair<'_, Rule>) -> StrLit {
        let span = self.span(pair);
        let raw = pair.clone().into_inner().next().map_or("", |p| p.as_str());
        let value = match unescape(raw) {
            Ok(v) => v,
            Err(reason) => {
                self.problems.push(Problem::InvalidLiteral { span, reason });
                raw.to_owned()
            }
        };
        StrLit { value, span }
    }

    pub(super) fn duration(&mut self, pair: &Pair<'_, Rule>) -> Duration {
        let span = self.span(pair);
        let text = pair.as_str();
        let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let unit = match &text[digits..] {
            "ms" => DurationUnit::Ms,
            "s" => DurationUnit::S,
            "h" => DurationUnit::H,
            "d" => DurationUnit::D,
            _ => DurationUnit::M,
        };
        let amount = text[..digits].parse::<u64>().ok();
        let d = Duration::new(amount.unwrap_or(u64::MAX), unit, span);
        if amount.is_none() || d.millis.is_none() {
            self.problems
                .push(Problem::InvalidLiteral { span, reason: "duration too long: more than 2^64 milliseconds" });
        }
        d
    }

    fn entity(&mut self, pair: Pair<'_, Rule>) -> Entity {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let _kw = inner.next();
        let name = inner.next().map(|p| self.ident(&p)).unwrap_or_else(|| self.missing_ident(span));
        let mut key_decls = Vec::new();
        for member in inner {
            match member.as_rule() {
                Rule::key_decl => {
                    let kspan = self.span(&member);
                    let fields =
                        member.into_inner().filter(|p| p.as_rule() == Rule::field).map(|p| self.field(p)).collect();
                    key_decls.push(KeyDecl { fields, span: kspan });
                }
                Rule::bad_line => self.bad_line(&member, Rule::entity_member_probe),
                _ => {}
            }
        }
        Entity { name, key_decls, span }
    }

    fn group(&mut self, pair: Pair<'_, Rule>) -> Option<Group> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let _kw = inner.next();
        let name = self.ident(&inner.next()?);
        let entity = self.ident(&inner.next()?);
        let _from = inner.next();
        let source = self.ident(&inner.next()?);
        let mut filter = None;
        let mut features = Vec::new();
        for member in inner {
            match member.as_rule() {
                Rule::group_filter => filter = member.into_inner().nth(1).and_then(|e| self.expr(e)),
                Rule::feature => {
                    if let Some(f) = self.feature(member) {
                        features.push(f);
                    }
                }
                Rule::bad_line => self.bad_line(&member, Rule::group_member_probe),
                _ => {}
            }
        }
        Some(Group { name, entity, source, filter, features, span })
    }

    fn feature(&mut self, pair: Pair<'_, Rule>) -> Option<Feature> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(&inner.next()?);
        let expr = self.expr(inner.next()?)?;
        let mut filter = None;
        let mut window = None;
        for clause in inner {
            match clause.as_rule() {
                Rule::feature_filter => filter = clause.into_inner().nth(1).and_then(|e| self.expr(e)),
                Rule::window_clause => window = clause.into_inner().nth(1).map(|w| self.window(w)),
                _ => {}
            }
        }
        Some(Feature { name, expr, filter, window, span })
    }

    fn window(&mut self, pair: Pair<'_, Rule>) -> Window {
        let span = self.span(&pair);
        let has_parens = self.text.get(span.range()).is_some_and(|t| t.contains('('));
        let mut inner = pair.into_inner();
        let kind = inner.next().map(|p| self.ident(&p)).unwrap_or_else(|| self.missing_ident(span));
        let args: Vec<WindowArg> = inner
            .map(|arg| {
                let aspan = self.span(&arg);
                let mut name = None;
                let mut value = None;
                for part in arg.into_inner() {
                    match part.as_rule() {
                        Rule::ident => name = Some(self.ident(&part)),
                        Rule::duration => value = Some(self.duration(&part)),
                        _ => {}
                    }
                }
                let value = value.unwrap_or_else(|| Duration::new(0, DurationUnit::Ms, aspan));
                WindowArg { name, value, span: aspan }
            })
            .collect();
        Window { kind, args: has_parens.then_some(args), span }
    }

    fn lambda(&mut self, pair: Pair<'_, Rule>) -> LambdaBlock {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let _kw = inner.next();
        let group = inner.next().map(|p| self.ident(&p)).unwrap_or_else(|| self.missing_ident(span));
        let mut stmts = Vec::new();
        for member in inner {
            let mspan = self.span(&member);
            match member.as_rule() {
                Rule::batch_every => {
                    if let Some(d) = member.into_inner().find(|p| p.as_rule() == Rule::duration) {
                        stmts.push(LambdaStmt { kind: LambdaStmtKind::BatchEvery(self.duration(&d)), span: mspan });
                    }
                }
                Rule::merge_rule => {
                    let mut patterns = Vec::new();
                    let mut rule = None;
                    for part in member.into_inner() {
                        match part.as_rule() {
                            Rule::pattern => patterns.push(self.ident(&part)),
                            Rule::merge_kind => rule = Some((merge_kind(&part), self.span(&part))),
                            _ => {}
                        }
                    }
                    if let Some((rule, rule_span)) = rule {
                        stmts.push(LambdaStmt {
                            kind: LambdaStmtKind::Merge { patterns, rule, rule_span },
                            span: mspan,
                        });
                    }
                }
                Rule::bad_line => self.bad_line(&member, Rule::lambda_member_probe),
                _ => {}
            }
        }
        LambdaBlock { group, stmts, span }
    }

    pub(super) fn expr(&mut self, pair: Pair<'_, Rule>) -> Option<Expr> {
        ExprBuilder::new(self).build(pair)
    }
}

fn merge_kind(pair: &Pair<'_, Rule>) -> MergeRule {
    match pair.clone().into_inner().next().map(|p| p.as_rule()) {
        Some(Rule::kw_speed) => MergeRule::Speed,
        Some(Rule::kw_batch) => MergeRule::Batch,
        _ => MergeRule::BatchPlusSpeed,
    }
}

/// Resolves the escapes of a string literal's body.
pub(super) fn unescape(raw: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            _ => return Err("unknown escape: use \\n, \\t, \\r, \\0, \\\\ or \\\""),
        }
    }
    Ok(out)
}

/// What the grammar expected where it failed, in words, most useful first.
fn expected_tokens(error: &pest::error::Error<Rule>) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !words.contains(&w) {
            words.push(w);
        }
    };
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            if let Some(w) = describe(*rule) {
                push(w.to_owned());
            }
        }
    }
    let mut operators = 0;
    if let Some(attempts) = error.parse_attempts() {
        // `ParsingToken` is not exported; its display is the literal text for literal tokens.
        for token in attempts.expected_tokens().iter().map(ToString::to_string) {
            if OPERATORS.contains(&token.as_str()) {
                operators += 1;
            } else if !NOISE.contains(&token.trim()) && !token.contains("..") && token != "BUILTIN_RULE" {
                push(format!("`{token}`"));
            }
        }
    }
    if operators > 0 {
        push("an operator".to_owned());
        // After an operand, a `(` would make it a call: rarely what was meant.
        words.retain(|w| w != "`(`");
    }
    if words.iter().any(|w| w == "a name") && words.iter().any(|w| w == "an integer") {
        words.retain(|w| !OPERAND_STARTS.contains(&w.as_str()));
        words.insert(0, "an expression".to_owned());
    }
    if words.iter().any(|w| w.starts_with("a duration")) {
        words.retain(|w| !["`ms`", "`s`", "`m`", "`h`", "`d`"].contains(&w.as_str()));
    }
    if words.iter().any(|w| w.starts_with("`batch`, `speed`")) {
        words.retain(|w| w != "`batch`" && w != "`speed`");
    }
    words.truncate(8);
    words
}

/// Literal tokens that only restate a rule already described (a name starts with `_`, a string
/// with `"`) or that are always allowed (comments).
const NOISE: &[&str] = &["//", "_", "\"", "", " "];

/// What can start an operand, summed up as "an expression" when most of them are possible.
const OPERAND_STARTS: &[&str] =
    &["a name", "an integer", "a number", "a string", "`null`", "`true`", "`false`", "`(`", "`-`", "`not`", "`if`"];

const OPERATORS: &[&str] =
    &["==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "and", "or", "in", "is", "as", "not"];

/// A hint for common slips: a misspelt keyword, a duration without its unit.
fn syntax_help(expected: &[String], found: &str) -> Option<String> {
    let word = found.strip_prefix('`')?.strip_suffix('`')?;
    if word.starts_with(|c: char| c.is_ascii_digit()) && expected.iter().any(|e| e.starts_with("a duration")) {
        return Some("write a duration as a whole number and a unit (ms, s, m, h or d), e.g. `5m`".to_owned());
    }
    let keywords: Vec<&str> = expected.iter().filter_map(|e| e.strip_prefix('`')?.strip_suffix('`')).collect();
    crate::check::suggest(
        word,
        keywords.iter().copied().filter(|k| k.chars().all(|c| c.is_ascii_alphabetic() || c == '_')),
    )
    .map(|k| format!("did you mean `{k}`?"))
}

fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::int => "an integer",
        Rule::float => "a number",
        Rule::string => "a string",
        Rule::duration => "a duration such as `5m`",
        Rule::expr => "an expression",
        Rule::type_ref => "a type",
        Rule::field => "a field `name: type`",
        Rule::window => "a window",
        Rule::pattern => "a feature name or pattern",
        Rule::feature => "a feature `name = ...`",
        Rule::merge_kind => "`batch`, `speed` or `batch + speed`",
        Rule::kw_source => "`source`",
        Rule::kw_entity => "`entity`",
        Rule::kw_features => "`features`",
        Rule::kw_lambda => "`lambda`",
        Rule::kw_from => "`from`",
        Rule::kw_where => "`where`",
        Rule::kw_over => "`over`",
        Rule::kw_event_time => "`event_time`",
        Rule::kw_lateness => "`lateness`",
        Rule::kw_files => "`files`",
        Rule::kw_format => "`format`",
        Rule::kw_topic => "`topic`",
        Rule::kw_schema => "`schema`",
        Rule::kw_key => "`key`",
        Rule::kw_batch => "`batch`",
        Rule::kw_speed => "`speed`",
        Rule::kw_every => "`every`",
        Rule::kw_merge => "`merge`",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        Rule::kw_null => "`null`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_resolve_and_unknown_ones_are_refused() {
        assert_eq!(unescape(r#"a\"b\\c\n"#).as_deref(), Ok("a\"b\\c\n"));
        assert!(unescape(r"\q").is_err());
    }

    #[test]
    fn nesting_is_bounded_before_parsing() {
        let deep = format!("x = {}1{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1));
        assert!(too_deep(&deep).is_some());
        let negs = format!("x = {}1", "- ".repeat(MAX_NESTING + 1));
        assert!(too_deep(&negs).is_some());
        assert_eq!(too_deep("x = ((1)) // (((((((\n"), None);
    }
}
