//! An expectation and an actual value in, agreement or a readable reason out.

use std::fmt;

use crate::exact::ulps_between;
use crate::value::{Val, same};

/// What a feature should be, with the tolerance the docs state for it (see the crate docs).
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Exactly this value: equal kinds and values; floats by value with the sign of zero
    /// ignored (and NaN equal to NaN), lists element-wise.
    Exact(Val),
    /// A non-null float at most `ulps` representable steps from `value`, which is the exact
    /// real result rounded to nearest (ties to even). `ulps: 0` is bit-exact (sign of zero
    /// aside).
    Float { value: f64, ulps: u32 },
    /// A non-null float in `[lo, hi]`: a derived feature computed from inputs that carry a
    /// tolerance.
    Range { lo: f64, hi: f64 },
    /// An estimated distinct count: a non-null integer within `tolerance` of `exact`.
    ApproxCount { exact: i64, tolerance: f64 },
    /// An estimated quantile: a non-null float within `relative` of one of the exact values
    /// (each the value at an admissible rank); exactly 0 where that value is 0.
    ApproxQuantile { exact: Vec<f64>, relative: f64 },
    /// Any one of these.
    OneOf(Vec<Expected>),
    /// Left undefined by the docs (for example arithmetic on NaN); any value agrees.
    Unspecified(String),
}

/// Whether an actual value agrees with the expectation; `Err` with a readable reason if not.
pub fn agrees(expected: &Expected, actual: &Val) -> Result<(), String> {
    let fail = || Err(format!("expected {expected}, got {actual}"));
    match expected {
        Expected::Exact(v) => {
            if same(v, actual) {
                Ok(())
            } else {
                fail()
            }
        }
        Expected::Float { value, ulps } => {
            let Val::F64(x) = actual else { return fail() };
            let ok = if value.is_nan() || value.is_infinite() {
                same(&Val::F64(*value), actual)
            } else {
                ulps_between(*x, *value) <= u64::from(*ulps)
            };
            if ok {
                Ok(())
            } else {
                Err(format!("expected {expected}, got {actual} ({} ulps away)", ulps_between(*x, *value)))
            }
        }
        Expected::Range { lo, hi } => match actual {
            Val::F64(x) if lo <= x && x <= hi => Ok(()),
            _ => fail(),
        },
        Expected::ApproxCount { exact, tolerance } => match actual {
            Val::I64(x) if ((*x as f64) - (*exact as f64)).abs() <= *tolerance => Ok(()),
            _ => fail(),
        },
        Expected::ApproxQuantile { exact, relative } => match actual {
            Val::F64(x) if exact.iter().any(|v| within_relative(*x, *v, *relative)) => Ok(()),
            _ => fail(),
        },
        Expected::OneOf(options) => {
            if options.iter().any(|o| agrees(o, actual).is_ok()) {
                Ok(())
            } else {
                fail()
            }
        }
        Expected::Unspecified(_) => Ok(()),
    }
}

/// Whether `x` is within `relative * |v|` of `v` (a float comparison with a margin of 1e-9
/// of the bound for the rounding of the bound itself); exactly `v` when `v` is 0.
fn within_relative(x: f64, v: f64, relative: f64) -> bool {
    if v == 0.0 {
        return x == 0.0;
    }
    (x - v).abs() <= relative * v.abs() * (1.0 + 1e-9)
}

impl Expected {
    /// The exact value of a float result the docs define (for derived features).
    pub(crate) fn center(&self) -> Option<Val> {
        match self {
            Expected::Exact(v) => Some(v.clone()),
            Expected::Float { value, .. } => Some(Val::F64(*value)),
            Expected::ApproxCount { exact, .. } => Some(Val::I64(*exact)),
            Expected::ApproxQuantile { exact, .. } => exact.first().map(|v| Val::F64(*v)),
            Expected::Range { .. } | Expected::OneOf(_) | Expected::Unspecified(_) => None,
        }
    }

