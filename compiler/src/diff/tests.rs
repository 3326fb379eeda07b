use super::changes::change;
use super::*;

const FRAUD: &str = include_str!("../../../examples/fraud/fraud.feat");
const RECSYS: &str = include_str!("../../../examples/recsys/recsys.feat");

fn ir(files: &[(&str, &str)]) -> FeatureIr {
    let mut sources = crate::SourceMap::new();
    for (name, text) in files {
        sources.add(*name, *text);
    }
    let checked = crate::check_project(&sources, &crate::Options::default());
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    crate::ir::lower(&checked.project).unwrap()
}

/// The two examples as one project, each edited by `edit`.
fn examples(edit: impl Fn(&str) -> String) -> FeatureIr {
    ir(&[("fraud.feat", &edit(FRAUD)), ("recsys.feat", &edit(RECSYS))])
}

fn base() -> FeatureIr {
    examples(str::to_owned)
}

/// The two examples with the first `from` replaced by `to`, which one of them must hold.
fn edited(from: &str, to: &str) -> FeatureIr {
    assert!(FRAUD.contains(from) || RECSYS.contains(from), "no {from:?} to edit");
    examples(|t| t.replacen(from, to, 1))
}

/// Every version of a project: spec, groups, aggregates and derived features, by name.
fn versions(ir: &FeatureIr) -> Vec<String> {
    let mut out = vec![ir.spec_hash.clone()];
    for g in &ir.groups {
        out.push(format!("{} {}", g.name, g.version));
        out.extend(g.aggregates.iter().map(|a| format!("{}.{} {} {:?}", g.name, a.name, a.version, a.merge)));
        out.extend(g.derived.iter().map(|d| format!("{}.{} {}", g.name, d.name, d.version)));
    }
    out.sort();
    out
}

fn group<'a>(d: &'a Diff, name: &str) -> &'a GroupDiff {
    d.groups.iter().find(|g| g.name == name).unwrap()
}

fn feature<'a>(d: &'a Diff, g: &str, name: &str) -> &'a FeatureDiff {
    group(d, g).features.iter().find(|f| f.name == name).unwrap()
}

fn whats(f: &FeatureDiff) -> Vec<What> {
    f.changes.iter().map(|c| c.what).collect()
}

fn actions(steps: &[Step]) -> Vec<Action> {
    steps.iter().map(|s| s.action).collect()
}

fn assert_no_change(old: &FeatureIr, new: &FeatureIr) {
    assert_eq!(versions(old), versions(new));
    let d = diff(old, new);
    assert!(!d.has_changes(), "{}", d.to_text());
    assert!(d.groups.iter().all(|g| g.status == Status::Unchanged && g.kappa.is_empty() && g.lambda.is_empty()));
    assert!(d.summary.rebuild.is_empty());
    assert!(d.to_text().starts_with("featc diff: no semantic change"), "{}", d.to_text());
}

/// Only `name` changed state: Kappa replays its topic, Lambda recomputes its view.
fn assert_rebuilds_only(d: &Diff, name: &str, topic: &str) {
    assert_eq!(d.summary.rebuild, [name]);
    for g in &d.groups {
        if g.name == name {
            assert!(g.state_changed);
            assert_eq!(actions(&g.kappa), [Action::ReplayFromStart]);
            assert_eq!(g.kappa[0].text, format!("replay `{topic}` from offset 0 for group {name}"));
            assert_eq!(actions(&g.lambda), [Action::RecomputeBatchView, Action::ReplaySpeedLayer]);
        } else {
            assert!(!g.state_changed && g.kappa.is_empty() && g.lambda.is_empty(), "{}", d.to_text());
            assert_eq!(g.old_version, g.new_version);
        }
    }
}

#[test]
fn a_project_is_the_same_as_itself() {
    assert_no_change(&base(), &base());
}

#[test]
fn comments_and_layout_change_nothing() {
    let relaid = |t: &str| {
        let t = t.replace("    ", "  ").replace(" = ", "=").replace(" over ", "\n      over ");
        format!(
            "// A comment at the top.\n\n\n{}\n// And one at the end.\n",
            t.replace("\n\n", "\n\n// between items\n")
        )
    };
    assert_no_change(&base(), &examples(relaid));
}

