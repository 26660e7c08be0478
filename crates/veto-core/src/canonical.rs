//! Canonical JSON: the exact bytes that ledger hashes and signatures cover,
//! and ([`strict`]) the parser that refuses every document whose meaning a
//! reader could take two ways.
//!
//! Two forms exist, because documents signed in the first must keep
//! verifying:
//!
//! * [`jcs`]: RFC 8785, the JSON Canonicalization Scheme. Everything veto
//!   signs or hashes from ledger format 2 and receipt format 2 on, so that
//!   any JCS library in any language re-derives the same bytes.
//! * [`to_string`]: the legacy form of ledger format 1 and receipt format 1:
//!   keys sorted by UTF-8 bytes (JCS sorts by UTF-16 code units), numbers as
//!   serde_json writes them (JCS writes ECMAScript doubles). For the ASCII
//!   keys and integer payloads veto wrote, the two forms give the same bytes.

pub mod strict;

use serde_json::Value;

/// The RFC 8785 (JCS) serialisation of `value`.
///
/// serde_json_canonicalizer does the work: it sorts keys by UTF-16 code
/// units and writes numbers the ECMAScript way (ryu-js), and passes the
/// RFC's own test data, where serde_jcs, the other crate, is unmaintained
/// with known deviations from the RFC. Integers beyond 2^53 are written
/// exactly rather than as doubles; [`strict`] refuses them in documents, so
/// a document that verifies is always valid JCS input.
pub fn jcs(value: &Value) -> String {
    // A `Value` always serialises: its numbers are finite and its keys are
    // strings, the only two cases in which the serializer fails.
    serde_json_canonicalizer::to_string(value).expect("a JSON value has a JCS form")
}

/// The legacy canonical serialisation (ledger and receipt format 1).
///
/// Objects have their keys sorted by UTF-8 bytes, there is no whitespace,
/// strings use serde_json's escaping (the same as Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
/// for the ASCII payloads veto writes), and numbers are integers. Written by
/// hand so the order cannot change with a serde_json feature flag.
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
        assert_eq!(jcs(&v), r#"{"a":{"m":true,"z":[1,{"c":null,"y":"x"}]},"b":1}"#);
    }

    // RFC 8785 section 3.2.2, input and output copied from the RFC's text.
    #[test]
    fn jcs_reproduces_the_rfc_8785_example() {
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(jcs(&value), expected);
    }

    // RFC 8785 section 3.2.3: keys sort by UTF-16 code units, so the emoji
    // (a surrogate pair, 0xD83D...) sorts before U+FB33, which UTF-8 order
    // (the legacy form) puts the other way round.
    #[test]
    fn jcs_sorts_keys_by_utf16_code_units_as_the_rfc_8785_sorting_example() {
        let input = r#"{
          "\u20ac": "Euro Sign",
          "\r": "Carriage Return",
          "\ufb33": "Hebrew Letter Dalet With Dagesh",
          "1": "One",
          "\ud83d\ude00": "Emoji: Grinning Face",
          "\u0080": "Control",
          "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
            \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
            \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(jcs(&value), expected);
        assert_ne!(to_string(&value), expected, "the legacy form sorts by UTF-8");
    }
}
