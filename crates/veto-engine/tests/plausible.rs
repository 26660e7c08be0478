//! Implausible input: values that parse but cannot be true, records that
//! mean different things to different readers, and files that cannot be
//! read are refused with the file, the line or row, and the field. Each
//! check holds on every path: JSON Lines, a staged copy (quarantine), and
//! Parquet read in place (the checks inside the query).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch, TimestampMicrosecondArray};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Date32Type, TimestampMicrosecondType};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_engine::export::{TableFile, queryable_rows, read_objections};
use veto_engine::{BuildError, OnError};

const PERSONS: &str = r#"{"person_id":"p1","birth_date":"1980-02-29","country":"DE","display_name":"Anna","handles":["anna"]}
{"person_id":"p2","birth_date":null,"country":null,"display_name":null,"handles":[]}
"#;

fn item(id: &str, created: &str, deleted: Option<&str>) -> String {
    let deleted = deleted.map_or("null".to_string(), |d| format!("\"{d}\""));
    format!(
        r#"{{"item_id":"{id}","person_id":"p1","platform":"facebook","kind":"post","audience":"public","created_at":"{created}","deleted_at":{deleted},"text":"Hallo","media_uri":null,"media_sha256":null,"lang":"de"}}"#
    )
}

fn good_items() -> Vec<Vec<u8>> {
    ["i1", "i2", "i3"]
        .map(|id| item(id, "2025-01-01T10:00:00Z", None).into_bytes())
        .to_vec()
}

/// A JSON Lines export with `persons` and `items` (one line each), built
/// in `mode`: the error, or the rows of rejected.jsonl.
fn build_jsonl(persons: &[u8], items: &[Vec<u8>], mode: OnError) -> Result<Vec<serde_json::Value>, String> {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("persons.jsonl"), persons).unwrap();
    std::fs::write(data.join("items.jsonl"), items.join(&b"\n"[..])).unwrap();
    let mut req = request(&data, tmp.path().join("snap"), vec![]);
    req.on_error = mode;
    match run(req) {
        Ok(outcome) => {
            let rejected = std::fs::read_to_string(outcome.path.join("rejected.jsonl")).unwrap_or_default();
            Ok(rejected.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
        }
        Err(e) => {
            assert!(matches!(e, BuildError::Input(_)), "{e:?}");
            assert_eq!(entries(tmp.path()), vec!["export"], "a failed build leaves nothing");
            Err(e.to_string())
        }
    }
}

/// The error of an export whose items line 3 is `bad`.
fn item_error(bad: impl Into<Vec<u8>>) -> String {
    let mut items = good_items();
    items.insert(2, bad.into());
    build_jsonl(PERSONS.as_bytes(), &items, OnError::Abort).unwrap_err()
}

/// The error of an export whose persons line 2 is `bad` (with an item of p1).
fn person_error(bad: &str) -> String {
    let persons = PERSONS.lines().next().unwrap().to_string() + "\n" + bad + "\n";
    build_jsonl(persons.as_bytes(), &good_items(), OnError::Abort).unwrap_err()
}

#[test]
fn a_line_that_is_not_utf8_is_named_by_file_and_line() {
    let mut bad = item("i9", "2025-01-01T10:00:00Z", None).into_bytes();
    bad[46] = 0xff; // inside "facebook"
    let e = item_error(bad);
    assert_eq!(
        e,
        "items.jsonl line 3: not valid UTF-8: byte 47 of the line (0xff) starts no UTF-8 character"
    );
    let persons = PERSONS.replace("Anna", "Ann\u{e4}");
    let mut persons = persons.into_bytes();
    let at = persons.iter().position(|&b| b == 0xc3).unwrap();
    persons[at + 1] = b'x'; // a lead byte without its continuation
    let e = build_jsonl(&persons, &good_items(), OnError::Abort).unwrap_err();
    assert_eq!(
        e,
        "persons.jsonl line 1: not valid UTF-8: byte 79 of the line (0xc3) starts no UTF-8 character"
    );
}

