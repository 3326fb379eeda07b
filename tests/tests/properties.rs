//! Property tests: formatting a generated spec and parsing it again gives the same AST, and no
//! input (random text, or a real spec mutated) makes any stage panic.

use featc::source::{FileId, Span};
use featc::syntax::ast::*;
use featc_tests::{ast_without_spans, corpus, root};
use proptest::prelude::*;

const SPAN: Span = Span { file: FileId(0), start: 0, end: 0 };

fn ident() -> impl Strategy<Value = Ident> {
    // Names that are not reserved words; some are contextual keywords on purpose.
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}".prop_filter("reserved", |s| !RESERVED.contains(&s.as_str())),
        Just("files".to_owned()),
        Just("batch".to_owned()),
        Just("key".to_owned()),
    ]
    .prop_map(|name| Ident { name, span: SPAN })
}

const RESERVED: &[&str] = &[
    "and", "as", "else", "entity", "false", "features", "from", "if", "in", "is", "lambda", "not", "null", "or",
    "over", "source", "then", "true", "where",
];

fn duration() -> impl Strategy<Value = Duration> {
    (
        0u64..100_000,
        prop_oneof![
            Just(DurationUnit::Ms),
            Just(DurationUnit::S),
            Just(DurationUnit::M),
            Just(DurationUnit::H),
            Just(DurationUnit::D)
        ],
    )
        .prop_map(|(amount, unit)| Duration::new(amount, unit, SPAN))
}

fn type_ref() -> impl Strategy<Value = TypeRef> {
    let leaf = (ident(), any::<bool>()).prop_map(|(name, nullable)| TypeRef { name, arg: None, nullable, span: SPAN });
    leaf.prop_recursive(2, 4, 1, |inner| {
        (ident(), inner, any::<bool>()).prop_map(|(name, arg, nullable)| TypeRef {
            name,
            arg: Some(Box::new(arg)),
            nullable,
            span: SPAN,
        })
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0i64..i64::MAX).prop_map(ExprKind::Int),
        (0.0f64..1e300).prop_map(ExprKind::Float),
        any::<String>().prop_map(ExprKind::Str),
        any::<bool>().prop_map(ExprKind::Bool),
        Just(ExprKind::Null),
        duration().prop_map(ExprKind::Duration),
        ident().prop_map(ExprKind::Name),
    ];
    let leaf = leaf.prop_map(|kind| Expr { kind, span: SPAN });
    leaf.prop_recursive(4, 32, 3, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        let kind = prop_oneof![
            (ident(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(func, args)| ExprKind::Call { func, args }),
            (prop_oneof![Just(UnaryOp::Neg), Just(UnaryOp::Not)], boxed.clone())
                .prop_map(|(op, expr)| ExprKind::Unary { op, expr }),
            (bin_op(), boxed.clone(), boxed.clone()).prop_map(|(op, lhs, rhs)| ExprKind::Binary { op, lhs, rhs }),
            (boxed.clone(), prop::collection::vec(inner.clone(), 0..3), any::<bool>())
                .prop_map(|(expr, list, negated)| ExprKind::InList { expr, list, negated }),
            (boxed.clone(), any::<bool>()).prop_map(|(expr, negated)| ExprKind::IsNull { expr, negated }),
            (boxed.clone(), type_ref()).prop_map(|(expr, ty)| ExprKind::Cast { expr, ty }),
            (boxed.clone(), boxed.clone(), boxed).prop_map(|(cond, then, otherwise)| ExprKind::If {
                cond,
                then,
                otherwise
            }),
        ];
        kind.prop_map(|kind| Expr { kind, span: SPAN })
    })
}

fn bin_op() -> impl Strategy<Value = BinOp> {
    prop::sample::select(vec![
        BinOp::Or,
        BinOp::And,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Rem,
    ])
}

fn field() -> impl Strategy<Value = Field> {
    (ident(), type_ref()).prop_map(|(name, ty)| Field { name, ty, span: SPAN })
}

