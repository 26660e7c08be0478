//! Bad input: a clear error naming file, row and field, and nothing written.
//! With `--on-error quarantine`, bad rows go to rejected.jsonl instead.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use veto_engine::{BuildError, OnError};

const PERSONS: &str = r#"{"person_id":"p1","birth_date":"1980-02-29","country":"DE","display_name":"Anna","handles":["anna"]}
{"person_id":"p2","birth_date":null,"country":null,"display_name":null,"handles":[]}
"#;

fn item(id: &str, person: &str, kind: &str, audience: &str, created: &str) -> String {
    format!(
        r#"{{"item_id":"{id}","person_id":"{person}","platform":"facebook","kind":"{kind}","audience":"{audience}","created_at":"{created}","deleted_at":null,"text":"Hallo","media_uri":null,"media_sha256":null,"lang":"de"}}"#
    )
}

fn good_items() -> Vec<String> {
    vec![
        item("i1", "p1", "post", "public", "2025-01-01T10:00:00+01:00"),
        item("i2", "p1", "comment", "friends", "2025-01-02T10:00:00Z"),
        item("i3", "p2", "post", "public", "2025-01-03T10:00:00Z"),
    ]
}

fn write_export(dir: &Path, items: &[String]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("persons.jsonl"), PERSONS).unwrap();
    std::fs::write(dir.join("items.jsonl"), items.join("\n") + "\n").unwrap();
}

/// Builds an export whose line 3 (items) is `bad`; returns the error text.
fn error_for(bad: String) -> (String, BuildError) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let mut items = good_items();
    items.insert(2, bad);
    write_export(&data, &items);
    let err = run(request(&data, tmp.path().join("snap"), vec![])).unwrap_err();
    assert_eq!(
        entries(tmp.path()),
        vec!["export"],
        "a failed build leaves nothing behind"
    );
    (err.to_string(), err)
}

#[test]
fn unknown_enum_values_name_the_line_and_field() {
    let (e, err) = error_for(item("i9", "p1", "voice_note", "public", "2025-01-01T00:00:00Z"));
    assert!(matches!(err, BuildError::Input(_)));
    assert!(
        e.starts_with("items.jsonl line 3, field `kind`: unknown kind \"voice_note\""),
        "{e}"
    );
    let (e, _) = error_for(item("i9", "p1", "post", "everyone", "2025-01-01T00:00:00Z"));
    assert!(
        e.starts_with("items.jsonl line 3, field `audience`: unknown audience \"everyone\""),
        "{e}"
    );
}

#[test]
fn duplicate_item_ids_name_both_lines() {
    let (e, _) = error_for(item("i1", "p2", "post", "public", "2025-01-01T00:00:00Z"));
    assert_eq!(
        e,
        "items.jsonl line 3, field `item_id`: duplicate item_id \"i1\" (first at line 1)"
    );
}

#[test]
fn an_item_whose_author_is_missing_is_named() {
    let (e, _) = error_for(item("i9", "p404", "post", "public", "2025-01-01T00:00:00Z"));
    assert_eq!(
        e,
        "items.jsonl line 3, field `person_id`: author \"p404\" is not in persons"
    );
}

#[test]
fn unparsable_and_offsetless_timestamps_are_refused() {
    let (e, _) = error_for(item("i9", "p1", "post", "public", "01.01.2025 10:00"));
    assert!(
        e.starts_with("items.jsonl line 3, field `created_at`: not an RFC 3339 timestamp"),
        "{e}"
    );
    let (e, _) = error_for(item("i9", "p1", "post", "public", "2025-01-01T10:00:00"));
    assert!(e.starts_with("items.jsonl line 3, field `created_at`"), "{e}");
}

#[test]
fn a_private_message_or_e2e_item_that_claims_another_audience_is_refused() {
    let (e, _) = error_for(item("i9", "p1", "private_message", "public", "2025-01-01T00:00:00Z"));
    assert_eq!(
        e,
        "items.jsonl line 3, field `audience`: a private_message item cannot have audience \"public\""
    );
    let (e, _) = error_for(item("i9", "p1", "post", "e2e", "2025-01-01T00:00:00Z"));
    assert_eq!(
        e,
        "items.jsonl line 3, field `audience`: a post item cannot have audience \"e2e\""
    );
}

