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

#[test]
fn sliding_windows_of_mergeable_aggregates_run_two_stacks() {
    let text = r#"
        source s { event_time ts schema { k: string, x: f64, c: string, ts: timestamp } }
        entity e { key k: string }
        features g(e) from s {
            n = count() over sliding(10m, every: 1m)
            hi = max(x) over sliding(10m, every: 1m)
            seen = approx_count_distinct(c) over sliding(10m, every: 1m)
            top = top_k(c, 2) over sliding(10m, every: 1m)
            mean = avg(x) where c == "a" over sliding(10m, every: 1m)
        }
    "#;
    let mut sources = featc::SourceMap::new();
    sources.add("t.feat", text);
    let checked = featc::check_project(&sources, &featc::Options::default());
    let ir = featc::ir::lower(&checked.project).unwrap();
    let runtime = GroupRuntime::new(&ir, &ir.groups[0]).unwrap();
    let ran = runtime.strategies();
    let eviction = |name: &str| ran[0].2.iter().find(|(n, _)| n == name).unwrap().1;
    use featc::ir::Eviction::*;
    assert_eq!(eviction("n"), Subtract);
    assert_eq!(eviction("top"), Subtract);
    assert_eq!(eviction("mean"), Subtract);
    assert_eq!(eviction("hi"), TwoStacks);
    assert_eq!(eviction("seen"), TwoStacks);
}
