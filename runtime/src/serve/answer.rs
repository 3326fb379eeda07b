//! A lookup's result in, its JSON out: the typed answer a lookup builds (no JSON tree),
//! borrowing the names and metadata the serving state holds, serialized once straight to bytes
//! by whoever sends it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::ser::{SerializeMap as _, SerializeSeq as _, Serializer};

use crate::io::time::rfc3339;
use crate::value::Value;

/// One lookup's answer: which group and version answered, for which key, what the pipeline
/// had read, and the vector as of a time. Its JSON is the `Answer` schema of `docs/openapi.json`.
/// Borrowed from the serving state while a lookup holds it ([`crate::serve::Service::lookup_with`]);
/// [`Answer::into_owned`] keeps it beyond.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer<'a> {
    pub group: Cow<'a, str>,
    pub version: Cow<'a, str>,
    pub target: &'static str,
    pub key: Cow<'a, BTreeMap<String, serde_json::Value>>,
    /// Offsets applied per source stream (or partition).
    #[serde(serialize_with = "offsets")]
    pub offsets: Cow<'a, [(String, u64)]>,
    /// The batch view's cutoff (Lambda), epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "time")]
    pub batch_cutoff: Option<i64>,
    /// Whether the key was seen; without it, no `as_of` nor `features`.
    pub found: bool,
    /// The time the vector is as of, epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "time")]
    pub as_of: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Features<'a>>,
}

/// A feature vector with its names, serialized as one JSON object in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Features<'a> {
    pub names: Cow<'a, [String]>,
    pub values: Vec<Value>,
}

impl Answer<'_> {
    /// The answer with everything it borrows copied.
    pub fn into_owned(self) -> Answer<'static> {
        Answer {
            group: Cow::Owned(self.group.into_owned()),
            version: Cow::Owned(self.version.into_owned()),
            target: self.target,
            key: Cow::Owned(self.key.into_owned()),
            offsets: Cow::Owned(self.offsets.into_owned()),
            batch_cutoff: self.batch_cutoff,
            found: self.found,
            as_of: self.as_of,
            features: self.features.map(|f| Features { names: Cow::Owned(f.names.into_owned()), values: f.values }),
        }
    }

    /// The answer as a JSON tree (tests and tools; the server writes bytes directly).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The answer's JSON text.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl serde::Serialize for Features<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, value) in self.names.iter().zip(&self.values) {
            map.serialize_entry(name, &Json(value))?;
        }
        map.end()
    }
}

/// A runtime value as JSON, as [`crate::runners::kappa::json_value`] gives it, written
/// without building the tree: a timestamp as RFC 3339 text, a non-finite float as null.
struct Json<'a>(&'a Value);

impl serde::Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(x) => s.serialize_i64(*x),
            Value::F64(x) if x.is_finite() => s.serialize_f64(*x),
            Value::F64(_) => s.serialize_unit(),
            Value::Str(text) => s.serialize_str(text),
            Value::Ts(ms) => s.serialize_str(&rfc3339(*ms)),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json(item))?;
                }
                seq.end()
            }
        }
    }
}

fn offsets<S: Serializer>(offsets: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(offsets.len()))?;
    for (stream, offset) in offsets.iter() {
        map.serialize_entry(stream, offset)?;
    }
    map.end()
}

#[allow(clippy::ref_option)] // serde's `serialize_with` passes the field by reference
fn time<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn values_serialize_as_the_json_tree_gives_them() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::I64(-3),
            Value::F64(1.5),
            Value::F64(f64::NAN),
            Value::Str(Arc::from("a\"b")),
            Value::Ts(1_700_000_000_123),
            Value::List(Box::new([Value::I64(1), Value::Str(Arc::from("x"))])),
        ];
        for v in &values {
            let written: serde_json::Value = serde_json::to_value(Json(v)).unwrap();
            assert_eq!(written, crate::runners::kappa::json_value(v), "{v:?}");
        }
    }

    #[test]
    fn an_answer_without_the_key_has_no_vector_and_no_time() {
        let answer = Answer {
            group: Cow::Borrowed("g"),
            version: Cow::Borrowed("v1"),
            target: "kappa",
            key: Cow::Owned([("id".to_owned(), serde_json::json!("k"))].into_iter().collect()),
            offsets: Cow::Owned(vec![("events".to_owned(), 7)]),
            batch_cutoff: None,
            found: false,
            as_of: None,
            features: None,
        };
        assert_eq!(
            String::from_utf8(answer.to_vec()).unwrap(),
            r#"{"group":"g","version":"v1","target":"kappa","key":{"id":"k"},"offsets":{"events":7},"found":false}"#
        );
    }
}
