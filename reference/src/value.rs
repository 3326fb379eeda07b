//! Values in, the language's order, equality and printed form out: the oracle's own value type.

use std::cmp::Ordering;
use std::fmt;

/// A value, independent of the runtime's. Timestamps are milliseconds since the Unix epoch.
///
/// `Ord` is a structural total order (by kind, then within the kind; floats by
/// [`f64::total_cmp`]) so that values can key maps. The language's own order, where
/// `-0.0 == 0.0` and numbers of both kinds compare numerically, is used for every aggregate.
#[derive(Debug, Clone)]
pub enum Val {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(String),
    Ts(i64),
    List(Vec<Val>),
}

impl Val {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    fn kind(&self) -> u8 {
        match self {
            Val::Null => 0,
            Val::Bool(_) => 1,
            Val::I64(_) => 2,
            Val::F64(_) => 3,
            Val::Str(_) => 4,
            Val::Ts(_) => 5,
            Val::List(_) => 6,
        }
    }

    /// The value as a float, for numbers.
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Val::I64(v) => Some(*v as f64),
            Val::F64(v) => Some(*v),
            _ => None,
        }
    }
}

impl Ord for Val {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            (Val::I64(a), Val::I64(b)) | (Val::Ts(a), Val::Ts(b)) => a.cmp(b),
            (Val::F64(a), Val::F64(b)) => a.total_cmp(b),
            (Val::Str(a), Val::Str(b)) => a.cmp(b),
            (Val::List(a), Val::List(b)) => a.cmp(b),
            (a, b) => a.kind().cmp(&b.kind()),
        }
    }
}

impl PartialOrd for Val {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Val {}

/// The order of `docs/language.md` section 7 ("Values order as numbers numerically, strings by
/// their UTF-8 bytes, `false` before `true`, timestamps in time"): `-0.0` equals `0.0`, an
/// integer and a float compare as numbers. NaN (which the docs keep out of events) sorts after
/// every number so that the order stays total. Lists compare element-wise.
pub(crate) fn lang_cmp(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::I64(x), Val::I64(y)) => x.cmp(y),
        (Val::I64(_) | Val::F64(_), Val::I64(_) | Val::F64(_)) => {
            let (x, y) = (a.number().unwrap_or(f64::NAN), b.number().unwrap_or(f64::NAN));
            match x.partial_cmp(&y) {
                Some(o) => o,
                None => x.is_nan().cmp(&y.is_nan()),
            }
        }
        (Val::List(x), Val::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = lang_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => a.cmp(b),
    }
}

/// Equality in the language's order.
pub(crate) fn lang_eq(a: &Val, b: &Val) -> bool {
    lang_cmp(a, b) == Ordering::Equal
}

/// Whether two values are the same result: equal kinds and equal values, floats by value (the
/// sign of zero aside, NaN equal to NaN), lists element-wise.
pub(crate) fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::F64(x), Val::F64(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Val::List(x), Val::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        _ => a.kind() == b.kind() && a == b,
    }
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds:
/// `2024-05-01T10:00:00.000Z`. Years outside 0..=9999 are written with as many digits as they
/// need (RFC 3339 cannot express them).
pub(crate) fn rfc3339(ms: i64) -> String {
    let ms = i128::from(ms);
    let day_ms = 86_400_000_i128;
    let (days, in_day) = (ms.div_euclid(day_ms), ms.rem_euclid(day_ms));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// Days since 1970-01-01 to the proleptic Gregorian (year, month, day), by 400-year cycles
/// counted from 0000-03-01 (so that the leap day ends each year of the cycle).
fn civil(days: i128) -> (i128, i128, i128) {
    // 0000-03-01 is 719_468 days before the epoch; a cycle has 146_097 days.
    let since = days + 719_468;
    let cycle = since.div_euclid(146_097);
    let mut rest = since.rem_euclid(146_097);
    let mut year = cycle * 400;
    // Centuries of 36_524 days, the last of the cycle one day longer.
    let century = (rest / 36_524).min(3);
    rest -= century * 36_524;
    year += century * 100;
    // Four-year blocks of 1_461 days (the last of a century may be one day shorter; it is the
    // last block, so the division stays within range).
    let block = rest / 1_461;
    rest -= block * 1_461;
    year += block * 4;
    let in_block = (rest / 365).min(3);
    rest -= in_block * 365;
    year += in_block;
    // `rest` is the day of the year counted from March 1st.
    let lengths = [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29];
    let mut month = 0;
    while month < 11 && rest >= lengths[month] {
        rest -= lengths[month];
        month += 1;
    }
    // Months from March: March is index 0, January and February belong to the next year.
    let (calendar_month, calendar_year) =
        if month < 10 { (month as i128 + 3, year) } else { (month as i128 - 9, year + 1) };
    (calendar_year, calendar_month, rest + 1)
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => f.write_str("null"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::I64(v) => write!(f, "{v}"),
            Val::F64(v) => write!(f, "{v:?}"),
            Val::Str(s) => write!(f, "{s:?}"),
            Val::Ts(v) => write!(f, "{}", rfc3339(*v)),
            Val::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Str(s.to_owned())
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::I64(v)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::F64(v)
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