#[test]
fn reordering_features_and_items_changes_nothing() {
    let reordered = |t: &str| {
        // The items in reverse order, and the features of each group too.
        let mut items: Vec<Vec<&str>> = Vec::new();
        for line in t.lines() {
            let starts = ["source", "entity", "features", "lambda"].iter().any(|k| line.starts_with(k));
            match items.last_mut() {
                Some(item) if !starts => item.push(line),
                _ => items.push(vec![line]),
            }
        }
        let mut out = String::new();
        for item in items.iter().rev() {
            let feature = |l: &str| item[0].starts_with("features") && l.starts_with("    ") && l.contains(" = ");
            let mut features: Vec<&str> = item.iter().copied().filter(|l| feature(l)).collect();
            for line in item {
                let line = if feature(line) { features.pop().unwrap_or_default() } else { *line };
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    };
    let fraud = reordered(FRAUD);
    assert!(fraud.find("lambda user_fraud") < fraud.find("source transactions"));
    let new = ir(&[("recsys.feat", &reordered(RECSYS)), ("fraud.feat", &fraud)]);
    assert_no_change(&base(), &new);
}

#[test]
fn moving_a_source_into_another_file_changes_nothing() {
    let start = FRAUD.find("source transactions").unwrap();
    let end = start + FRAUD[start..].find("\n}\n").unwrap() + 3;
    let (source, rest) = (&FRAUD[start..end], format!("{}{}", &FRAUD[..start], &FRAUD[end..]));
    let new = ir(&[("sources.feat", source), ("fraud.feat", &rest), ("recsys.feat", RECSYS)]);
    assert_no_change(&base(), &new);
}

#[test]
fn formatting_an_example_keeps_every_version() {
    for text in [FRAUD, RECSYS] {
        let squashed = text.replace("    ", " ").replace("  ", " ");
        let formatted = crate::format::format_text(&squashed).unwrap();
        assert_eq!(versions(&ir(&[("a.feat", text)])), versions(&ir(&[("a.feat", &formatted)])));
        let formatted = crate::format::format_text(text).unwrap();
        assert_eq!(versions(&ir(&[("a.feat", text)])), versions(&ir(&[("a.feat", &formatted)])));
    }
}

#[test]
fn adding_a_feature_rebuilds_its_group_only() {
    let new = edited(
        "    recent_merchants ",
        "    amount_1h = sum(amount) over sliding(1h, every: 5m)\n    recent_merchants ",
    );
    let d = diff(&base(), &new);
    assert!(d.has_changes());
    assert_rebuilds_only(&d, "user_fraud", "transactions");
    let f = feature(&d, "user_fraud", "amount_1h");
    assert_eq!((f.status, f.definition.as_str()), (Status::Added, "sum(amount) over sliding(1h, every: 5m)"));
    let others = group(&d, "user_fraud").features.iter().filter(|f| f.name != "amount_1h");
    assert!(others.clone().all(|f| f.status == Status::Unchanged), "{}", d.to_text());
    assert_eq!(others.count(), 14);
    assert_eq!(d.summary.features, Counts { added: 1, unchanged: 20, ..Counts::default() });
    let text = d.to_text();
    assert!(text.contains("  added    amount_1h = sum(amount) over sliding(1h, every: 5m)\n"), "{text}");
    assert!(text.contains("  kappa:   replay `transactions` from offset 0 for group user_fraud\n"), "{text}");
    assert!(text.contains("unchanged: preferences\n"), "{text}");
}

#[test]
fn changing_a_window_changes_that_feature() {
    let new = edited("max(amount)                        over sliding(1h", "max(amount) over sliding(2h");
    let d = diff(&base(), &new);
    assert_rebuilds_only(&d, "user_fraud", "transactions");
    let f = feature(&d, "user_fraud", "max_amount_1h");
    assert_eq!(f.status, Status::Changed);
    assert_eq!(
        f.changes,
        [change(What::Window, "sliding(1h, every: 5m)", "sliding(2h, every: 5m)")],
        "{}",
        d.to_text()
    );
    assert_eq!(d.summary.features.changed, 1);
}

#[test]
fn changing_lateness_changes_every_feature_on_that_source() {
    let new = edited("lateness   10m", "lateness   1m");
    let d = diff(&base(), &new);
    assert_rebuilds_only(&d, "user_fraud", "transactions");
    let lateness = change(What::Lateness, "10m", "1m");
    assert_eq!(group(&d, "user_fraud").bindings, std::slice::from_ref(&lateness));
    for f in &group(&d, "user_fraud").features {
        assert_eq!(f.status, Status::Changed, "{}", f.name);
        if f.kind == "aggregate" {
            assert_eq!(f.changes, std::slice::from_ref(&lateness));
        } else {
            assert_eq!(whats(f), [What::Inputs]);
        }
    }
    let source = d.sources.iter().find(|s| s.name == "transactions").unwrap();
    assert_eq!(source.changes, [lateness]);
    let text = d.to_text();
    assert!(text.contains("  bindings: lateness 10m → 1m\n"), "{text}");
    assert!(text.contains("  changed  by the bindings: lifetime_transactions, historical_fraud_count,"), "{text}");
    assert!(text.contains("  changed  fraud_rate: inputs changed: historical_fraud_count, lifetime_transactions"));
}

#[test]
fn a_rename_is_detected_and_recomputes_nothing() {
    let new = examples(|t| t.replace("amount_5m", "spend_5m"));
    let d = diff(&base(), &new);
    assert!(d.has_changes());
    assert!(d.summary.rebuild.is_empty());
    let f = feature(&d, "user_fraud", "spend_5m");
    assert_eq!((f.status, f.renamed_from.as_deref()), (Status::Renamed, Some("amount_5m")));
    assert!(f.changes.is_empty());
    assert_eq!(f.old_version, f.new_version);
    // The derived feature that reads it has the same version, only its text changed.
    assert_eq!(feature(&d, "user_fraud", "velocity_ratio").status, Status::Unchanged);
    let g = group(&d, "user_fraud");
    assert!(g.kappa.is_empty() && g.lambda.is_empty());
    assert_eq!(d.summary.features, Counts { renamed: 1, unchanged: 19, ..Counts::default() });
    assert!(
        d.to_text().contains("  renamed  amount_5m → spend_5m\n  unchanged: 13 features\n  nothing to recompute\n")
    );
}

#[test]
fn a_merge_rule_change_onto_the_batch_view_recomputes_it_and_off_it_is_serving_only() {
    let new = edited("transactions_5m, amount_5m, unique", "transactions_5m, unique");
    let d = diff(&base(), &new);
    assert!(d.has_changes());
    assert_eq!(d.old_spec_hash, d.new_spec_hash);
    assert!(d.summary.rebuild.is_empty());
    let f = feature(&d, "user_fraud", "amount_5m");
    assert_eq!(f.changes, [change(What::MergeRule, "speed", "batch + speed")]);
    let g = group(&d, "user_fraud");
    assert!(g.kappa.is_empty());
    // The batch layer computes only the features served from the view: the stored view lacks it.
    assert_eq!(actions(&g.lambda), [Action::RecomputeBatchView]);
    assert_eq!(
        g.lambda[0].text,
        "recompute the batch view of user_fraud over the history up to the cutoff (now served from it: amount_5m)"
    );
    // Back to `speed`: the view holds more than is read; nothing to recompute.
    let back = diff(&new, &base());
    let g = group(&back, "user_fraud");
    assert_eq!(actions(&g.lambda), [Action::ServingOnly]);
    assert_eq!(g.lambda[0].text, "serving only (merge rule) for user_fraud: amount_5m");
}

#[test]
fn a_derived_change_recomputes_nothing() {
    let new = edited("amount_5m / avg_transaction_size", "amount_5m / transaction_stddev");
    let d = diff(&base(), &new);
    assert!(d.has_changes());
    assert!(d.summary.rebuild.is_empty());
    let f = feature(&d, "user_fraud", "velocity_ratio");
    let definition = change(What::Definition, "amount_5m / avg_transaction_size", "amount_5m / transaction_stddev");
    assert_eq!(f.changes, [definition]);
    let g = group(&d, "user_fraud");
    assert_eq!(g.old_version, g.new_version);
    assert!(g.kappa.is_empty() && g.lambda.is_empty());
}

#[test]
fn filters_and_group_filters_are_named() {
    let new = edited("count() where fraud_flag  ", "count() where not fraud_flag");
    let d = diff(&base(), &new);
    let f = feature(&d, "user_fraud", "historical_fraud_count");
    assert_eq!(f.changes, [change(What::Filter, "fraud_flag", "not fraud_flag")]);
    let new = edited("\"click\", \"purchase\")", "\"click\", \"purchase\", \"cart\")");
    let d = diff(&base(), &new);
    assert_rebuilds_only(&d, "preferences", "user_events");
    let bindings = &group(&d, "preferences").bindings;
    assert_eq!(bindings.iter().map(|c| c.what).collect::<Vec<_>>(), [What::GroupFilter]);
}

#[test]
fn removing_a_group_recomputes_nothing() {
    let start = RECSYS.find("features preferences").unwrap();
    let new = ir(&[("fraud.feat", FRAUD), ("recsys.feat", &RECSYS[..start])]);
    let d = diff(&base(), &new);
    assert!(d.has_changes());
    let g = group(&d, "preferences");
    assert_eq!((g.status, g.new_version.as_deref()), (Status::Removed, None));
    assert!(g.features.iter().all(|f| f.status == Status::Removed) && g.features.len() == 6);
    assert!(g.kappa.is_empty() && g.lambda.is_empty() && d.summary.rebuild.is_empty());
    assert_eq!(group(&d, "user_fraud").status, Status::Unchanged);
    assert!(d.to_text().contains("removed with its 6 features"), "{}", d.to_text());
    // And back: an added group is built from scratch.
    let d = diff(&new, &base());
    assert_rebuilds_only(&d, "preferences", "user_events");
    assert_eq!(group(&d, "preferences").status, Status::Added);
}

#[test]
fn json_is_stable_and_complete() {
    let new = edited("lateness   1m", "lateness   2m");
    let d = diff(&base(), &new);
    let json = d.to_json();
    assert_eq!(json, diff(&base(), &new).to_json());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["format"], DIFF_FORMAT);
    assert_eq!(value["semantic_change"], true);
    assert_eq!(value["summary"]["rebuild"][0], "preferences");
    assert_eq!(value["groups"][0]["name"], "preferences");
    assert_eq!(value["groups"][0]["kappa"][0]["action"], "replay_from_start");
    assert_eq!(value["groups"][0]["bindings"][0]["what"], "lateness");
}

/// A case of `tests/diff/`: the old and new project and the expected text.
macro_rules! case {
    ($case:literal, [$($old:literal),+], [$($new:literal),+]) => {{
        let file = |side: &str, name: &str| format!("tests/diff/{}/{side}/{name}", $case);
        let old = ir(&[$((file("old", $old).as_str(), include_str!(concat!("../../../tests/diff/", $case, "/old/", $old)))),+]);
        let new = ir(&[$((file("new", $new).as_str(), include_str!(concat!("../../../tests/diff/", $case, "/new/", $new)))),+]);
        ($case, diff(&old, &new), include_str!(concat!("../../../tests/diff/", $case, "/expected.txt")))
    }};
}

#[test]
fn the_cases_of_tests_diff_give_their_expected_text() {
    let cases = [
        case!("layout-only", ["shop.feat"], ["sources.feat", "features.feat"]),
        case!("add-feature", ["shop.feat"], ["shop.feat"]),
        case!("lateness", ["shop.feat"], ["shop.feat"]),
        case!("serving-only", ["shop.feat"], ["shop.feat"]),
        case!("remove-group", ["shop.feat"], ["shop.feat"]),
    ];
    let mut stale = Vec::new();
    for (name, d, expected) in &cases {
        if d.to_text() != *expected {
            stale.push(format!("tests/diff/{name}/expected.txt is now:\n{}", d.to_text()));
        }
        assert_eq!(d.has_changes(), *name != "layout-only", "{name}");
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

#[test]
fn schema_fields_no_group_reads_change_no_version() {
    let new = edited(
        "        merchant_id: string,\n        category: string,\n",
        "        category: string,\n        country: string?,\n        merchant_id: string,\n",
    );
    let d = diff(&base(), &new);
    assert!(!d.has_changes(), "{}", d.to_text());
    assert_eq!(versions(&base()), versions(&new));
    let source = d.sources.iter().find(|s| s.name == "transactions").unwrap();
    assert_eq!(source.changes, [Change { what: What::Field, old: None, new: Some("country: string?".to_owned()) }]);
    assert!(d.to_text().contains("source transactions: field added: country: string?\n"), "{}", d.to_text());
}

#[test]
fn a_field_type_changes_the_features_that_read_it() {
    let d = diff(&base(), &edited("        amount: f64,", "        amount: i64,"));
    assert_rebuilds_only(&d, "user_fraud", "transactions");
    let f = feature(&d, "user_fraud", "avg_transaction_size");
    assert_eq!(f.changes, [change(What::FieldTypes, "amount: f64", "amount: i64")], "{}", d.to_text());
    assert!(whats(feature(&d, "user_fraud", "amount_5m")).contains(&What::FieldTypes));
    assert_eq!(feature(&d, "user_fraud", "lifetime_transactions").status, Status::Unchanged);
    assert_eq!(feature(&d, "user_fraud", "merchants_30d").status, Status::Unchanged);
}
