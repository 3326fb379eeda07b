//! Every corpus spec and example in, for each target: the plan's window strategies, evictions
//! and state layouts compared with what the runtime builds from the plan. What `featc plan`
//! prints is what runs.

use featc::ir::Target;
use featc::plan::{Operator, plan};
use featc_runtime::operators::group::GroupRuntime;
use featc_tests::{corpus, example, load};

#[test]
fn the_runtime_runs_the_strategy_the_plan_names() {
    let mut projects = corpus("ok");
    projects.push(example("fraud"));
    projects.push(example("recsys"));
    let mut operators = 0;
    for project in &projects {
        let sources = load(project);
        let checked = featc::check_project(&sources, &featc::Options::default());
        assert!(!checked.has_errors(), "{}", project.name);
        let ir = featc::ir::lower(&checked.project).unwrap();
        for target in Target::ALL {
            let plan = plan(&ir, target);
            for (g, planned) in ir.groups.iter().zip(&plan.groups) {
                let runtime = GroupRuntime::new(&ir, g).unwrap();
                assert_eq!(
                    runtime.is_columnar(),
                    planned.layout == featc::ir::Layout::Columnar,
                    "{}: group {} layout",
                    project.name,
                    g.name
                );
                let ran = runtime.strategies();
                for op in &planned.stream {
                    let Operator::Window(w) = op else { continue };
                    let (_, strategy, evictions) = ran
                        .iter()
                        .find(|(spec, _, _)| *spec == w.spec)
                        .unwrap_or_else(|| panic!("{}: no runtime window {}", project.name, w.window));
                    assert_eq!(*strategy, w.strategy, "{}: {} {}", project.name, g.name, w.window);
                    for a in &w.aggregates {
                        let (_, eviction) = evictions
                            .iter()
                            .find(|(name, _)| *name == a.feature)
                            .unwrap_or_else(|| panic!("{}: {} not in its window", project.name, a.feature));
                        assert_eq!(*eviction, a.eviction, "{}: {}.{}", project.name, g.name, a.feature);
                        operators += 1;
                    }
                }
            }
        }
    }
    // The corpus has every window kind and eviction; make sure the loop saw them.
    assert!(operators > 50, "only {operators} aggregate operators compared");
}

/// Every corpus spec and example: its name, IR and Lambda plan.
fn lambda_plans() -> Vec<(String, featc::ir::FeatureIr, featc::plan::Plan)> {
    let mut projects = corpus("ok");
    projects.push(example("fraud"));
    projects.push(example("recsys"));
    projects
        .iter()
        .map(|project| {
            let checked = featc::check_project(&load(project), &featc::Options::default());
            let ir = featc::ir::lower(&checked.project).unwrap();
            let plan = plan(&ir, Target::Lambda);
            (project.name.clone(), ir, plan)
        })
        .collect()
}

#[test]
fn the_batch_layer_computes_the_partials_the_plan_lists_and_no_others() {
    let mut compared = 0;
    for (name, ir, plan) in lambda_plans() {
        for (g, planned) in ir.groups.iter().zip(&plan.groups) {
            let Some(batch) = &planned.batch else { continue };
            let mut listed: Vec<(String, String)> = batch
                .partials
                .iter()
                .flat_map(|p| p.aggregates.iter().map(|a| (p.window.clone(), a.feature.clone())))
                .collect();
            let ran = computed(&GroupRuntime::batch_layer(&ir, g).unwrap(), g);
            listed.sort();
            assert_eq!(ran, listed, "{name}: group {}", g.name);
            compared += ran.len();
        }
    }
    assert!(compared > 20, "only {compared} batch partials compared");
}

/// Each aggregate a runtime computes, as `(window, feature)`, sorted.
fn computed(runtime: &GroupRuntime, g: &featc::ir::IrGroup) -> Vec<(String, String)> {
    let mut ran: Vec<(String, String)> = runtime
        .strategies()
        .into_iter()
        .zip(&g.windows)
        .flat_map(|((_, _, evictions), w)| {
            let window = featc::plan::window_text(w.spec);
            evictions.into_iter().map(move |(name, _)| (window.clone(), name))
        })
        .collect();
    ran.sort();
    ran
}

