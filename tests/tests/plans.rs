//! Plans of every example and every corpus spec, for both targets: text, JSON and DOT
//! snapshots, the JSON against its published schema, SQL in three dialects parsed back, and
//! the promise that both targets are built from one IR.

use featc::Target;
use featc::ir::{FeatureIr, lower};
use featc::plan::{Operator, Plan, plan, to_dot, to_json, to_text};
use featc::sql::{Dialect, emit, parse_back};
use featc_tests::{CorpusProject, corpus, example, load, root};

/// The examples and the good corpus, each checked clean and lowered.
fn projects() -> Vec<(String, FeatureIr)> {
    let mut all: Vec<CorpusProject> = corpus("ok");
    all.extend(["fraud", "recsys"].map(example));
    all.into_iter()
        .map(|p| {
            let sources = load(&p);
            let checked = featc::check_project(&sources, &featc::Options::default());
            assert!(!checked.has_errors(), "{} has errors", p.name);
            (p.name.trim_start_matches("tests/corpus/").replace(['/', '.'], "_"), lower(&checked.project).unwrap())
        })
        .collect()
}

#[test]
fn plans_of_every_spec_for_both_targets() {
    for (name, ir) in projects() {
        for target in Target::ALL {
            let p = plan(&ir, target);
            let suffix = format!("{name}__{}", target.as_str());
            insta::assert_snapshot!(format!("text__{suffix}"), to_text(&p));
            insta::assert_snapshot!(format!("json__{suffix}"), to_json(&p));
        }
    }
}

#[test]
fn dot_of_the_examples_renders_with_graphviz() {
    let dot_available = std::process::Command::new("dot").arg("-V").output().is_ok();
    assert!(
        dot_available || std::env::var_os("FEATC_NO_GRAPHVIZ").is_some(),
        "Graphviz `dot` is not installed (.ci/run installs it)"
    );
    for (name, ir) in projects().into_iter().filter(|(n, _)| n.starts_with("examples")) {
        for target in Target::ALL {
            let dot = to_dot(&plan(&ir, target));
            insta::assert_snapshot!(format!("dot__{name}__{}", target.as_str()), dot);
            if dot_available {
                let mut child = std::process::Command::new("dot")
                    .arg("-Tsvg")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "{name}: dot failed: {}", String::from_utf8_lossy(&out.stderr));
                assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "{name}: no SVG");
            }
        }
    }
}

#[test]
fn json_plans_validate_against_the_published_schema_and_are_byte_stable() {
    let schema_text = std::fs::read_to_string(root().join("docs/plan-format.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (name, ir) in projects() {
        for target in Target::ALL {
            let text = to_json(&plan(&ir, target));
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let errors: Vec<String> =
                validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path)).collect();
            assert!(errors.is_empty(), "{name} ({}): {errors:#?}", target.as_str());
            // Byte-stable: the same spec gives the same bytes, lowered and planned again.
            let sources = load_named(&name);
            let again = lower(&featc::check_project(&sources, &featc::Options::default()).project).unwrap();
            assert_eq!(to_json(&plan(&again, target)), text, "{name}: JSON plan differs between runs");
        }
    }
    // The schema is strict: a plan with an unknown field does not validate.
    let (_, ir) = projects().remove(0);
    let mut value: serde_json::Value = serde_json::from_str(&to_json(&plan(&ir, Target::Kappa))).unwrap();
    value["surprise"] = serde_json::json!(1);
    assert!(!validator.is_valid(&value));
}

fn load_named(name: &str) -> featc::SourceMap {
    let p = match name.strip_prefix("examples_") {
        Some(name) => example(name),
        None => corpus("ok")
            .into_iter()
            .find(|p| p.name.trim_start_matches("tests/corpus/").replace(['/', '.'], "_") == name)
            .unwrap(),
    };
    load(&p)
}

