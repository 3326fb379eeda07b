//! Hand-computed windows in, each aggregate's expected value checked (nulls, empty, ties).

use featc::ir::{AggKind, Param, Ty};

use crate::aggregate::{Spec, aggregate, ranks};
use crate::{Expected, Val, agrees};

fn spec(kind: AggKind, param: Option<Param>, ty: Ty) -> Spec {
    Spec { kind, param, ty }
}

fn run(kind: AggKind, param: Option<Param>, ty: Ty, items: &[(i64, Val)]) -> Expected {
    aggregate(&spec(kind, param, ty), items).unwrap()
}

fn exact(v: Val) -> Expected {
    Expected::Exact(v)
}

fn s(x: &str) -> Val {
    Val::from(x)
}

fn list(items: &[&str]) -> Val {
    Val::List(items.iter().map(|x| s(x)).collect())
}

/// The docs' example: 1, null, 3.
fn one_null_three() -> Vec<(i64, Val)> {
    vec![(0, Val::I64(1)), (1, Val::Null), (2, Val::I64(3))]
}

#[test]
fn counts_and_sums_skip_nulls() {
    let xs = one_null_three();
    // count() sees non-null markers for every event; count(x) skips the null.
    let events: Vec<(i64, Val)> = xs.iter().map(|(t, _)| (*t, Val::Bool(true))).collect();
    assert_eq!(run(AggKind::Count, None, Ty::I64, &events), exact(Val::I64(3)));
    assert_eq!(run(AggKind::Count, None, Ty::I64, &xs), exact(Val::I64(2)));
    assert_eq!(run(AggKind::Sum, None, Ty::I64, &xs), exact(Val::I64(4)));
    assert_eq!(run(AggKind::Avg, None, Ty::F64, &xs), Expected::Float { value: 2.0, ulps: 1 });
    let fs = [(0, Val::F64(1.5)), (0, Val::Null), (0, Val::F64(-0.25))];
    assert_eq!(run(AggKind::Sum, None, Ty::F64, &fs), Expected::Float { value: 1.25, ulps: 0 });
}

#[test]
fn over_no_input_counts_and_sums_are_zero_the_rest_null() {
    let empty: Vec<(i64, Val)> = vec![];
    let nulls = vec![(0, Val::Null), (1, Val::Null)];
    for items in [&empty, &nulls] {
        assert_eq!(run(AggKind::Count, None, Ty::I64, items), exact(Val::I64(0)));
        assert_eq!(run(AggKind::Sum, None, Ty::I64, items), exact(Val::I64(0)));
        assert_eq!(run(AggKind::Sum, None, Ty::F64, items), Expected::Float { value: 0.0, ulps: 0 });
        assert_eq!(run(AggKind::CountDistinct, None, Ty::I64, items), exact(Val::I64(0)));
        assert_eq!(
            run(AggKind::ApproxCountDistinct, None, Ty::I64, items),
            Expected::ApproxCount { exact: 0, tolerance: 0.0 }
        );
        for kind in [
            AggKind::Avg,
            AggKind::Variance,
            AggKind::Stddev,
            AggKind::Min,
            AggKind::Max,
            AggKind::First,
            AggKind::Last,
        ] {
            assert_eq!(run(kind, None, Ty::F64, items), exact(Val::Null), "{kind:?}");
        }
        for kind in [AggKind::FirstN, AggKind::LastN, AggKind::TopK] {
            assert_eq!(run(kind, Some(Param::Int(3)), Ty::List(Box::new(Ty::F64)), items), exact(Val::Null));
        }
        assert_eq!(run(AggKind::ApproxPercentile, Some(Param::Float(0.5)), Ty::F64, items), exact(Val::Null));
    }
}

