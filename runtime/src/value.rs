//! Runtime values: what events hold and features give, with one total order for ties.

use std::cmp::Ordering;
use std::sync::Arc;

/// A scalar or list value. Timestamps are milliseconds since the epoch. 24 bytes: a list is a
/// boxed slice (16 bytes, where a vector takes 24), since every value counted by a distinct
/// count, kept by `last_n` or held in a pane pays for the largest variant.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(Arc<str>),
    Ts(i64),
    List(Box<[Value]>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a number, for numeric aggregates.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::I64(v) | Value::Ts(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::I64(_) | Value::F64(_) => 2,
            Value::Str(_) => 3,
            Value::Ts(_) => 4,
            Value::List(_) => 5,
        }
    }
}

/// The order of `docs/language.md` (section 7): numbers numerically (`-0.0` before `0.0`, NaN
/// never reaches an aggregate), strings by their UTF-8 bytes, `false` before `true`, timestamps
/// by time, lists element-wise. Values of different kinds order by kind.
impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::I64(a), Value::I64(b)) | (Value::Ts(a), Value::Ts(b)) => a.cmp(b),
            (Value::F64(a), Value::F64(b)) => a.total_cmp(b),
            (Value::I64(a), Value::F64(b)) => (*a as f64).total_cmp(b).then(Ordering::Less),
            (Value::F64(a), Value::I64(b)) => a.total_cmp(&(*b as f64)).then(Ordering::Greater),
            (Value::Str(a), Value::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::List(a), Value::List(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => b.hash(state),
            Value::I64(v) | Value::Ts(v) => v.hash(state),
            Value::F64(v) => v.to_bits().hash(state),
            Value::Str(s) => s.hash(state),
            Value::List(items) => items.hash(state),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Ts(v) => write!(f, "ts:{v}"),
            Value::List(items) => {
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

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::from(s))
    }
}

/// `items` sorted by their keys' values (`key` of each), as `sort_by` on the keys gives, for
/// many keys: each key is compared by an 8-byte prefix of its first value kept beside it
/// (order-preserving: a string's first bytes, an integer with its sign bit flipped) and only
/// on a tie by its values, so most comparisons read no string behind its pointer.
pub(crate) fn sorted_by_key_values<T>(items: Vec<T>, key: impl Fn(&T) -> &[Value]) -> Vec<T> {
    let prefix = |v: Option<&Value>| match v {
        Some(Value::Str(s)) => {
            let mut bytes = [0u8; 8];
            let n = s.len().min(8);
            bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
            u64::from_be_bytes(bytes)
        }
        Some(Value::I64(x) | Value::Ts(x)) => u64::from_ne_bytes(x.to_ne_bytes()) ^ (1 << 63),
        _ => 0,
    };
    // A prefix orders two keys only when their first values are of one kind: otherwise every
    // key gets the same one and the values decide.
    let kind = |t: &T| key(t).first().map(std::mem::discriminant);
    let one_kind = items.first().is_none_or(|first| items.iter().all(|t| kind(t) == kind(first)));
    let mut order: Vec<(u64, usize)> =
        items.iter().enumerate().map(|(i, t)| (if one_kind { prefix(key(t).first()) } else { 0 }, i)).collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| key(&items[a.1]).cmp(key(&items[b.1]))));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|(_, i)| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_by_their_prefixes_are_in_value_order() {
        let s = |x: &str| vec![Value::Str(Arc::from(x))];
        let texts = ["b", "", "abcdefgh", "abcdefgha", "abcdefg", "abcdefgh\0", "é", "a\0", "a", "zz", "abcdefgi", "b"];
        let mut keys: Vec<Vec<Value>> = texts.iter().map(|t| s(t)).collect();
        keys.push(vec![Value::Str(Arc::from("abcdefgh")), Value::I64(-1)]);
        keys.push(vec![Value::Str(Arc::from("abcdefgh")), Value::I64(-3)]);
        let mut expected = keys.clone();
        expected.sort();
        assert_eq!(sorted_by_key_values(keys, |k| k.as_slice()), expected);
        let ints: Vec<Vec<Value>> =
            [5, -1, i64::MIN, 0, i64::MAX, -7, 3].iter().map(|&x| vec![Value::I64(x)]).collect();
        let mut expected = ints.clone();
        expected.sort();
        assert_eq!(sorted_by_key_values(ints, |k| k.as_slice()), expected);
        // Keys of mixed kinds are ordered by their values alone.
        let mixed = vec![s("a"), vec![Value::I64(3)], vec![Value::Bool(true)], s(""), vec![Value::I64(-3)]];
        let mut expected = mixed.clone();
        expected.sort();
        assert_eq!(sorted_by_key_values(mixed, |k| k.as_slice()), expected);
    }
}
