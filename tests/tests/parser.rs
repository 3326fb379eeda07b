//! Parser tests for every construct: the AST each one gives, operator precedence, spans, and
//! recovery after errors.

use featc::source::FileId;
use featc::syntax::ast::*;
use featc::syntax::parse;
use featc_tests::ast_without_spans;

fn parse_ok(text: &str) -> Module {
    let (module, problems) = parse(FileId(0), text);
    assert!(problems.is_empty(), "{text}\n{problems:?}");
    module
}

/// An expression as an S-expression, to read its tree at a glance.
fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Null => "null".into(),
        ExprKind::Duration(d) => format!("{}{}", d.amount, d.unit.suffix()),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Call { func, args } => {
            format!("({}{})", func.name, args.iter().map(|a| format!(" {}", sexp(a))).collect::<String>())
        }
        ExprKind::Unary { op, expr } => format!("({} {})", if *op == UnaryOp::Neg { "neg" } else { "not" }, sexp(expr)),
        ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", op.symbol(), sexp(lhs), sexp(rhs)),
        ExprKind::InList { expr, list, negated } => format!(
            "({} {}{})",
            if *negated { "not-in" } else { "in" },
            sexp(expr),
            list.iter().map(|a| format!(" {}", sexp(a))).collect::<String>()
        ),
        ExprKind::IsNull { expr, negated } => {
            format!("({} {})", if *negated { "is-not-null" } else { "is-null" }, sexp(expr))
        }
        ExprKind::Cast { expr, ty } => {
            format!("(as {} {}{})", sexp(expr), ty.name.name, if ty.nullable { "?" } else { "" })
        }
        ExprKind::If { cond, then, otherwise } => format!("(if {} {} {})", sexp(cond), sexp(then), sexp(otherwise)),
    }
}

fn derived(expr: &str) -> String {
    let module = parse_ok(&format!("features g(e) from s {{\n    x = {expr}\n}}\n"));
    let Some(Item::Group(g)) = module.items.first() else { panic!("no group") };
    sexp(&g.features[0].expr)
}

#[test]
fn operators_bind_by_precedence_and_associate_left() {
    for (input, tree) in [
        ("a + b * c", "(+ a (* b c))"),
        ("a - b - c", "(- (- a b) c)"),
        ("a - (b - c)", "(- a (- b c))"),
        ("a / b % c", "(% (/ a b) c)"),
        ("-a * b", "(* (neg a) b)"),
        ("- -a", "(neg (neg a))"),
        ("-a as f64", "(neg (as a f64))"),
        ("a + b as i64", "(+ a (as b i64))"),
        ("a < b and c >= d or e", "(or (and (< a b) (>= c d)) e)"),
        ("not a and b", "(and (not a) b)"),
        ("not a == b", "(not (== a b))"),
        ("a or b and c", "(or a (and b c))"),
        ("a + 1 in (1, 2)", "(in (+ a 1) 1 2)"),
        ("a not in (\"x\")", "(not-in a \"x\")"),
        ("not a in ()", "(not (in a))"),
        ("a is null or b is not null", "(or (is-null a) (is-not-null b))"),
        ("a == (b is null)", "(== a (is-null b))"),
        ("if a then b else c + 1", "(if a b (+ c 1))"),
        ("(if a then b else c) + 1", "(+ (if a b c) 1)"),
        ("if a then if b then c else d else e", "(if a (if b c d) e)"),
        ("coalesce(a, f(b), 2.5)", "(coalesce a (f b) 2.5)"),
        ("x as string?", "(as x string?)"),
        ("1.5e3 + 2", "(+ 1500.0 2)"),
        ("true != false", "(!= true false)"),
        ("null", "null"),
        ("5m", "5m"),
    ] {
        assert_eq!(derived(input), tree, "{input}");
    }
}

