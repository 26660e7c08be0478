//! A Parquet export with native column types is read where it lies, without
//! a staged copy, and its rows are checked inside the build's query. Its
//! errors must be the same as the staged path's: the first bad row in file
//! order, whatever the thread count, every repeated item id, however far
//! apart the two rows are, and every author missing from persons.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use veto_engine::export::{TableFile, queryable_rows};

/// Rewrites items.parquet in row groups of 100 rows after `edit` changed
/// the whole table; returns the number of rows.
fn rewrite_items(data: &Path, edit: impl FnOnce(RecordBatch) -> RecordBatch) -> usize {
    let path = data.join("items.parquet");
    let batches = read_parquet(&path);
    let all = edit(concat_batches(&batches[0].schema(), &batches).unwrap());
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), all.schema(), Some(props)).unwrap();
    w.write(&all).unwrap();
    w.close().unwrap();
    all.num_rows()
}

/// `batch` with the string column `name` set to `value` at 0-based `rows`.
fn with_value(batch: RecordBatch, name: &str, rows: &[usize], value: &str) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut values = strings(std::slice::from_ref(&batch), name);
    for &r in rows {
        values[r] = Some(value.to_string());
    }
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[i] = Arc::new(StringArray::from(values));
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

fn build_error(data: &Path, out: &Path, threads: usize) -> String {
    let mut req = request(data, out.to_path_buf(), vec![]);
    req.threads = threads;
    let err = run(req).unwrap_err().to_string();
    assert!(!out.exists(), "a failed build leaves no snapshot");
    err
}

#[test]
fn the_first_bad_row_is_reported_whatever_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    generate(&data, 120, 5, veto_synth::Format::Parquet);
    let rows = rewrite_items(&data, |b| {
        let n = b.num_rows();
        // Bad kinds in an early and in a late row group.
        with_value(b, "kind", &[n - 7, 250], "voice_note")
    });
    assert!(rows > 600, "several row groups ({rows} rows)");
    for threads in [1, 2, 3] {
        let e = build_error(&data, &tmp.path().join("snap"), threads);
        assert!(
            e.starts_with("items.parquet row 251, field `kind`: unknown kind \"voice_note\""),
            "{threads} threads: {e}"
        );
    }
}

#[test]
fn a_repeated_item_id_is_found_across_row_groups_and_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    generate(&data, 120, 6, veto_synth::Format::Parquet);
    let mut first_id = String::new();
    let rows = rewrite_items(&data, |b| {
        first_id = strings(std::slice::from_ref(&b), "item_id")[3].clone().unwrap();
        let n = b.num_rows();
        with_value(b, "item_id", &[n - 2], &first_id.clone())
    });
    for threads in [1, 2] {
        let e = build_error(&data, &tmp.path().join("snap"), threads);
        assert_eq!(
            e,
            format!(
                "items.parquet row {}, field `item_id`: duplicate item_id {first_id:?} (first at row 4)",
                rows - 1
            ),
            "{threads} threads"
        );
    }
}

/// Whether the build reads the items of `data` in place, and how many rows.
fn in_place(data: &Path) -> Option<u64> {
    queryable_rows(&TableFile::locate(data, "items").unwrap()).unwrap()
}

#[test]
fn an_author_missing_from_persons_is_named_with_the_row() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    generate(&data, 120, 7, veto_synth::Format::Parquet);
    // The join drops such a row; the build must notice and name it.
    let rows = rewrite_items(&data, |b| with_value(b, "person_id", &[480], "nobody-like-this"));
    assert!(rows > 480);
    assert_eq!(in_place(&data), Some(rows as u64), "read in place");
    let e = build_error(&data, &tmp.path().join("snap"), 2);
    assert_eq!(
        e,
        "items.parquet row 481, field `person_id`: author \"nobody-like-this\" is not in persons"
    );
}

#[test]
fn a_clean_parquet_export_checked_in_place_builds_like_its_jsonl_twin() {
    let tmp = tempfile::tempdir().unwrap();
    let (pq, js) = (tmp.path().join("pq"), tmp.path().join("js"));
    let objections = generate(&pq, 150, 8, veto_synth::Format::Parquet);
    generate(&js, 150, 8, veto_synth::Format::JsonLines);
    let rows: u64 = read_parquet(&pq.join("items.parquet"))
        .iter()
        .map(|b| b.num_rows() as u64)
        .sum();
    assert_eq!(in_place(&pq), Some(rows), "read where it lies");
    let a = run(request(&pq, tmp.path().join("a"), objections.clone())).unwrap();
    let b = run(request(&js, tmp.path().join("b"), objections)).unwrap();
    assert_eq!(
        entries(&pq),
        vec!["items.parquet", "objections.jsonl", "persons.parquet"]
    );
    assert_eq!(a.manifest.shards, b.manifest.shards, "same shards, same Merkle roots");
    assert_eq!(a.manifest.excluded_by_reason, b.manifest.excluded_by_reason);
    assert!(a.manifest.items.included > 0);
}

#[test]
fn other_column_types_are_staged_and_build_the_same_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate(&data, 150, 9, veto_synth::Format::Parquet);
    let plain = run(request(&data, tmp.path().join("a"), objections.clone())).unwrap();
    // The same table with large strings: valid, but not what the query reads.
    rewrite_items(&data, |b| {
        let schema = b.schema();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => f.as_ref().clone().with_data_type(DataType::LargeUtf8),
                _ => f.as_ref().clone(),
            })
            .collect();
        let columns: Vec<ArrayRef> = b
            .columns()
            .iter()
            .zip(&fields)
            .map(|(c, f)| cast(c, f.data_type()).unwrap())
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    });
    assert_eq!(in_place(&data), None, "staged");
    let staged = run(request(&data, tmp.path().join("b"), objections)).unwrap();
    assert_eq!(
        staged.manifest.shards, plain.manifest.shards,
        "same shards, same Merkle roots"
    );
    assert_eq!(staged.manifest.excluded_by_reason, plain.manifest.excluded_by_reason);
}