    /// The extremes of the values that agree, when the expectation is a tolerance around an
    /// exact value (for the corners derived features are evaluated at).
    pub(crate) fn bounds(&self) -> Option<(Val, Val)> {
        match self {
            Expected::Float { value, ulps } if *ulps > 0 && value.is_finite() => {
                let u = i64::from(*ulps);
                Some((Val::F64(crate::exact::step(*value, -u)), Val::F64(crate::exact::step(*value, u))))
            }
            Expected::ApproxCount { exact, tolerance } if *tolerance > 0.0 => {
                let t = tolerance.floor() as i64;
                Some((Val::I64(exact.saturating_sub(t).max(0)), Val::I64(exact.saturating_add(t))))
            }
            Expected::ApproxQuantile { exact, relative } if !exact.is_empty() => {
                let lo = exact.iter().map(|v| v - relative * v.abs()).fold(f64::INFINITY, f64::min);
                let hi = exact.iter().map(|v| v + relative * v.abs()).fold(f64::NEG_INFINITY, f64::max);
                Some((Val::F64(lo), Val::F64(hi)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Exact(v) => write!(f, "{v}"),
            Expected::Float { value, ulps: 0 } => write!(f, "{value:?} (correctly rounded)"),
            Expected::Float { value, ulps } => {
                write!(f, "{value:?} (within {ulps} ulp of the correctly rounded value)")
            }
            Expected::Range { lo, hi } => write!(f, "a float in [{lo:?}, {hi:?}]"),
            Expected::ApproxCount { exact, tolerance } => write!(f, "{exact} ± {tolerance} (estimate)"),
            Expected::ApproxQuantile { exact, relative } => {
                let values: Vec<String> = exact.iter().map(|v| format!("{v:?}")).collect();
                write!(f, "{} ± {}% (estimate)", values.join(" or "), relative * 100.0)
            }
            Expected::OneOf(options) => {
                let options: Vec<String> = options.iter().map(ToString::to_string).collect();
                write!(f, "one of {}", options.join(" | "))
            }
            Expected::Unspecified(why) => write!(f, "anything ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(e: &Expected, v: Val) {
        assert!(agrees(e, &v).is_ok(), "{e} should accept {v}: {:?}", agrees(e, &v));
    }

    fn no(e: &Expected, v: Val) {
        assert!(agrees(e, &v).is_err(), "{e} should reject {v}");
    }

    #[test]
    fn exact_values_match_kind_and_value() {
        let e = Expected::Exact(Val::I64(3));
        ok(&e, Val::I64(3));
        no(&e, Val::I64(4));
        no(&e, Val::F64(3.0));
        no(&e, Val::Null);
        let e = Expected::Exact(Val::Null);
        ok(&e, Val::Null);
        no(&e, Val::I64(0));
        // Floats by value: the sign of zero is not checked, NaN matches NaN.
        let zero = Expected::Exact(Val::F64(0.0));
        ok(&zero, Val::F64(-0.0));
        no(&zero, Val::F64(f64::from_bits(1)));
        ok(&Expected::Exact(Val::F64(f64::NAN)), Val::F64(f64::NAN));
        no(&Expected::Exact(Val::F64(f64::NAN)), Val::F64(1.0));
        // Lists element-wise, in order.
        let l = Expected::Exact(Val::List(vec![Val::from("a"), Val::from("b")]));
        ok(&l, Val::List(vec![Val::from("a"), Val::from("b")]));
        no(&l, Val::List(vec![Val::from("b"), Val::from("a")]));
        no(&l, Val::List(vec![Val::from("a")]));
        ok(&Expected::Exact(Val::Ts(5)), Val::Ts(5));
        no(&Expected::Exact(Val::Ts(5)), Val::I64(5));
    }

    #[test]
    fn floats_within_their_ulps() {
        let x = 0.1f64;
        let exact = Expected::Float { value: x, ulps: 0 };
        ok(&exact, Val::F64(x));
        no(&exact, Val::F64(x.next_up()));
        no(&exact, Val::F64(x.next_down()));
        no(&exact, Val::Null);
        no(&exact, Val::I64(0));
        let one = Expected::Float { value: x, ulps: 1 };
        ok(&one, Val::F64(x.next_up()));
        ok(&one, Val::F64(x.next_down()));
        no(&one, Val::F64(x.next_up().next_up()));
        let four = Expected::Float { value: x, ulps: 4 };
        ok(&four, Val::F64(crate::exact::step(x, 4)));
        ok(&four, Val::F64(crate::exact::step(x, -4)));
        no(&four, Val::F64(crate::exact::step(x, 5)));
        no(&four, Val::F64(crate::exact::step(x, -5)));
        // Across a binade boundary and through zero, steps are counted one by one.
        let two = Expected::Float { value: 2.0, ulps: 1 };
        ok(&two, Val::F64(2.0f64.next_down()));
        no(&two, Val::F64(2.0f64.next_down().next_down()));
        let tiny = Expected::Float { value: f64::from_bits(1), ulps: 1 };
        ok(&tiny, Val::F64(0.0));
        ok(&tiny, Val::F64(-0.0));
        no(&tiny, Val::F64(-f64::from_bits(1)));
        // Infinities and NaN only match themselves.
        let inf = Expected::Float { value: f64::INFINITY, ulps: 4 };
        ok(&inf, Val::F64(f64::INFINITY));
        no(&inf, Val::F64(f64::MAX));
        ok(&Expected::Float { value: f64::NAN, ulps: 0 }, Val::F64(f64::NAN));
        no(&Expected::Float { value: 1.0, ulps: 4 }, Val::F64(f64::NAN));
    }

    #[test]
    fn approximate_counts_within_their_tolerance() {
        let e = Expected::ApproxCount { exact: 1000, tolerance: 65.0 };
        ok(&e, Val::I64(1065));
        ok(&e, Val::I64(935));
        no(&e, Val::I64(1066));
        no(&e, Val::I64(934));
        no(&e, Val::F64(1000.0));
        let zero = Expected::ApproxCount { exact: 0, tolerance: 0.0 };
        ok(&zero, Val::I64(0));
        no(&zero, Val::I64(1));
        let small = Expected::ApproxCount { exact: 3, tolerance: 1.0 };
        ok(&small, Val::I64(2));
        ok(&small, Val::I64(4));
        no(&small, Val::I64(5));
    }

    #[test]
    fn approximate_quantiles_within_one_percent() {
        let e = Expected::ApproxQuantile { exact: vec![200.0], relative: 0.01 };
        ok(&e, Val::F64(202.0));
        ok(&e, Val::F64(198.0));
        no(&e, Val::F64(202.01));
        no(&e, Val::F64(197.99));
        no(&e, Val::Null);
        let negative = Expected::ApproxQuantile { exact: vec![-50.0], relative: 0.01 };
        ok(&negative, Val::F64(-50.5));
        no(&negative, Val::F64(-50.6));
        no(&negative, Val::F64(50.0));
        let zero = Expected::ApproxQuantile { exact: vec![0.0], relative: 0.01 };
        ok(&zero, Val::F64(0.0));
        no(&zero, Val::F64(1e-300));
        // Either admissible rank.
        let two = Expected::ApproxQuantile { exact: vec![10.0, 20.0], relative: 0.01 };
        ok(&two, Val::F64(10.05));
        ok(&two, Val::F64(19.9));
        no(&two, Val::F64(15.0));
    }

    #[test]
    fn ranges_alternatives_and_unspecified() {
        let r = Expected::Range { lo: 1.0, hi: 2.0 };
        ok(&r, Val::F64(1.0));
        ok(&r, Val::F64(2.0));
        no(&r, Val::F64(2.0f64.next_up()));
        no(&r, Val::F64(1.0f64.next_down()));
        no(&r, Val::Null);
        let either = Expected::OneOf(vec![Expected::Exact(Val::Bool(true)), Expected::Exact(Val::Null)]);
        ok(&either, Val::Bool(true));
        ok(&either, Val::Null);
        no(&either, Val::Bool(false));
        ok(&Expected::Unspecified("NaN arithmetic".to_owned()), Val::from("anything"));
    }

    #[test]
    fn expectations_print_readably() {
        assert_eq!(Expected::Exact(Val::from("a")).to_string(), "\"a\"");
        assert_eq!(Expected::Float { value: 0.5, ulps: 0 }.to_string(), "0.5 (correctly rounded)");
        assert_eq!(
            Expected::Float { value: 0.5, ulps: 4 }.to_string(),
            "0.5 (within 4 ulp of the correctly rounded value)"
        );
        assert_eq!(Expected::ApproxCount { exact: 10, tolerance: 1.0 }.to_string(), "10 ± 1 (estimate)");
        assert_eq!(Expected::ApproxQuantile { exact: vec![2.0], relative: 0.01 }.to_string(), "2.0 ± 1% (estimate)");
        assert_eq!(Expected::Exact(Val::List(vec![Val::I64(1), Val::Null])).to_string(), "[1, null]");
        assert_eq!(Expected::Exact(Val::Ts(0)).to_string(), "1970-01-01T00:00:00.000Z");
        let err = agrees(&Expected::Float { value: 1.0, ulps: 1 }, &Val::F64(1.0000000000000007)).unwrap_err();
        assert!(err.contains("3 ulps away"), "{err}");
    }
}
