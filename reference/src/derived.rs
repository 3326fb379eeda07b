//! A group's expected aggregate values in, the expected derived features out.
//!
//! A derived feature is its expression over the features it reads (docs section 6), computed
//! here from the expected aggregate values: the exact ones as they are, the correctly rounded
//! ones at their correctly rounded value. When it reads (directly or through other derived
//! features) an aggregate with a tolerance (`avg`, `variance`, `stddev`, the two sketches), it
//! is also evaluated with each of those inputs at either end of its tolerance (every corner of
//! the box, at most 2^10), and every result seen is admitted: floats as a range widened by
//! [`DERIVED_RELATIVE`] of its magnitude, other values as they are.

use std::collections::BTreeSet;

use featc::ir::{IrGroup, Ty};

use crate::expected::Expected;
use crate::expr::{coerce, eval};
use crate::value::{Val, same};

/// The relative margin added to the range of a float derived from inputs with a tolerance.
pub const DERIVED_RELATIVE: f64 = 1e-12;

/// The most inputs with a tolerance one derived feature is evaluated at the corners of.
const MAX_CORNER_INPUTS: usize = 10;

/// Fills the derived features of `out` (a feature vector in `IrGroup::outputs` order, the
/// aggregates already filled) in the IR's evaluation order.
pub(crate) fn derive(group: &IrGroup, out: &mut [Option<Expected>]) -> Result<(), String> {
    let position = |name: &str| {
        group.outputs.iter().position(|o| o == name).ok_or_else(|| format!("feature `{name}` is not an output"))
    };
    let mut types = vec![Ty::Null; group.outputs.len()];
    for a in &group.aggregates {
        types[position(&a.name)?] = a.ty.ty.clone();
    }
    let mut derived = Vec::with_capacity(group.derived.len());
    for d in &group.derived {
        let p = position(&d.name)?;
        types[p] = d.ty.ty.clone();
        derived.push(p);
    }
    // The aggregate features each output reads: itself for an aggregate.
    let mut reads: Vec<BTreeSet<usize>> = (0..out.len()).map(|p| BTreeSet::from([p])).collect();
    let mut center: Vec<Val> = out.iter().map(|e| e.as_ref().and_then(Expected::center).unwrap_or(Val::Null)).collect();
    for (d, &p) in group.derived.iter().zip(&derived) {
        let mut inputs = BTreeSet::new();
        for c in d.expr.tree.columns() {
            inputs.extend(reads.get(c).ok_or_else(|| format!("`{}` reads output {c}", d.name))?.iter().copied());
        }
        reads[p] = inputs;
        let expected = expect(group, &derived, &types, &reads[p], out, &center, p)?;
        center[p] = expected.center().unwrap_or(Val::Null);
        out[p] = Some(expected);
    }
    Ok(())
}

/// The expectation of the derived feature at `p`, which reads the aggregates `inputs`.
fn expect(
    group: &IrGroup,
    derived: &[usize],
    types: &[Ty],
    inputs: &BTreeSet<usize>,
    out: &[Option<Expected>],
    center: &[Val],
    p: usize,
) -> Result<Expected, String> {
    let mut corners: Vec<(usize, Val, Val)> = Vec::new();
    for &i in inputs {
        match out.get(i).and_then(Option::as_ref) {
            Some(Expected::Unspecified(why)) => {
                return Ok(Expected::Unspecified(format!("it reads a feature that is {why}")));
            }
            Some(e) => {
                if let Some((lo, hi)) = e.bounds() {
                    corners.push((i, lo, hi));
                }
            }
            None => return Err(format!("derived feature {p} reads output {i} before it is known")),
        }
    }
    if corners.len() > MAX_CORNER_INPUTS {
        return Ok(Expected::Unspecified(format!("it reads {} features with a tolerance", corners.len())));
    }
    let at_center = evaluate(group, derived, types, center.to_vec(), p)?;
    let mut seen = vec![at_center.clone()];
    for mask in 0..(1u32 << corners.len()) {
        let mut row = center.to_vec();
        for (bit, (i, lo, hi)) in corners.iter().enumerate() {
            row[*i] = if mask & (1 << bit) == 0 { lo.clone() } else { hi.clone() };
        }
        seen.push(evaluate(group, derived, types, row, p)?);
    }
    if seen.iter().all(|v| same(v, &at_center)) {
        return Ok(Expected::Exact(at_center));
    }
    Ok(admit(seen))
}

/// Every value in `seen`: finite floats as one widened range, the rest as they are.
fn admit(seen: Vec<Val>) -> Expected {
    let floats: Vec<f64> = seen
        .iter()
        .filter_map(|v| match v {
            Val::F64(x) if x.is_finite() => Some(*x),
            _ => None,
        })
        .collect();
    let mut options: Vec<Expected> = Vec::new();
    if !floats.is_empty() {
        let lo = floats.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = floats.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let margin = DERIVED_RELATIVE * lo.abs().max(hi.abs());
        options.push(Expected::Range { lo: lo - margin, hi: hi + margin });
    }
    for v in seen {
        let is_float = matches!(v, Val::F64(x) if x.is_finite());
        if !is_float && !options.iter().any(|o| matches!(o, Expected::Exact(w) if same(w, &v))) {
            options.push(Expected::Exact(v));
        }
    }
    if options.len() == 1 { options.remove(0) } else { Expected::OneOf(options) }
}