#[test]
fn sources_take_every_property() {
    let module = parse_ok(
        r#"source s {
            event_time ts
            lateness 90s
            files "data/*.csv" format csv
            topic "s-topic"
            schema { a: string, b: f64?, c: list<string>, ts: timestamp, }
        }"#,
    );
    let Some(Item::Source(s)) = module.items.first() else { panic!("no source") };
    assert_eq!(s.name.name, "s");
    let kinds: Vec<&str> = s.props.iter().map(|p| p.kind.keyword()).collect();
    assert_eq!(kinds, ["event_time", "lateness", "files", "topic", "schema"]);
    let SourcePropKind::Lateness(d) = &s.props[1].kind else { panic!() };
    assert_eq!((d.amount, d.unit, d.millis), (90, DurationUnit::S, Some(90_000)));
    let SourcePropKind::Files { path, format, .. } = &s.props[2].kind else { panic!() };
    assert_eq!((path.value.as_str(), format.as_ref().map(|f| f.name.as_str())), ("data/*.csv", Some("csv")));
    let SourcePropKind::Schema(fields) = &s.props[4].kind else { panic!() };
    let shown: Vec<String> = fields
        .iter()
        .map(|f| format!("{}:{}{}", f.name.name, f.ty.name.name, if f.ty.nullable { "?" } else { "" }))
        .collect();
    assert_eq!(shown, ["a:string", "b:f64?", "c:list", "ts:timestamp"]);
    assert_eq!(fields[2].ty.arg.as_ref().map(|t| t.name.name.as_str()), Some("string"));
}

#[test]
fn entities_have_single_and_composite_keys() {
    let module = parse_ok("entity u { key id: i64 }\nentity uc { key user: string, cat: string }");
    let keys: Vec<Vec<&str>> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Entity(e) => e.keys().iter().map(|f| f.name.name.as_str()).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(keys, [vec!["id"], vec!["user", "cat"]]);
}

