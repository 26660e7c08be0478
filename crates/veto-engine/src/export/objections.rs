//! Objection files (JSON Lines) for `veto objections import`.

use std::path::Path;
use std::str::FromStr;

use veto_core::time::parse_rfc3339;
use veto_core::{Channel, Objection, ObjectionScope};

use super::json::{FieldError, Lines, check_known, opt_str, parse_object};
use super::plausible::datetime_in_range;
use crate::error::{BuildError, InputError};

const FIELDS: &[&str] = &[
    "objection_id",
    "person_id",
    "scope",
    "filed_at",
    "withdrawn_at",
    "channel",
];

/// Reads and validates a whole objection file. The first bad line is the
/// error (file, line, field); nothing is returned unless every line is good.
/// Duplicate objection ids within the file are refused.
pub fn read_objections(path: &Path) -> Result<Vec<Objection>, BuildError> {
    let file = std::fs::File::open(path).map_err(BuildError::io(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut seen = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut lines = Lines::new(std::io::BufReader::new(file));
    while let Some((line_no, line)) = lines.next_line().map_err(BuildError::io(path))? {
        let error = |(field, message): FieldError| {
            BuildError::Input(InputError {
                file: name.clone(),
                row: Some(line_no),
                row_label: "line",
                field: (!field.is_empty()).then_some(field),
                message,
            })
        };
        let line = line.map_err(|bad| error((String::new(), bad.message)))?;
        if line.trim().is_empty() {
            continue;
        }
        let objection = parse_objection(line).map_err(error)?;
        if let Some(first) = seen.insert(objection.objection_id.clone(), line_no) {
            return Err(error((
                "objection_id".into(),
                format!("duplicate id {:?} (first on line {first})", objection.objection_id),
            )));
        }
        out.push(objection);
    }
    Ok(out)
}

fn parse_objection(line: &str) -> Result<Objection, FieldError> {
    let map = parse_object(line)?;
    check_known(&map, FIELDS)?;
    let required = |field: &str| -> Result<String, FieldError> {
        match opt_str(&map, field)? {
            Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
            _ => Err((field.to_string(), "is required".into())),
        }
    };
    let at = |field: &str, s: &str| {
        let t = parse_rfc3339(s).map_err(|m| (field.to_string(), m))?;
        datetime_in_range(t).map_err(|m| (field.to_string(), m))?;
        Ok::<_, FieldError>(t)
    };
    let objection = Objection {
        objection_id: required("objection_id")?,
        person_id: required("person_id")?,
        scope: ObjectionScope::from_str(&required("scope")?).map_err(|m| ("scope".to_string(), m))?,
        filed_at: at("filed_at", &required("filed_at")?)?,
        withdrawn_at: opt_str(&map, "withdrawn_at")?
            .map(|s| at("withdrawn_at", s))
            .transpose()?,
        channel: Channel::from_str(&required("channel")?).map_err(|m| ("channel".to_string(), m))?,
    };
    objection.validate().map_err(|(field, m)| (field.to_string(), m))?;
    Ok(objection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Objection>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objections.jsonl");
        std::fs::write(&path, text).unwrap();
        read_objections(&path).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"{"objection_id":"o1","person_id":"p1","scope":"all","filed_at":"2025-05-26T23:59:59+02:00","withdrawn_at":null,"channel":"web"}"#;

    #[test]
    fn reads_a_good_line() {
        let o = read(GOOD).unwrap();
        assert_eq!(o[0].filed_at.to_rfc3339(), "2025-05-26T21:59:59+00:00");
        assert_eq!(o[0].scope, ObjectionScope::All);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let bad_scope = GOOD.replace("\"all\"", "\"tiktok\"");
        let e = read(&format!("{GOOD}\n{bad_scope}\n")).unwrap_err();
        assert!(
            e.starts_with("objections.jsonl line 2, field `scope`: unknown objectionscope \"tiktok\""),
            "{e}"
        );
        let bad_time = GOOD.replace("2025-05-26T23:59:59+02:00", "26.05.2025");
        let e = read(&bad_time).unwrap_err();
        assert!(e.starts_with("objections.jsonl line 1, field `filed_at`"), "{e}");
        let e = read(&format!("{GOOD}\n{GOOD}")).unwrap_err();
        assert!(
            e.contains("line 2, field `objection_id`: duplicate id \"o1\" (first on line 1)"),
            "{e}"
        );
        let withdrawn_early = GOOD.replace("\"withdrawn_at\":null", "\"withdrawn_at\":\"2025-01-01T00:00:00Z\"");
        let e = read(&withdrawn_early).unwrap_err();
        assert!(e.contains("field `withdrawn_at`"), "{e}");
    }
}