#[test]
fn emitted_sql_parses_back_in_every_dialect() {
    for (name, ir) in projects() {
        for dialect in Dialect::ALL {
            let out = emit(&ir, dialect, None);
            for s in &out.statements {
                parse_back(dialect, &s.sql).unwrap_or_else(|e| panic!("{name} {}: {e}\n{}", dialect.name(), s.sql));
            }
            insta::assert_snapshot!(format!("sql__{name}__{}", dialect.name()), out.to_script());
        }
    }
}

/// The complete Spark job of each example, as `featc plan --emit sql --dialect spark` prints it
/// (with the spec's relative paths; the CLI makes them absolute). It runs on Spark in
/// `sql_spark.rs`.
#[test]
fn spark_jobs_of_the_examples() {
    let projects = projects();
    for name in ["fraud", "recsys"] {
        let (_, ir) = projects.iter().find(|(n, _)| n == &format!("examples_{name}")).unwrap();
        let job = featc::sql::spark::SparkJob { cutoff_ms: None, base_dir: None, output_dir: "out".to_owned() };
        let out = featc::sql::spark::job(ir, &job).unwrap();
        insta::assert_snapshot!(format!("spark_job__{name}"), out.to_script());
    }
}

/// Every aggregate's operator, wherever a plan computes it.
fn aggregate_ops(p: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in &p.groups {
        for op in &g.stream {
            if let Operator::Window(w) = op {
                out.extend(
                    w.aggregates
                        .iter()
                        .map(|a| (format!("{}.{}", g.name, a.feature), serde_json::to_string(a).unwrap())),
                );
            }
        }
        for part in g.batch.iter().flat_map(|b| &b.partials) {
            out.extend(
                part.aggregates
                    .iter()
                    .map(|a| (format!("{}.{}", g.name, a.feature), serde_json::to_string(a).unwrap())),
            );
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn both_targets_are_built_from_one_ir_with_the_same_feature_logic() {
    for (name, ir) in projects() {
        let lambda = plan(&ir, Target::Lambda);
        let kappa = plan(&ir, Target::Kappa);
        assert_eq!(lambda.spec_hash, ir.spec_hash);
        assert_eq!(kappa.spec_hash, ir.spec_hash);
        // Every aggregate is computed the same way (same algebra, state, eviction) by Kappa's
        // stream and by whichever Lambda layers compute it; none is missing from either.
        let k = aggregate_ops(&kappa);
        let l = aggregate_ops(&lambda);
        assert_eq!(k, l, "{name}: the targets compute aggregates differently");
        let names =
            |p: &Plan| p.groups.iter().flat_map(|g| g.serving.iter().map(|f| f.name.clone())).collect::<Vec<_>>();
        assert_eq!(names(&lambda), names(&kappa), "{name}: the targets serve different features");
        // And checking for one target only does not change the IR.
        let sources = load_named(&name);
        for target in Target::ALL {
            let checked = featc::check_project(&sources, &featc::Options { targets: vec![target] });
            assert_eq!(
                lower(&checked.project).unwrap().spec_hash,
                ir.spec_hash,
                "{name}: --target {} changed the IR",
                target.as_str()
            );
        }
    }
}

#[test]
fn a_group_shares_one_pane_ring_per_window_and_one_evaluation_per_filter() {
    let (_, ir) = projects().into_iter().find(|(n, _)| n == "examples_recsys").unwrap();
    let g = &ir.groups[0];
    // Four lifetime counts share one running partial; the click filter is evaluated once for
    // both features that use it.
    let lifetime = g.windows.iter().find(|w| w.spec == featc::ir::WindowSpec::Lifetime).unwrap();
    assert_eq!(lifetime.aggregates.len(), 4);
    assert_eq!(g.windows.len(), 2);
    assert_eq!(g.predicates.len(), 3);
    let clicks: Vec<_> = g.aggregates.iter().filter(|a| a.name.starts_with("clicks")).map(|a| a.predicate).collect();
    assert_eq!(clicks, [Some(1), Some(1)]);
}