#[test]
fn a_repeated_key_is_refused_in_items_and_persons() {
    // serde_json alone would keep the second `deleted_at` and drop the first.
    let bad = item("i9", "2025-01-01T10:00:00Z", Some("2025-02-01T00:00:00Z")).replace(
        r#""deleted_at":"2025-02-01T00:00:00Z""#,
        r#""deleted_at":"2025-02-01T00:00:00Z","deleted_at":null"#,
    );
    assert_eq!(
        item_error(bad),
        "items.jsonl line 3, field `deleted_at`: is given twice in one record; readers disagree on which value counts"
    );
    let bad = r#"{"person_id":"p2","country":"DE","birth_date":null,"country":"US"}"#;
    assert_eq!(
        person_error(bad),
        "persons.jsonl line 2, field `country`: is given twice in one record; readers disagree on which value counts"
    );
}

#[test]
fn deleted_before_created_names_the_line_and_field() {
    let e = item_error(item("i9", "2025-01-01T10:00:00Z", Some("2025-01-01T09:59:59+00:00")));
    assert_eq!(
        e,
        "items.jsonl line 3, field `deleted_at`: deleted_at 2025-01-01T09:59:59+00:00 is before created_at 2025-01-01T10:00:00+00:00"
    );
}

#[test]
fn timestamps_before_1970_or_from_2100_on_are_refused() {
    let e = item_error(item("i9", "1969-12-31T23:59:59Z", None));
    assert_eq!(
        e,
        "items.jsonl line 3, field `created_at`: 1969-12-31T23:59:59+00:00 is outside the accepted range 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
    );
    let e = item_error(item("i9", "2100-01-01T00:00:00Z", None));
    assert!(
        e.starts_with("items.jsonl line 3, field `created_at`: 2100-01-01T00:00:00+00:00 is outside"),
        "{e}"
    );
    // A "never" placeholder is not a time the rules could compare.
    let e = item_error(item("i9", "2025-01-01T10:00:00Z", Some("9999-12-31T23:59:59Z")));
    assert!(
        e.starts_with("items.jsonl line 3, field `deleted_at`: 9999-12-31T23:59:59+00:00 is outside"),
        "{e}"
    );
}

