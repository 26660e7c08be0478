//! Canonical JSON: the exact bytes that ledger hashes and signatures cover.
//!
//! Objects have their keys sorted by UTF-8 bytes, there is no whitespace,
//! strings use serde_json's escaping (the same as Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! for the ASCII payloads veto writes), and numbers are integers. Written by
//! hand so the order cannot change with a serde_json feature flag.

use serde_json::Value;

/// The canonical serialisation of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth_and_there_is_no_whitespace() {
        let v: Value =
            serde_json::from_str(r#"{ "b": 1, "a": { "z": [1, {"y": "x", "c": null}], "m": true } }"#).unwrap();
        assert_eq!(to_string(&v), r#"{"a":{"m":true,"z":[1,{"c":null,"y":"x"}]},"b":1}"#);
    }
}