#[test]
fn the_lambda_speed_layer_computes_the_aggregates_the_plan_lists_each_in_one_replay() {
    use featc::ir::MergeRule;
    use featc_runtime::operators::group::Path;
    let mut compared = 0;
    for (name, ir, plan) in lambda_plans() {
        for (g, planned) in ir.groups.iter().zip(&plan.groups) {
            let (mut listed, mut whole_window) = (Vec::new(), Vec::new());
            for op in &planned.stream {
                let Operator::Window(w) = op else { continue };
                listed.extend(w.aggregates.iter().map(|a| (w.window.clone(), a.feature.clone())));
                if w.keeps == "whole_window" {
                    whole_window.push(w.window.clone());
                }
            }
            listed.sort();
            // The replay after the cutoff computes the `batch + speed` features, the replay of
            // whole windows the `speed` ones: together, what the plan lists.
            let delta =
                computed(&GroupRuntime::for_rules(&ir, g, Path::Auto, &[MergeRule::BatchPlusSpeed]).unwrap(), g);
            let speed = computed(&GroupRuntime::for_rules(&ir, g, Path::Auto, &[MergeRule::Speed]).unwrap(), g);
            assert!(delta.iter().all(|d| !speed.contains(d)), "{name}: a feature in both replays");
            let mut both = [delta, speed.clone()].concat();
            both.sort();
            assert_eq!(both, listed, "{name}: group {}", g.name);
            // A window the plan keeps since the cutoff only has no `speed` feature.
            for (window, feature) in &speed {
                assert!(whole_window.contains(window), "{name}: {feature} over {window}");
            }
            compared += both.len();
        }
    }
    assert!(compared > 20, "only {compared} speed layer aggregates compared");
}

/// The eviction the runtime runs for each aggregate of `windows` (feature lines) in one group,
/// on the layout the plan gives, or (`rows`) on the row layout.
fn evictions(windows: &str, rows: bool) -> Vec<(String, featc::ir::Eviction)> {
    let text = format!(
        "source s {{ event_time ts files \"s.parquet\" schema {{ k: string, x: f64, c: string, ts: timestamp }} }}
        entity e {{ key k: string }}
        features g(e) from s {{ {windows} }}"
    );
    let mut sources = featc::SourceMap::new();
    sources.add("t.feat", &text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let ir = featc::ir::lower(&checked.project).unwrap();
    let runtime = if rows {
        GroupRuntime::on_path(&ir, &ir.groups[0].on_rows(), featc_runtime::operators::group::Path::Rows).unwrap()
    } else {
        GroupRuntime::new(&ir, &ir.groups[0]).unwrap()
    };
    runtime.strategies().into_iter().flat_map(|(_, _, e)| e).collect()
}

const SLIDING: &str = r#"
    n = count() over sliding(10m, every: 1m)
    hi = max(x) over sliding(10m, every: 1m)
    seen = approx_count_distinct(c) over sliding(10m, every: 1m)
    top = top_k(c, 2) over sliding(10m, every: 1m)
    mean = avg(x) where c == "a" over sliding(10m, every: 1m)
"#;

#[test]
fn sliding_windows_on_the_row_path_subtract_or_run_two_stacks() {
    // The row layout (`IrGroup::on_rows`, the reference of the columnar one).
    let ran = evictions(&format!("{SLIDING}\n    visits = count() over session(30m)"), true);
    let eviction = |name: &str| ran.iter().find(|(n, _)| n == name).unwrap().1;
    use featc::ir::Eviction::*;
    assert_eq!(eviction("n"), Subtract);
    assert_eq!(eviction("top"), Subtract);
    assert_eq!(eviction("mean"), Subtract);
    assert_eq!(eviction("hi"), TwoStacks);
    assert_eq!(eviction("seen"), TwoStacks);
}

#[test]
fn sliding_windows_on_the_columnar_path_subtract_or_merge_their_panes_at_lookup() {
    let ran = evictions(SLIDING, false);
    assert_eq!(ran.len(), 5);
    let eviction = |name: &str| ran.iter().find(|(n, _)| n == name).unwrap().1;
    use featc::ir::Eviction::*;
    assert_eq!(eviction("n"), Subtract);
    assert_eq!(eviction("top"), Subtract);
    assert_eq!(eviction("mean"), Subtract);
    assert_eq!(eviction("hi"), MergePanes);
    assert_eq!(eviction("seen"), MergePanes);
}