#[test]
fn variance_and_stddev_are_sample_statistics() {
    let xs = [(0, Val::I64(2)), (0, Val::I64(4)), (0, Val::I64(6))];
    assert_eq!(run(AggKind::Variance, None, Ty::F64, &xs), Expected::Float { value: 4.0, ulps: 4 });
    assert_eq!(run(AggKind::Stddev, None, Ty::F64, &xs), Expected::Float { value: 2.0, ulps: 4 });
    let one = [(0, Val::I64(5)), (1, Val::Null)];
    assert_eq!(run(AggKind::Variance, None, Ty::F64, &one), exact(Val::Null));
    assert_eq!(run(AggKind::Stddev, None, Ty::F64, &one), exact(Val::Null));
    let same = [(0, Val::F64(0.1)), (1, Val::F64(0.1))];
    assert_eq!(run(AggKind::Variance, None, Ty::F64, &same), Expected::Float { value: 0.0, ulps: 4 });
    let inf = [(0, Val::F64(f64::INFINITY)), (1, Val::F64(1.0))];
    assert!(matches!(run(AggKind::Variance, None, Ty::F64, &inf), Expected::Unspecified(_)));
}

#[test]
fn min_and_max_order_numbers_strings_and_times() {
    let xs = [(0, Val::F64(2.5)), (1, Val::Null), (2, Val::F64(-1.0)), (3, Val::F64(7.0))];
    assert_eq!(run(AggKind::Min, None, Ty::F64, &xs), exact(Val::F64(-1.0)));
    assert_eq!(run(AggKind::Max, None, Ty::F64, &xs), exact(Val::F64(7.0)));
    // Strings by UTF-8 bytes: "Z" < "a" < "é".
    let ss = [(0, s("a")), (1, s("é")), (2, s("Z"))];
    assert_eq!(run(AggKind::Min, None, Ty::String, &ss), exact(s("Z")));
    assert_eq!(run(AggKind::Max, None, Ty::String, &ss), exact(s("é")));
    let ts = [(0, Val::Ts(-5)), (1, Val::Ts(3))];
    assert_eq!(run(AggKind::Min, None, Ty::Timestamp, &ts), exact(Val::Ts(-5)));
    // -0.0 and 0.0 are equal numbers: either is the minimum.
    let zeros = [(0, Val::F64(0.0)), (1, Val::F64(-0.0))];
    let min = run(AggKind::Min, None, Ty::F64, &zeros);
    assert!(agrees(&min, &Val::F64(0.0)).is_ok() && agrees(&min, &Val::F64(-0.0)).is_ok());
}

#[test]
fn first_last_and_their_lists_order_by_time_then_value() {
    // The docs' example: b and a at 10:00, c and d at 10:05, in arrival order b, d, a, c.
    let xs = [(1000, s("b")), (1005, s("d")), (1000, s("a")), (1005, s("c")), (900, Val::Null)];
    assert_eq!(run(AggKind::First, None, Ty::String, &xs), exact(s("a")));
    assert_eq!(run(AggKind::Last, None, Ty::String, &xs), exact(s("d")));
    let n3 = Some(Param::Int(3));
    let ty = Ty::List(Box::new(Ty::String));
    assert_eq!(run(AggKind::FirstN, n3, ty.clone(), &xs), exact(list(&["a", "b", "c"])));
    assert_eq!(run(AggKind::LastN, n3, ty.clone(), &xs), exact(list(&["b", "c", "d"])));
    // Fewer values than n: all of them, oldest first.
    let n10 = Some(Param::Int(10));
    assert_eq!(run(AggKind::LastN, n10, ty.clone(), &xs), exact(list(&["a", "b", "c", "d"])));
    assert_eq!(run(AggKind::FirstN, n10, ty, &xs[..1]), exact(list(&["b"])));
    // Equal values at equal times are kept as often as they come.
    let dup = [(1, Val::I64(4)), (1, Val::I64(4)), (0, Val::I64(9))];
    let ty = Ty::List(Box::new(Ty::I64));
    assert_eq!(run(AggKind::LastN, Some(Param::Int(2)), ty, &dup), exact(Val::List(vec![Val::I64(4), Val::I64(4)])));
    // false before true.
    let bools = [(7, Val::Bool(true)), (7, Val::Bool(false))];
    assert_eq!(run(AggKind::First, None, Ty::Bool, &bools), exact(Val::Bool(false)));
    assert_eq!(run(AggKind::Last, None, Ty::Bool, &bools), exact(Val::Bool(true)));
}

