//! Objection files (JSON Lines) for `veto objections import`.

use std::path::Path;
use std::str::FromStr;

use veto_core::time::parse_rfc3339;
use veto_core::{Channel, Objection, ObjectionScope, Subject, SubjectObjection};

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
    "subject",
];

/// What an objection file holds: objections by users (a `person_id`) and
/// by people without an account (a `subject`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectionFile {
    pub persons: Vec<Objection>,
    pub subjects: Vec<SubjectObjection>,
}

/// One line of an objection file.
enum Line {
    Person(Objection),
    Subject(SubjectObjection),
}

impl Line {
    fn id(&self) -> &str {
        match self {
            Line::Person(o) => &o.objection_id,
            Line::Subject(o) => &o.objection_id,
        }
    }
}

/// Reads and validates a whole objection file. The first bad line is the
/// error (file, line, field); nothing is returned unless every line is good.
/// Duplicate objection ids within the file are refused.
pub fn read_objections(path: &Path) -> Result<Vec<Objection>, BuildError> {
    let file = read_objection_file(path)?;
    match file.subjects.first() {
        None => Ok(file.persons),
        Some(o) => Err(BuildError::Refused(format!(
            "{}: objection {:?} names a subject; this path takes users' objections only",
            path.display(),
            o.objection_id
        ))),
    }
}

/// Reads and validates a whole objection file with both kinds of lines;
/// the first bad line is the error (file, line, field).
pub fn read_objection_file(path: &Path) -> Result<ObjectionFile, BuildError> {
    let file = std::fs::File::open(path).map_err(BuildError::io(path))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut seen = std::collections::HashMap::new();
    let mut out = ObjectionFile::default();
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
        if let Some(first) = seen.insert(objection.id().to_string(), line_no) {
            return Err(error((
                "objection_id".into(),
                format!("duplicate id {:?} (first on line {first})", objection.id()),
            )));
        }
        match objection {
            Line::Person(o) => out.persons.push(o),
            Line::Subject(o) => out.subjects.push(o),
        }
    }
    Ok(out)
}

/// A `subject` object: the known fields only, each of the right type.
fn parse_subject(value: &serde_json::Value) -> Result<Subject, FieldError> {
    let subject: Subject = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "subject".to_string()
        } else {
            format!("subject.{path}")
        };
        (field, e.into_inner().to_string())
    })?;
    subject.validate().map_err(|(field, m)| (field.to_string(), m))?;
    Ok(subject)
}

fn parse_objection(line: &str) -> Result<Line, FieldError> {
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
    let subject = match map.get("subject") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(parse_subject(v)?),
    };
    let person_id = opt_str(&map, "person_id")?.filter(|p| !p.trim().is_empty());
    let objection_id = required("objection_id")?;
    let scope = ObjectionScope::from_str(&required("scope")?).map_err(|m| ("scope".to_string(), m))?;
    let filed_at = at("filed_at", &required("filed_at")?)?;
    let withdrawn_at = opt_str(&map, "withdrawn_at")?
        .map(|s| at("withdrawn_at", s))
        .transpose()?;
    let channel = Channel::from_str(&required("channel")?).map_err(|m| ("channel".to_string(), m))?;
    match (person_id, subject) {
        (Some(_), Some(_)) => Err((
            "subject".into(),
            "a line names either a person_id (a user) or a subject (someone without an account), not both".into(),
        )),
        (None, None) => Err((
            "person_id".into(),
            "is required (or a subject, for someone without an account)".into(),
        )),
        (Some(person_id), None) => {
            let objection = Objection {
                objection_id,
                person_id: person_id.to_string(),
                scope,
                filed_at,
                withdrawn_at,
                channel,
            };
            objection.validate().map_err(|(field, m)| (field.to_string(), m))?;
            Ok(Line::Person(objection))
        }
        (None, Some(subject)) => {
            if withdrawn_at.is_some_and(|w| w < filed_at) {
                return Err(("withdrawn_at".into(), "is before filed_at".into()));
            }
            Ok(Line::Subject(SubjectObjection {
                objection_id,
                subject,
                scope,
                filed_at,
                withdrawn_at,
                channel,
            }))
        }
    }
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
    fn a_subject_line_names_someone_without_an_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objections.jsonl");
        let subject = GOOD.replace(
            r#""person_id":"p1""#,
            r#""subject":{"display_name":"Zora Quell","handles":["@zoraq"],"emails":["zora@example.org"],"phones":["+49 170 1234567"]}"#,
        );
        std::fs::write(&path, format!("{GOOD}\n{}\n", subject.replace("o1", "o2"))).unwrap();
        let file = read_objection_file(&path).unwrap();
        assert_eq!(file.persons.len(), 1);
        assert_eq!(file.subjects[0].subject.display_name.as_deref(), Some("Zora Quell"));
        assert!(
            read_objections(&path).is_err(),
            "the users-only reader refuses subjects"
        );
        for (bad, field) in [
            (
                r#""subject":{"display_name":"Z","nickname":"z"}"#,
                "field `subject.nickname`: unknown field",
            ),
            (r#""subject":{"emails":["no-at-sign"]}"#, "field `subject.emails`"),
            (r#""subject":{"phones":["12"]}"#, "field `subject.phones`"),
            (r#""subject":{}"#, "names nobody"),
            (r#""subject":{"handles":"@z"}"#, "field `subject.handles`"),
        ] {
            let line = GOOD.replace(r#""person_id":"p1""#, bad);
            let e = read(&line).unwrap_err();
            assert!(e.contains(field), "{bad}: {e}");
        }
        let both = GOOD.replace(
            r#""channel":"web""#,
            r#""channel":"web","subject":{"display_name":"Zora"}"#,
        );
        assert!(read(&both).unwrap_err().contains("not both"));
        let neither = GOOD.replace(r#""person_id":"p1","#, "");
        assert!(read(&neither).unwrap_err().contains("field `person_id`"));
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