#[test]
fn birth_dates_after_the_as_of_or_before_1900_are_refused() {
    // The requests here build as of 2025-07-01.
    let e = person_error(r#"{"person_id":"p2","birth_date":"2025-07-02","country":null}"#);
    assert_eq!(
        e,
        "persons.jsonl line 2, field `birth_date`: 2025-07-02 is in the future: after the build's as-of date 2025-07-01"
    );
    let e = person_error(r#"{"person_id":"p2","birth_date":"1899-12-31","country":null}"#);
    assert_eq!(
        e,
        "persons.jsonl line 2, field `birth_date`: 1899-12-31 is before 1900-01-01"
    );
    person_error_free(r#"{"person_id":"p2","birth_date":"2025-07-01","country":null}"#);
}

fn person_error_free(line: &str) {
    let persons = PERSONS.lines().next().unwrap().to_string() + "\n" + line + "\n";
    let rejected = build_jsonl(persons.as_bytes(), &good_items(), OnError::Abort).unwrap();
    assert!(rejected.is_empty());
}

#[test]
fn country_codes_must_be_officially_assigned() {
    let e = person_error(r#"{"person_id":"p2","birth_date":null,"country":"UK"}"#);
    assert_eq!(
        e,
        "persons.jsonl line 2, field `country`: \"UK\" is not an officially assigned ISO 3166-1 alpha-2 country code"
    );
    let e = person_error(r#"{"person_id":"p2","birth_date":null,"country":"XK"}"#);
    assert!(
        e.starts_with("persons.jsonl line 2, field `country`: \"XK\" is not"),
        "{e}"
    );
    let e = person_error(r#"{"person_id":"p2","birth_date":null,"country":"de"}"#);
    assert!(
        e.starts_with("persons.jsonl line 2, field `country`: \"de\" is not"),
        "{e}"
    );
    person_error_free(r#"{"person_id":"p2","birth_date":null,"country":"SS"}"#);
}

#[test]
fn quarantine_sets_aside_each_implausible_row_with_its_line_and_field() {
    let persons = PERSONS.to_string()
        + r#"{"person_id":"p3","birth_date":"2030-01-01","country":"DE"}"#
        + "\n"
        + r#"{"person_id":"p4","birth_date":null,"country":"ZZ"}"#
        + "\n";
    let mut not_utf8 = item("i5", "2025-01-01T10:00:00Z", None).into_bytes();
    not_utf8[10] = 0xfe;
    let mut items = good_items();
    items.push(item("i4", "2025-01-02T00:00:00Z", Some("2025-01-01T00:00:00Z")).into_bytes()); // line 4
    items.push(not_utf8); // line 5
    items.push(item("i6", "1960-01-01T00:00:00Z", None).into_bytes()); // line 6
    items.push(
        item("i7", "2025-01-01T10:00:00Z", None)
            .replace("\"lang\":\"de\"", "\"lang\":\"de\",\"lang\":\"en\"")
            .into_bytes(),
    ); // line 7
    let rejected = build_jsonl(persons.as_bytes(), &items, OnError::Quarantine).unwrap();
    let located: Vec<(String, u64, Option<String>)> = rejected
        .iter()
        .map(|r| {
            (
                r["file"].as_str().unwrap().to_string(),
                r["row"].as_u64().unwrap(),
                r["field"].as_str().map(str::to_string),
            )
        })
        .collect();
    let at = |file: &str, row, field: Option<&str>| (file.to_string(), row, field.map(str::to_string));
    assert_eq!(
        located,
        vec![
            at("persons.jsonl", 3, Some("birth_date")),
            at("persons.jsonl", 4, Some("country")),
            at("items.jsonl", 4, Some("deleted_at")),
            at("items.jsonl", 5, None),
            at("items.jsonl", 6, Some("created_at")),
            at("items.jsonl", 7, Some("lang")),
        ]
    );
    assert!(rejected[3]["error"].as_str().unwrap().starts_with("not valid UTF-8"));
    assert!(
        rejected[3]["record"].as_str().unwrap().contains('\u{fffd}'),
        "the line, made readable"
    );
}

#[test]
fn objection_files_are_held_to_the_same_checks() {
    const GOOD: &str = r#"{"objection_id":"o1","person_id":"p1","scope":"all","filed_at":"2025-05-26T23:59:59+02:00","withdrawn_at":null,"channel":"web"}"#;
    let read = |text: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("objections.jsonl");
        std::fs::write(&path, text).unwrap();
        read_objections(&path).map(|_| ()).map_err(|e| e.to_string())
    };
    let mut bad = GOOD.replace("o1", "o2").into_bytes();
    bad[20] = 0x80;
    let e = read(&[GOOD.as_bytes(), b"\n", &bad].concat()).unwrap_err();
    assert!(
        e.starts_with("objections.jsonl line 2: not valid UTF-8: byte 21 "),
        "{e}"
    );
    let twice = GOOD.replace("\"scope\":\"all\"", "\"scope\":\"all\",\"scope\":\"whatsapp\"");
    assert_eq!(
        read(twice.as_bytes()).unwrap_err(),
        "objections.jsonl line 1, field `scope`: is given twice in one record; readers disagree on which value counts"
    );
    let early = GOOD.replace("2025-05-26T23:59:59+02:00", "1960-01-01T00:00:00Z");
    assert!(
        read(early.as_bytes())
            .unwrap_err()
            .starts_with("objections.jsonl line 1, field `filed_at`: 1960-01-01T00:00:00+00:00 is outside"),
    );
    let late = GOOD.replace("\"withdrawn_at\":null", "\"withdrawn_at\":\"2200-01-01T00:00:00Z\"");
    assert!(
        read(late.as_bytes())
            .unwrap_err()
            .starts_with("objections.jsonl line 1, field `withdrawn_at`: 2200-01-01T00:00:00+00:00 is outside"),
    );
}

// Parquet: the same checks, on rows read in place by the build's query and
// on a staged copy.

/// Rewrites `<data>/<table>.parquet` after `edit` changed the whole table.
fn rewrite(data: &Path, table: &str, edit: impl FnOnce(RecordBatch) -> RecordBatch) {
    let path = data.join(format!("{table}.parquet"));
    let batches = read_parquet(&path);
    let all = edit(concat_batches(&batches[0].schema(), &batches).unwrap());
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), all.schema(), None).unwrap();
    w.write(&all).unwrap();
    w.close().unwrap();
}

fn replace_column(batch: RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let mut columns = batch.columns().to_vec();
    columns[batch.schema().index_of(name).unwrap()] = column;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// `batch` with the timestamp column `name` set to `us` at 0-based `row`.
fn with_instant(batch: RecordBatch, name: &str, row: usize, us: i64) -> RecordBatch {
    let old = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    let values: TimestampMicrosecondArray = (0..old.len())
        .map(|i| {
            if i == row {
                Some(us)
            } else {
                old.is_valid(i).then(|| old.value(i))
            }
        })
        .collect();
    let values = values.with_timezone_opt(old.timezone());
    replace_column(batch, name, Arc::new(values))
}

/// Writes a synthetic Parquet export; returns its items.
fn parquet_export(data: &Path, seed: u64) -> RecordBatch {
    generate(data, 60, seed, veto_synth::Format::Parquet);
    let batches = read_parquet(&data.join("items.parquet"));
    concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn parquet_error(data: &Path, out: &Path, mode: OnError) -> String {
    let mut req = request(data, out.to_path_buf(), vec![]);
    req.on_error = mode;
    let e = run(req).unwrap_err();
    assert!(matches!(e, BuildError::Input(_)), "{e:?}");
    assert!(!out.exists(), "a failed build leaves no snapshot");
    e.to_string()
}

#[test]
fn parquet_read_in_place_refuses_implausible_instants_by_row_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let items = parquet_export(&data, 11);
    let created = items
        .column_by_name("created_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    let (row, at) = (17, created.value(17));
    rewrite(&data, "items", |b| with_instant(b, "deleted_at", row, at - 1));
    assert!(
        queryable_rows(&TableFile::locate(&data, "items").unwrap())
            .unwrap()
            .is_some(),
        "read in place"
    );
    let e = parquet_error(&data, &tmp.path().join("snap"), OnError::Abort);
    assert!(
        e.starts_with("items.parquet row 18, field `deleted_at`: deleted_at "),
        "{e}"
    );
    assert!(e.contains(" is before created_at "), "{e}");

    rewrite(&data, "items", |b| with_instant(b, "deleted_at", row, at));
    rewrite(&data, "items", |b| with_instant(b, "created_at", 5, -1));
    let e = parquet_error(&data, &tmp.path().join("snap"), OnError::Abort);
    assert_eq!(
        e,
        "items.parquet row 6, field `created_at`: 1969-12-31T23:59:59.999999+00:00 is outside the accepted range 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
    );
    // The staged copy (quarantine) applies the same check and sets the row aside.
    let mut req = request(&data, tmp.path().join("snap"), vec![]);
    req.on_error = OnError::Quarantine;
    let outcome = run(req).unwrap();
    let rejected = std::fs::read_to_string(outcome.path.join("rejected.jsonl")).unwrap();
    let rejected: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(
        (&rejected["file"], &rejected["row"], &rejected["field"]),
        (&"items.parquet".into(), &6.into(), &"created_at".into())
    );
}

#[test]
fn parquet_persons_refuse_future_birth_dates_and_unknown_countries() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    parquet_export(&data, 12);
    let after_as_of = veto_core::time::to_days(chrono::NaiveDate::from_ymd_opt(2031, 1, 1).unwrap());
    rewrite(&data, "persons", |b| {
        let old = b.column_by_name("birth_date").unwrap().as_primitive::<Date32Type>();
        let births: Date32Array = (0..old.len())
            .map(|i| {
                if i == 9 {
                    Some(after_as_of)
                } else {
                    old.is_valid(i).then(|| old.value(i))
                }
            })
            .collect();
        replace_column(b, "birth_date", Arc::new(births))
    });
    let e = parquet_error(&data, &tmp.path().join("snap"), OnError::Abort);
    assert_eq!(
        e,
        "persons.parquet row 10, field `birth_date`: 2031-01-01 is in the future: after the build's as-of date 2025-07-01"
    );
    rewrite(&data, "persons", |b| {
        let countries = strings(std::slice::from_ref(&b), "country");
        let mut countries: Vec<Option<String>> = countries;
        countries[3] = Some("EU".into());
        let births = b
            .column_by_name("birth_date")
            .unwrap()
            .as_primitive::<Date32Type>()
            .clone();
        let births: Date32Array = births.iter().map(|d| d.filter(|&d| d != after_as_of)).collect();
        let b = replace_column(b, "birth_date", Arc::new(births));
        replace_column(
            b,
            "country",
            Arc::new(datafusion::arrow::array::StringArray::from(countries)),
        )
    });
    let e = parquet_error(&data, &tmp.path().join("snap"), OnError::Abort);
    assert_eq!(
        e,
        "persons.parquet row 4, field `country`: \"EU\" is not an officially assigned ISO 3166-1 alpha-2 country code"
    );
}

/// Overwrites `len` bytes of `path` at `offset` from its end with garbage.
fn spoil(path: &Path, from_end: usize, len: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = bytes.len() - from_end;
    bytes[start..start + len].fill(0xab);
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

#[test]
fn a_damaged_parquet_file_is_named_not_a_panic() {
    for (table, damage) in [
        ("items", truncate as fn(&Path)),
        ("items", |p: &Path| spoil(p, 8, 4)),     // the footer's length
        ("items", |p: &Path| spoil(p, 200, 190)), // the footer itself
        ("persons", truncate),
        ("persons", |p: &Path| spoil(p, 120, 110)),
    ] {
        for mode in [OnError::Abort, OnError::Quarantine] {
            let tmp = tempfile::tempdir().unwrap();
            let data = tmp.path().join("export");
            parquet_export(&data, 13);
            damage(&data.join(format!("{table}.parquet")));
            let e = parquet_error(&data, &tmp.path().join("snap"), mode);
            assert!(
                e.starts_with(&format!(
                    "{table}.parquet: not a readable Parquet file (truncated or damaged): "
                )),
                "{table}, {mode:?}: {e}"
            );
        }
    }
}

#[test]
fn a_damaged_page_in_a_column_the_row_checks_skip_is_named_too() {
    // Read in place, the query engine meets the damaged `text` page; its
    // error alone would not say which file.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    parquet_export(&data, 15);
    let path = data.join("items.parquet");
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
    let text = builder
        .metadata()
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "text");
    let (start, _) = text.unwrap().byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[start as usize..start as usize + 16].fill(0xab); // the first page header
    std::fs::write(&path, bytes).unwrap();
    let e = parquet_error(&data, &tmp.path().join("snap"), OnError::Abort);
    assert!(
        e.starts_with("items.parquet: not a readable Parquet file (truncated or damaged): "),
        "{e}"
    );
}

#[test]
fn a_shard_count_the_build_cannot_run_is_refused_up_front() {
    // 40,000 shards used to abort the process (a thread per shard, out of
    // memory maps); now the request is refused before anything is read.
    let tmp = tempfile::tempdir().unwrap();
    let mut req = request(&tmp.path().join("no-export"), tmp.path().join("snap"), vec![]);
    req.shards = 40_000;
    let e = run(req).unwrap_err();
    assert!(matches!(e, BuildError::Refused(_)), "{e:?}");
    assert_eq!(e.to_string(), "--shards must be between 1 and 10000, not 40000");
    assert_eq!(veto_engine::build::MAX_SHARDS, 10_000);
    assert!(entries(tmp.path()).is_empty(), "nothing written");
}

#[test]
fn the_largest_allowed_shard_count_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    generate(&data, 20, 14, veto_synth::Format::JsonLines);
    let mut req = request(&data, tmp.path().join("snap"), vec![]);
    req.shards = veto_engine::build::MAX_SHARDS;
    let outcome = run(req).unwrap();
    assert_eq!(outcome.manifest.shards.len(), 10_000);
}