fn pin() -> impl Strategy<Value = PinLit> {
    prop_oneof![
        any::<u64>().prop_map(|version| PinLit::Version { version, span: SPAN }),
        any::<String>().prop_map(|t| PinLit::AsOf(StrLit { value: t, span: SPAN })),
    ]
}

fn source() -> impl Strategy<Value = Item> {
    let prop_kind = prop_oneof![
        ident().prop_map(SourcePropKind::EventTime),
        duration().prop_map(SourcePropKind::Lateness),
        (any::<String>(), prop::option::of(ident()), prop::option::of(pin())).prop_map(|(path, format, pin)| {
            SourcePropKind::Files { path: StrLit { value: path, span: SPAN }, format, pin }
        }),
        any::<String>().prop_map(|t| SourcePropKind::Topic(StrLit { value: t, span: SPAN })),
        prop::collection::vec(field(), 0..4).prop_map(SourcePropKind::Schema),
    ];
    (ident(), prop::collection::vec(prop_kind.prop_map(|kind| SourceProp { kind, span: SPAN }), 0..6))
        .prop_map(|(name, props)| Item::Source(Source { name, props, span: SPAN }))
}

fn entity() -> impl Strategy<Value = Item> {
    let decl = prop::collection::vec(field(), 1..3).prop_map(|fields| KeyDecl { fields, span: SPAN });
    (ident(), prop::collection::vec(decl, 0..3))
        .prop_map(|(name, key_decls)| Item::Entity(Entity { name, key_decls, span: SPAN }))
}

fn window() -> impl Strategy<Value = Window> {
    let arg = (prop::option::of(ident()), duration()).prop_map(|(name, value)| WindowArg { name, value, span: SPAN });
    (ident(), prop::option::of(prop::collection::vec(arg, 0..3))).prop_map(|(kind, args)| Window {
        kind,
        args,
        span: SPAN,
    })
}

fn group() -> impl Strategy<Value = Item> {
    let feature = (ident(), expr(), prop::option::of(expr()), prop::option::of(window()))
        .prop_map(|(name, expr, filter, window)| Feature { name, expr, filter, window, span: SPAN });
    (ident(), ident(), ident(), prop::option::of(expr()), prop::collection::vec(feature, 0..5)).prop_map(
        |(name, entity, source, filter, features)| {
            Item::Group(Group { name, entity, source, filter, features, span: SPAN })
        },
    )
}

fn lambda() -> impl Strategy<Value = Item> {
    let pattern = "[a-z_*][a-z0-9_*]{0,6}".prop_map(|name| Ident { name, span: SPAN });
    let rule = prop_oneof![Just(MergeRule::Batch), Just(MergeRule::Speed), Just(MergeRule::BatchPlusSpeed)];
    let stmt = prop_oneof![
        duration().prop_map(LambdaStmtKind::BatchEvery),
        (prop::collection::vec(pattern, 1..3), rule).prop_map(|(patterns, rule)| LambdaStmtKind::Merge {
            patterns,
            rule,
            rule_span: SPAN
        }),
    ];
    (ident(), prop::collection::vec(stmt.prop_map(|kind| LambdaStmt { kind, span: SPAN }), 0..4))
        .prop_map(|(group, stmts)| Item::Lambda(LambdaBlock { group, stmts, span: SPAN }))
}

fn module() -> impl Strategy<Value = Module> {
    prop::collection::vec(prop_oneof![source(), entity(), group(), lambda()], 0..5)
        .prop_map(|items| Module { file: FileId(0), items })
}

/// The specs of the corpus and the examples, to mutate.
fn seeds() -> Vec<String> {
    let mut out: Vec<String> = corpus("ok")
        .into_iter()
        .chain(corpus("errors"))
        .flat_map(|p| p.files)
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    for example in ["examples/fraud/fraud.feat", "examples/recsys/recsys.feat"] {
        out.extend(std::fs::read_to_string(root().join(example)).ok());
    }
    out
}