#[test]
fn an_unknown_field_is_refused_rather_than_ignored() {
    // A misspelt deleted_at would otherwise let deleted content through.
    let bad = item("i9", "p1", "post", "public", "2025-01-01T00:00:00Z").replace("\"deleted_at\"", "\"delete_at\"");
    let (e, _) = error_for(bad);
    assert!(
        e.starts_with("items.jsonl line 3, field `delete_at`: unknown field"),
        "{e}"
    );
}

#[test]
fn a_parquet_column_of_the_wrong_type_names_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("persons.jsonl"), PERSONS).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("item_id", DataType::Utf8, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("platform", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("audience", DataType::Utf8, false),
        Field::new("created_at", DataType::Int64, false),
    ]));
    let s = |v: &str| Arc::new(StringArray::from(vec![v])) as _;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            s("i1"),
            s("p1"),
            s("facebook"),
            s("post"),
            s("public"),
            Arc::new(Int64Array::from(vec![1_700_000_000])),
        ],
    )
    .unwrap();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(data.join("items.parquet")).unwrap(),
        schema,
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let e = run(request(&data, tmp.path().join("snap"), vec![]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "items.parquet, field `created_at`: has type Int64, expected a timestamp with time zone, or an RFC 3339 string"
    );
    assert_eq!(entries(tmp.path()), vec!["export"]);
}

#[test]
fn quarantine_writes_rejected_rows_with_their_errors_and_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let mut items = good_items();
    items.push(item("i1", "p2", "post", "public", "2025-01-01T00:00:00Z")); // duplicate, line 4
    items.push(item("i5", "p404", "post", "public", "2025-01-01T00:00:00Z")); // no author, line 5
    items.push("not json".into()); // line 6
    write_export(&data, &items);
    let mut req = request(&data, tmp.path().join("snap"), vec![]);
    req.on_error = OnError::Quarantine;
    let outcome = run(req).unwrap();
    let m = &outcome.manifest;
    assert_eq!(m.items.read, 6);
    assert_eq!(m.items.rejected, 3);
    assert_eq!(m.items.included + m.items.excluded, 3);
    assert_eq!(m.rejected.as_ref().unwrap().rows, Some(3));
    let rejected = std::fs::read_to_string(outcome.path.join("rejected.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = rejected.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let located: Vec<(u64, String)> = lines
        .iter()
        .map(|l| {
            (
                l["row"].as_u64().unwrap(),
                l["field"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(located.contains(&(4, "item_id".into())), "{located:?}");
    assert!(located.contains(&(5, "person_id".into())), "{located:?}");
    assert!(located.iter().any(|(row, _)| *row == 6), "{located:?}");
    // The first i1 (line 1) is kept; the rejected duplicate did not replace it.
    let index = read_parquet(&outcome.path.join("index.parquet"));
    assert_eq!(strings(&index, "item_id"), vec![Some("i1".to_string())]);
}

#[test]
fn an_id_seen_three_times_keeps_its_first_row_and_rejects_both_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let mut items = good_items();
    items.push(item("i1", "p2", "post", "public", "2025-01-01T00:00:00Z")); // line 4
    items.push(item("i1", "p1", "comment", "public", "2025-02-01T00:00:00Z")); // line 5
    write_export(&data, &items);
    let mut req = request(&data, tmp.path().join("snap"), vec![]);
    req.on_error = OnError::Quarantine;
    let outcome = run(req).unwrap();
    assert_eq!(outcome.manifest.items.rejected, 2);
    let rejected = std::fs::read_to_string(outcome.path.join("rejected.jsonl")).unwrap();
    let errors: Vec<(u64, String)> = rejected
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|l| {
            (
                l["row"].as_u64().unwrap(),
                l["error"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (row, error) in [(4, &errors[0]), (5, &errors[1])] {
        assert_eq!(error.0, row);
        assert!(
            error.1.contains("duplicate item_id \"i1\" (first at line 1)"),
            "{error:?}"
        );
    }
    let index = read_parquet(&outcome.path.join("index.parquet"));
    assert_eq!(strings(&index, "item_id"), vec![Some("i1".to_string())]);
}
