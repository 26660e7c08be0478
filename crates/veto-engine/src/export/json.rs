//! JSON Lines records: reading the lines of a file, and field access on one
//! record, with errors that name the line and the field.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A bad field: its name (empty: the whole record) and what is wrong with it.
pub(crate) type FieldError = (String, String);

/// The lines of a JSON Lines file, read into one reused buffer (no
/// allocation per line). A line that is not UTF-8 is an error of that line,
/// not of the whole file, so it can be named and, in quarantine mode, skipped.
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    number: u64,
}

/// A line that is not valid UTF-8: what is wrong, and its text with the bad
/// bytes replaced (for `rejected.jsonl`).
pub(crate) struct NotUtf8 {
    pub message: String,
    pub lossy: String,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The next line: its 1-based number and its text without the line
    /// break (`\n` or `\r\n`); `None` at the end of the file.
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, Result<&str, NotUtf8>)>> {
        self.buf.clear();
        if self.reader.read_until(b'\n', &mut self.buf)? == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut line = self.buf.as_slice();
        line = line.strip_suffix(b"\n").unwrap_or(line);
        line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).map_err(|e| NotUtf8 {
            message: format!(
                "not valid UTF-8: byte {} of the line (0x{:02x}) starts no UTF-8 character",
                e.valid_up_to() + 1,
                line[e.valid_up_to()]
            ),
            lossy: String::from_utf8_lossy(line).into_owned(),
        });
        Ok(Some((self.number, text)))
    }
}

/// Parses one record, which must be a JSON object whose keys are each given
/// once. serde_json alone keeps the last of two equal keys without a word;
/// other readers keep the first, so a record with both would mean different
/// things to different tools (a `deleted_at` given twice, once as null).
pub(crate) fn parse_object(line: &str) -> Result<Map<String, Value>, FieldError> {
    let mut duplicate = None;
    let mut de = serde_json::Deserializer::from_str(line);
    let top = StrictTop {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top));
    match (top, duplicate) {
        (_, Some(key)) => {
            let message = "is given twice in one record; readers disagree on which value counts".to_string();
            Err((key, message))
        }
        (Ok(Top::Object(map)), None) => Ok(map),
        (Ok(Top::Other(found)), None) => Err((String::new(), format!("expected a JSON object, found {found}"))),
        (Err(e), None) => Err((String::new(), format!("not valid JSON: {e}"))),
    }
}

/// A record's top level: an object, or the kind of value found instead.
enum Top {
    Object(Map<String, Value>),
    Other(&'static str),
}

/// Deserializes the top level of a record, refusing a repeated key (whose
/// name goes to `duplicate`, since serde's error type cannot carry it).
struct StrictTop<'a> {
    duplicate: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for StrictTop<'_> {
    type Value = Top;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictTop<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Top, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let error = de::Error::custom(format_args!("duplicate key {key:?}"));
                *self.duplicate = Some(key);
                return Err(error);
            }
            map.insert(key, access.next_value()?);
        }
        Ok(Top::Object(map))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Top, A::Error> {
        while access.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::Other("a list"))
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Other("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other("a string"))
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