#[test]
fn groups_have_filters_aggregates_windows_and_derived_features() {
    let module = parse_ok(
        "features g(e) from s where kind == \"a\" {\n  a = count() where x > 1 over sliding(5m, every: 1m)\n  b = sum(x) over tumbling(size: 1h)\n  c = max(x) over session(30m)\n  d = first(x) over lifetime\n  r = a / b\n}",
    );
    let Some(Item::Group(g)) = module.items.first() else { panic!("no group") };
    assert_eq!((g.name.name.as_str(), g.entity.name.as_str(), g.source.name.as_str()), ("g", "e", "s"));
    assert_eq!(g.filter.as_ref().map(sexp).as_deref(), Some("(== kind \"a\")"));
    let rows: Vec<(String, Option<String>, Option<String>)> = g
        .features
        .iter()
        .map(|f| {
            let window = f.window.as_ref().map(|w| {
                let args = w.args.as_ref().map(|a| {
                    a.iter()
                        .map(|a| {
                            format!(
                                "{}{}",
                                a.name.as_ref().map(|n| format!("{}:", n.name)).unwrap_or_default(),
                                a.value.millis.unwrap_or(0)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                });
                format!("{}{}", w.kind.name, args.map(|a| format!("({a})")).unwrap_or_default())
            });
            (sexp(&f.expr), f.filter.as_ref().map(sexp), window)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("(count)".into(), Some("(> x 1)".into()), Some("sliding(300000,every:60000)".into())),
            ("(sum x)".into(), None, Some("tumbling(size:3600000)".into())),
            ("(max x)".into(), None, Some("session(1800000)".into())),
            ("(first x)".into(), None, Some("lifetime".into())),
            ("(/ a b)".into(), None, None),
        ]
    );
}

#[test]
fn lambda_blocks_have_a_cadence_and_merge_rules() {
    let module = parse_ok(
        "lambda g {\n  batch every 1d\n  merge a, b_* = speed\n  merge c = batch + speed\n  merge d = speed + batch\n  merge e = batch\n}",
    );
    let Some(Item::Lambda(l)) = module.items.first() else { panic!("no lambda block") };
    let stmts: Vec<String> = l
        .stmts
        .iter()
        .map(|s| match &s.kind {
            LambdaStmtKind::BatchEvery(d) => format!("every {}", d.millis.unwrap_or(0)),
            LambdaStmtKind::Merge { patterns, rule, .. } => {
                format!(
                    "{} = {}",
                    patterns.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(","),
                    rule.as_str()
                )
            }
        })
        .collect();
    assert_eq!(stmts, ["every 86400000", "a,b_* = speed", "c = batch + speed", "d = batch + speed", "e = batch"]);
}

#[test]
fn literals_comments_and_escapes() {
    let module = parse_ok(
        "// a comment\nfeatures g(e) from s { // after the brace\n  x = count() where s == \"a\\\"b\\\\c\\n\" // trailing\n    over lifetime\n  // before the brace\n}\n// at the end",
    );
    let Some(Item::Group(g)) = module.items.first() else { panic!("no group") };
    assert_eq!(g.features[0].filter.as_ref().map(sexp).as_deref(), Some(r#"(== s "a\"b\\c\n")"#));
    for (text, millis) in [("1ms", 1), ("2s", 2_000), ("3m", 180_000), ("4h", 14_400_000), ("5d", 432_000_000)] {
        let module = parse_ok(&format!("source s {{ lateness {text} }}"));
        let Some(Item::Source(s)) = module.items.first() else { panic!() };
        let SourcePropKind::Lateness(d) = &s.props[0].kind else { panic!() };
        assert_eq!(d.millis, Some(millis), "{text}");
    }
}

#[test]
fn spans_cover_exactly_the_written_text() {
    let text = "features g(e) from s {\n    total = sum(amount)   over lifetime   // note\n}\n";
    let module = parse_ok(text);
    let Some(Item::Group(g)) = module.items.first() else { panic!() };
    let f = &g.features[0];
    assert_eq!(&text[f.name.span.range()], "total");
    assert_eq!(&text[f.expr.span.range()], "sum(amount)");
    assert_eq!(&text[f.window.as_ref().map(|w| w.span.range()).unwrap_or_default()], "lifetime");
    assert_eq!(&text[f.span.range()], "total = sum(amount)   over lifetime");
    assert_eq!(&text[g.span.range()], text.trim_end());
}

#[test]
fn every_broken_part_is_reported_and_the_rest_still_parses() {
    let text = "source s {\n  lateness 5x\n  event_time ts\n}\nfeatures g(e) from s {\n  a = count() over\n  b = sum(x) over lifetime\n  c = = 1\n}\nentty e { key k: string }\nentity f { key k: string }\n";
    let (module, problems) = parse(FileId(0), text);
    let lines: Vec<usize> = problems
        .iter()
        .map(|p| match p {
            featc::Problem::Syntax { span, .. } => text[..span.start as usize].matches('\n').count() + 1,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(lines, [2, 6, 8, 10]);
    let names: Vec<&str> = module.items.iter().map(|i| i.name().name.as_str()).collect();
    assert_eq!(names, ["s", "g", "f"]);
    let Some(Item::Group(g)) = module.items.get(1) else { panic!() };
    assert_eq!(g.features.iter().map(|f| f.name.name.as_str()).collect::<Vec<_>>(), ["b"]);
}

#[test]
fn reserved_words_are_not_names() {
    for word in ["over", "where", "source", "null", "if"] {
        let (_, problems) = parse(FileId(0), &format!("entity {word} {{ key k: string }}"));
        assert!(!problems.is_empty(), "`{word}` was accepted as a name");
    }
    // Contextual keywords are ordinary names elsewhere.
    let module = parse_ok("entity files { key batch: string, merge: i64 }");
    assert_eq!(ast_without_spans(&module)["items"][0]["name"]["name"], "files");
}