#[test]
fn distinct_counts_and_top_k() {
    let xs: Vec<(i64, Val)> =
        ["a", "b", "a", "c", "b", "d"].iter().enumerate().map(|(i, x)| (i as i64, s(x))).collect();
    let ty = Ty::List(Box::new(Ty::String));
    assert_eq!(run(AggKind::TopK, Some(Param::Int(3)), ty.clone(), &xs), exact(list(&["a", "b", "c"])));
    assert_eq!(run(AggKind::TopK, Some(Param::Int(1)), ty.clone(), &xs[2..]), exact(list(&["a"])));
    // Ties by value ascending, whatever the arrival order.
    let tied = [(0, s("z")), (1, s("y")), (2, s("z")), (3, s("y")), (4, Val::Null), (5, s("x"))];
    assert_eq!(run(AggKind::TopK, Some(Param::Int(5)), ty, &tied), exact(list(&["y", "z", "x"])));
    assert_eq!(run(AggKind::CountDistinct, None, Ty::I64, &xs), exact(Val::I64(4)));
    assert_eq!(
        run(AggKind::ApproxCountDistinct, None, Ty::I64, &xs),
        Expected::ApproxCount { exact: 4, tolerance: 1.0 }
    );
    // 0.0 and -0.0 are one number.
    let zeros = [(0, Val::F64(0.0)), (1, Val::F64(-0.0)), (2, Val::F64(1.0))];
    assert_eq!(run(AggKind::CountDistinct, None, Ty::I64, &zeros), exact(Val::I64(2)));
    let many: Vec<(i64, Val)> = (0..1000).map(|i| (0, Val::I64(i % 400))).collect();
    assert_eq!(
        run(AggKind::ApproxCountDistinct, None, Ty::I64, &many),
        Expected::ApproxCount { exact: 400, tolerance: 26.0 }
    );
}

#[test]
fn percentiles_take_the_floor_rank() {
    let xs: Vec<(i64, Val)> = [5.0, 1.0, 4.0, 2.0, 3.0].iter().map(|x| (0, Val::F64(*x))).collect();
    let q = |p: f64| run(AggKind::ApproxPercentile, Some(Param::Float(p)), Ty::F64, &xs);
    // n = 5: rank floor(p * 4).
    assert_eq!(q(0.5), Expected::ApproxQuantile { exact: vec![3.0], relative: 0.01 });
    assert_eq!(q(0.0), Expected::ApproxQuantile { exact: vec![1.0], relative: 0.01 });
    assert_eq!(q(1.0), Expected::ApproxQuantile { exact: vec![5.0], relative: 0.01 });
    assert_eq!(q(0.74), Expected::ApproxQuantile { exact: vec![3.0], relative: 0.01 });
    let p1 = run(AggKind::ApproxPercentile, Some(Param::Int(1)), Ty::F64, &xs);
    assert_eq!(p1, Expected::ApproxQuantile { exact: vec![5.0], relative: 0.01 });
    // Integers are numbers too.
    let ints = [(0, Val::I64(10)), (0, Val::I64(-10)), (0, Val::Null)];
    let median = run(AggKind::ApproxPercentile, Some(Param::Float(0.5)), Ty::F64, &ints);
    assert_eq!(median, Expected::ApproxQuantile { exact: vec![-10.0], relative: 0.01 });
    // 0.7 * 10 is 7.0 in f64 but 6.99999999999999955... for the binary 0.7: both ranks.
    assert_eq!(ranks(0.7, 11), vec![7, 6]);
    assert_eq!(ranks(0.5, 11), vec![5]);
    assert_eq!(ranks(0.9, 1), vec![0]);
    assert_eq!(ranks(1.0, 4), vec![3]);
}
