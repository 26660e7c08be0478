//! Strict parsing of the documents veto signs or hashes (ledger entries,
//! receipts, proof bundles, manifests).
//!
//! A verifier may only vouch for what every reader reads the same way, so
//! this parser refuses:
//!
//! * duplicate keys at any depth: serde_json keeps the last copy, another
//!   reader the first, so a hash over one and a display of the other would
//!   disagree;
//! * integers outside ±(2^53 − 1), which JavaScript and every I-JSON reader
//!   (RFC 7493, required by RFC 8785) hold only approximately;
//! * (in [`from_str`]) any field the type does not know and any value that
//!   does not come back identical when the parsed document is serialised
//!   again: a missing `null`, a `1.0` for `1`. What is hashed or signed is
//!   re-derived from the typed value, so it must be the document itself.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The largest integer an IEEE 754 double holds exactly (2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictError {
    /// Not JSON, a duplicate key or an out-of-range number (the message
    /// names the line and column).
    #[error("{0}")]
    Json(String),
    /// JSON, but not this kind of document: an unknown or missing field, a
    /// wrong type.
    #[error("{0}")]
    Shape(String),
    /// The document is not the form veto writes: it says the same thing
    /// another way, so what was hashed or signed is not what it shows.
    #[error("not in canonical form: {0}")]
    NonCanonical(String),
}

/// Parses `text` as one JSON value, refusing duplicate keys at any depth
/// and integers beyond ±(2^53 − 1).
pub fn parse_value(text: &str) -> Result<Value, StrictError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue::deserialize(&mut de).map_err(|e| StrictError::Json(e.to_string()))?;
    de.end().map_err(|e| StrictError::Json(e.to_string()))?;
    Ok(value.0)
}

/// Parses `text` as a `T` (which should deny unknown fields) and checks
/// that serialising the result gives back exactly the parsed document.
/// Returns the value and the parsed document.
pub fn from_str<T: DeserializeOwned + Serialize>(text: &str) -> Result<(T, Value), StrictError> {
    let value = parse_value(text)?;
    let typed = from_value(&value)?;
    Ok((typed, value))
}

/// [`from_str`] for a document already parsed with [`parse_value`].
pub fn from_value<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, StrictError> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| StrictError::Shape(e.to_string()))?;
    let again = serde_json::to_value(&typed).map_err(|e| StrictError::Shape(e.to_string()))?;
    match first_difference(value, &again, String::new()) {
        None => Ok(typed),
        Some(at) => Err(StrictError::NonCanonical(at)),
    }
}

/// Where `found` (the document) first differs from `expected` (its
/// re-serialisation), in words.
fn first_difference(found: &Value, expected: &Value, at: String) -> Option<String> {
    let here = |what: &str| {
        Some(format!(
            "{what} at {}",
            if at.is_empty() { "the top level" } else { &at }
        ))
    };
    match (found, expected) {
        (Value::Object(f), Value::Object(e)) => {
            if let Some(k) = e.keys().find(|k| !f.contains_key(*k)) {
                return here(&format!("field {k:?} is missing"));
            }
            if let Some(k) = f.keys().find(|k| !e.contains_key(*k)) {
                return here(&format!("field {k:?} is not part of this document"));
            }
            f.iter()
                .find_map(|(k, v)| first_difference(v, &e[k], format!("{at}/{k}")))
        }
        (Value::Array(f), Value::Array(e)) if f.len() == e.len() => f
            .iter()
            .zip(e)
            .enumerate()
            .find_map(|(i, (f, e))| first_difference(f, e, format!("{at}/{i}"))),
        (f, e) if f == e => None,
        (f, e) => here(&format!("{f} reads as {e}")),
    }
}

/// A `serde_json::Value` built by a visitor that refuses what
/// `serde_json::Value`'s own visitor silently accepts.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> DeserializeSeed<'de> for StrictVisitor {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "the integer {v} is beyond ±(2^53 − 1), which not every JSON reader holds exactly"
            )));
        }
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "the integer {v} is beyond 2^53 − 1, which not every JSON reader holds exactly"
            )));
        }
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json only hands over finite numbers.
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictVisitor)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = access.next_value_seed(StrictVisitor)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        a: u64,
        b: Option<String>,
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let e = parse_value(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"a\""), "{e}");
        let e = parse_value(r#"{"x":[{"y":{"z":1,"z":1}}]}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"z\""), "{e}");
        // The same key in sibling objects is not a duplicate.
        assert!(parse_value(r#"{"x":{"k":1},"y":{"k":1}}"#).is_ok());
    }

    #[test]
    fn trailing_content_and_unsafe_integers_are_refused() {
        assert!(parse_value(r#"{"a":1} {"a":2}"#).is_err());
        assert!(parse_value("9007199254740991").is_ok());
        assert!(parse_value("9007199254740992").is_err());
        assert!(parse_value("-9007199254740992").is_err());
        assert_eq!(parse_value("1.5").unwrap(), serde_json::json!(1.5));
    }

    #[test]
    fn typed_documents_refuse_unknown_missing_and_restated_fields() {
        let (doc, _) = from_str::<Doc>(r#"{"a":1,"b":null}"#).unwrap();
        assert_eq!(doc, Doc { a: 1, b: None });
        assert!(matches!(
            from_str::<Doc>(r#"{"a":1,"b":null,"c":0}"#),
            Err(StrictError::Shape(_))
        ));
        // serde reads a missing Option as None; the document did not say so.
        let e = from_str::<Doc>(r#"{"a":1}"#).unwrap_err();
        assert_eq!(
            e,
            StrictError::NonCanonical("field \"b\" is missing at the top level".into())
        );
        assert!(from_str::<Doc>(r#"{"a":1.0,"b":null}"#).is_err());
    }
}