/// Runs every stage on a text; returns whether it formatted.
fn run_all_stages(text: &str) -> bool {
    let mut sources = featc::SourceMap::new();
    sources.add("fuzz.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    let _ = featc::diagnostic::render::render(&checked.diagnostics, &sources, true);
    let _ = featc::diagnostic::json::to_json(&checked.diagnostics, &sources);
    match featc::format::format_text(text) {
        Ok(formatted) => {
            // What formats must parse again, cleanly, to the same tree and the same text.
            let again = featc::format::format_text(&formatted);
            assert_eq!(again.as_ref().ok(), Some(&formatted), "formatting is not idempotent for:\n{text}");
            true
        }
        Err(_) => false,
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    ",",
    ":",
    "=",
    "==",
    "\"",
    "//",
    "\n",
    " over ",
    " where ",
    "lifetime",
    "sliding(5m, every: 1m)",
    "count()",
    "sum(",
    "5m",
    "0d",
    "-",
    "not ",
    " if ",
    " then ",
    " else ",
    "null",
    "1e999",
    "99999999999999999999",
    "source",
    "entity",
    "features",
    "lambda",
    "merge",
    "batch + speed",
    "key",
    "?",
    "<",
    ">",
    "\\",
    "é",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn formatting_a_generated_spec_parses_back_to_the_same_ast(module in module()) {
        let text = featc::format::format_module(&module, "");
        let (parsed, problems) = featc::syntax::parse(FileId(0), &text);
        prop_assert!(problems.is_empty(), "{text}\n{problems:?}");
        prop_assert_eq!(ast_without_spans(&parsed), ast_without_spans(&module), "{}", text);
        prop_assert_eq!(featc::format::format_module(&parsed, &text), text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        run_all_stages(&text);
    }

    #[test]
    fn mutated_specs_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, any::<prop::sample::Index>(), 0usize..12), 1..6),
    ) {
        let seeds = seeds();
        let mut text = seed.get(&seeds).clone();
        for (at, kind, token, len) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            match kind {
                0 => {
                    let mut end = (pos + len).min(text.len());
                    while !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(pos..end, "");
                }
                1 => {
                    let inserted: &&str = token.get(TOKENS);
                    text.insert_str(pos, inserted);
                }
                2 => {
                    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
                    let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
                    let line = text[line_start..line_end].to_owned();
                    text.insert_str(line_end, &format!("\n{line}"));
                }
                _ => text.truncate(pos),
            }
        }
        run_all_stages(&text);
    }
}

#[test]
fn a_long_chain_of_derived_features_checks_without_deep_recursion() {
    let n = 20_000;
    let mut text = String::from(
        "source s {\n    event_time ts\n    files \"s.parquet\"\n    schema { k: string, ts: timestamp }\n}\n\nentity e { key k: string }\n\nfeatures g(e) from s {\n    f0 = count() over lifetime\n",
    );
    for i in 1..n {
        text.push_str(&format!("    f{i} = f{} + 1\n", i - 1));
    }
    text.push_str("}\n");
    let mut sources = featc::SourceMap::new();
    sources.add("chain.feat", text);
    // On a test thread's small stack, as an editor or a server would run it.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || featc::check_project(&sources, &featc::Options::default()))
        .unwrap();
    let checked = handle.join().expect("checking a long chain must not overflow the stack");
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics.first());
    assert_eq!(checked.project.groups[0].features.len(), n);
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    for text in [
        format!("features g(e) from s {{ x = {}1{} }}", "(".repeat(5000), ")".repeat(5000)),
        format!("features g(e) from s {{ x = {}1 }}", "-".repeat(5000)),
        format!("features g(e) from s {{ x = {}1 }}", "not ".repeat(5000)),
        format!("features g(e) from s {{ x = {}1 }}", "if a then ".repeat(5000)),
        format!("features g(e) from s {{ x = 1{} }}", " + 1".repeat(20000)),
        "{".repeat(100_000),
        format!("source s {{ schema {{ a: {}i64{} }} }}", "list<".repeat(50_000), ">".repeat(50_000)),
    ] {
        assert!(!run_all_stages(&text), "nested input formatted");
    }
}