/// The derived features in order over `row` (a feature vector), up to the one at `p`; its value.
fn evaluate(group: &IrGroup, derived: &[usize], types: &[Ty], mut row: Vec<Val>, p: usize) -> Result<Val, String> {
    for (d, &q) in group.derived.iter().zip(derived) {
        let (v, _) = eval(&d.expr.tree, &row, types)?;
        row[q] = coerce(v, &d.ty.ty);
        if q == p {
            break;
        }
    }
    Ok(row[p].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ir;
    use crate::{Event, Oracle, agrees};

    const SPEC: &str = r#"
source s {
    event_time ts
    files "s.parquet"
    schema { k: string, x: f64, c: string, ts: timestamp }
}
entity e { key k: string }
features g(e) from s {
    doubled  = mean * 2.0
    n        = count()                   over lifetime
    mean     = avg(x)                    over lifetime
    spread   = variance(x)               over lifetime
    kinds    = approx_count_distinct(c)  over lifetime
    per_kind = n / kinds
    many     = kinds > 2
    shifted  = doubled - 3.0
    exact    = n * 2
    wide     = spread + 1.0
}
"#;

    /// Each feature's expectation for one key over events `(x, c)` at time 0.
    fn features(events: &[(f64, &str)]) -> impl Fn(&str) -> Expected {
        let ir = ir(SPEC);
        let rows: Vec<Event> = events
            .iter()
            .map(|(x, c)| Event { row: vec![Val::from("k"), Val::Ts(0), Val::F64(*x), Val::from(*c)] })
            .collect();
        assert_eq!(ir.groups[0].columns, ["k", "ts", "x", "c"]);
        let v = Oracle::new(&ir, 0, &rows).unwrap().key_at(&[Val::from("k")], 0).unwrap().unwrap();
        let outputs = ir.groups[0].outputs.clone();
        move |name: &str| v[outputs.iter().position(|o| o == name).unwrap()].clone()
    }

    #[test]
    fn exact_inputs_give_exact_derived_features() {
        let f = features(&[(1.0, "a"), (2.0, "a")]);
        assert_eq!(f("exact"), Expected::Exact(Val::I64(4)));
        assert_eq!(f("n"), Expected::Exact(Val::I64(2)));
    }

    #[test]
    fn tolerances_carry_to_derived_features_in_dependency_order() {
        // The mean 1/3 is within 1 ulp: `doubled` is read before it is declared, `shifted`
        // reads `doubled`.
        let f = features(&[(0.0, "a"), (0.0, "a"), (1.0, "a")]);
        let third = 1.0 / 3.0;
        assert_eq!(f("mean"), Expected::Float { value: third, ulps: 1 });
        for mean in [third, third.next_up(), third.next_down()] {
            assert!(agrees(&f("doubled"), &Val::F64(mean * 2.0)).is_ok());
            assert!(agrees(&f("shifted"), &Val::F64(mean * 2.0 - 3.0)).is_ok());
        }
        assert!(agrees(&f("doubled"), &Val::F64(third * 2.0 + 1e-9)).is_err());
        assert!(agrees(&f("shifted"), &Val::Null).is_err());
    }

    #[test]
    fn estimates_make_derived_features_ranges_or_alternatives() {
        // Three distinct values, estimated within 1: `many` may be either answer.
        let f = features(&[(1.0, "a"), (2.0, "b"), (3.0, "c")]);
        assert_eq!(f("kinds"), Expected::ApproxCount { exact: 3, tolerance: 1.0 });
        let many = f("many");
        assert!(agrees(&many, &Val::Bool(true)).is_ok() && agrees(&many, &Val::Bool(false)).is_ok());
        // n / kinds for kinds in 2..=4: 0.75 to 1.5.
        let per_kind = f("per_kind");
        for ok in [0.75, 1.0, 1.5] {
            assert!(agrees(&per_kind, &Val::F64(ok)).is_ok(), "{per_kind}");
        }
        assert!(agrees(&per_kind, &Val::F64(3.0)).is_err());
        // Far from the threshold, the answer is certain.
        let f = features(&[(1.0, "a")]);
        assert_eq!(f("many"), Expected::Exact(Val::Bool(false)));
    }

    #[test]
    fn unspecified_inputs_leave_derived_features_unspecified() {
        let f = features(&[(f64::INFINITY, "a"), (1.0, "a")]);
        assert!(matches!(f("spread"), Expected::Unspecified(_)));
        assert!(matches!(f("wide"), Expected::Unspecified(_)));
        assert_eq!(f("mean"), Expected::Float { value: f64::INFINITY, ulps: 1 });
        // Over one value, the variance is null and so is `wide`.
        let f = features(&[(1.0, "a")]);
        assert_eq!(f("wide"), Expected::Exact(Val::Null));
    }

    #[test]
    fn admitted_values_are_a_widened_float_range_and_the_others() {
        assert_eq!(admit(vec![Val::F64(1.0), Val::F64(2.0)]), Expected::Range { lo: 1.0 - 2e-12, hi: 2.0 + 2e-12 });
        let mixed = admit(vec![Val::F64(-1.0), Val::Null, Val::F64(1.0), Val::Null]);
        assert_eq!(
            mixed,
            Expected::OneOf(vec![Expected::Range { lo: -1.0 - 1e-12, hi: 1.0 + 1e-12 }, Expected::Exact(Val::Null)])
        );
        assert_eq!(admit(vec![Val::Bool(true), Val::Bool(false)]).to_string(), "one of true | false");
    }
}
