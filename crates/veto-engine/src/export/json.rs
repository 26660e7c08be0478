//! Field access on one JSON Lines record, with errors that name the field.

use serde_json::{Map, Value};

/// A bad field: its name and what is wrong with it.
pub(crate) type FieldError = (String, String);

pub(crate) fn parse_object(line: &str) -> Result<Map<String, Value>, FieldError> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err((
            String::new(),
            format!("expected a JSON object, found {}", type_name(&other)),
        )),
        Err(e) => Err((String::new(), format!("not valid JSON: {e}"))),
    }
}

pub(crate) fn check_known(map: &Map<String, Value>, known: &[&str]) -> Result<(), FieldError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err((k.clone(), format!("unknown field (known fields: {})", known.join(", ")))),
        None => Ok(()),
    }
}

/// A string field that may be missing or null.
pub(crate) fn opt_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err((
            field.to_string(),
            format!("expected a string, found {}", type_name(other)),
        )),
    }
}

/// A list of strings that may be missing or null (then empty).
pub(crate) fn opt_str_list(map: &Map<String, Value>, field: &str) -> Result<Vec<String>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err((
                    field.to_string(),
                    format!("expected a list of strings, found {} in it", type_name(other)),
                )),
            })
            .collect(),
        Some(other) => Err((
            field.to_string(),
            format!("expected a list of strings, found {}", type_name(other)),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
