//! A Parquet items file read in place, so the query engine reads the export
//! itself instead of a staged copy.
//!
//! This is the path of the default (fail on the first bad row) mode when the
//! file already has the column types the build queries
//! ([`queryable_rows`], from the footer). The rows are then checked inside
//! the build's query, in the same pass that judges them (`veto_check_item`
//! runs [`super::validate_fields`] and feeds a [`SeenIds`]); that only says
//! *whether* some row is bad. [`check_in_place`] says *which*: it reads only
//! the checked columns, spreads row groups over threads, and reports the
//! error at the lowest row whatever the thread count. Repeated item ids are
//! confirmed exactly in a second, id-only read ([`confirm_repeats`]). If
//! all of that passes, the other columns are read too: a damaged page
//! there is then what stopped the query, and the error names the file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::columns::{check_schema, text};
use super::items::{COLUMNS, ItemColumns, OPTIONAL_V1_1, REQUIRED, STAGED_SCHEMA, validate};
use super::seen::SeenIds;
use super::{Persons, TableFile};
use crate::error::{BuildError, InputError};

/// The columns the row checks read (not text or lang), in the order
/// `veto_check_item` takes them.
pub const CHECKED: [&str; 8] = [
    "item_id",
    "person_id",
    "platform",
    "kind",
    "audience",
    "created_at",
    "deleted_at",
    "media_sha256",
];

/// Equal types, a list's item field compared by its type only (writers
/// name it `item` or `element`).
fn same_type(a: &datafusion::arrow::datatypes::DataType, b: &datafusion::arrow::datatypes::DataType) -> bool {
    use datafusion::arrow::datatypes::DataType;
    match (a, b) {
        (DataType::List(x), DataType::List(y)) => x.data_type() == y.data_type(),
        _ => a == b,
    }
}

fn open(table: &TableFile) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>, BuildError> {
    let file = std::fs::File::open(&table.path).map_err(BuildError::io(&table.path))?;
    super::open_parquet(table, file)
}

/// The rows of `table` if the query engine can read it in place: Parquet
/// with the column types the build queries. `None`: stage a copy (for
/// example large strings or millisecond timestamps). Reads the footer only;
/// a missing required column or a wrong column type is an error here.
pub fn queryable_rows(table: &TableFile) -> Result<Option<u64>, BuildError> {
    let builder = open(table)?;
    check_schema(table, builder.schema(), COLUMNS, REQUIRED)?;
    let schema = builder.schema();
    // v1.1's columns may be missing (the query reads them as null); the
    // others must be there, and every one present must have the staged type.
    let queryable =
        STAGED_SCHEMA
            .fields()
            .iter()
            .filter(|f| f.name() != "row")
            .all(|f| match schema.field_with_name(f.name()) {
                Ok(g) => same_type(g.data_type(), f.data_type()),
                Err(_) => OPTIONAL_V1_1.contains(&f.name().as_str()),
            });
    Ok(queryable.then(|| builder.metadata().file_metadata().num_rows() as u64))
}

/// Checks every row of `table` (Parquet) without copying it; see the module
/// docs. The build runs this only when the checks inside its query failed,
/// to name the first bad row.
pub fn check_in_place(
    table: &TableFile,
    persons: &Persons,
    threads: usize,
    progress: &indicatif::ProgressBar,
) -> Result<(), BuildError> {
    let builder = open(table)?;
    let schema = builder.schema().clone();
    let roots: Vec<usize> = CHECKED
        .iter()
        .map(|name| schema.index_of(name).expect("checked above"))
        .chain(OPTIONAL_V1_1.iter().filter_map(|name| schema.index_of(name).ok()))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let group_rows: Vec<u64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as u64)
        .collect();
    let starts: Vec<u64> = group_rows
        .iter()
        .scan(0u64, |next, n| {
            let start = *next;
            *next += n;
            Some(start)
        })
        .collect();
    let total: u64 = group_rows.iter().sum();
    drop(builder);

    let seen = SeenIds::with_expected(total);
    let lowest_error = AtomicU64::new(u64::MAX);
    let threads = threads.clamp(1, group_rows.len().max(1));
    let outcomes: Vec<Result<Vec<(u64, String)>, BuildError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (mask, seen, lowest_error, starts) = (mask.clone(), &seen, &lowest_error, &starts);
                scope.spawn(move || -> Result<Vec<(u64, String)>, BuildError> {
                    let mut candidates = Vec::new();
                    for group in (t..starts.len()).step_by(threads) {
                        if starts[group] >= lowest_error.load(Ordering::Relaxed) {
                            break;
                        }
                        let reader = open(table)?
                            .with_row_groups(vec![group])
                            .with_projection(mask.clone())
                            .with_batch_size(8192)
                            .build()
                            .map_err(|e| table.damaged(starts[group], e))?;
                        let mut row = starts[group];
                        for batch in super::decoded(reader) {
                            let batch = batch.map_err(|e| table.damaged(row, e))?;
                            let columns = ItemColumns::read(&batch)?;
                            for i in 0..batch.num_rows() {
                                row += 1;
                                let raw = columns.row(i);
                                if let Err((field, message)) = validate(&raw, persons) {
                                    lowest_error.fetch_min(row, Ordering::Relaxed);
                                    return Err(BuildError::Input(table.error_at(Some(row), Some(field), message)));
                                }
                                let id = raw.item_id.expect("validated as present");
                                if seen.insert(id) {
                                    candidates.push((row, id.to_string()));
                                }
                            }
                            progress.inc(batch.num_rows() as u64);
                        }
                    }
                    Ok(candidates)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("check thread panicked"))
            .collect()
    });

    let mut first_error: Option<InputError> = None;
    let mut candidates = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(c) => candidates.extend(c),
            Err(BuildError::Input(e)) => {
                if first_error.as_ref().is_none_or(|f| e.row < f.row) {
                    first_error = Some(e);
                }
            }
            Err(other) => return Err(other),
        }
    }
    if let Some(e) = first_error {
        return Err(BuildError::Input(e));
    }
    if !candidates.is_empty() {
        confirm_repeats(table, candidates.into_iter().map(|(_, id)| id))?;
    }
    readable_beyond_checks(table)
}

/// Reads the columns the row checks do not (text, lang, ...) to the end:
/// when the query failed and every checked column was fine, a damaged page
/// there is the likely cause, and the query engine's error would not name
/// the file.
fn readable_beyond_checks(table: &TableFile) -> Result<(), BuildError> {
    let builder = open(table)?;
    let others: Vec<usize> = (0..builder.schema().fields().len())
        .filter(|&i| !CHECKED.contains(&builder.schema().field(i).name().as_str()))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), others);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| table.damaged(0, e))?;
    let mut rows = 0u64;
    for batch in super::decoded(reader) {
        rows += batch.map_err(|e| table.damaged(rows, e))?.num_rows() as u64;
    }
    Ok(())
}

/// Reads the item ids once more, in file order, and fails at the first row
/// that repeats an earlier id among the candidates (ids a [`SeenIds`]
/// flagged; most are false positives).
pub fn confirm_repeats(table: &TableFile, candidates: impl IntoIterator<Item = String>) -> Result<(), BuildError> {
    let mut first_at: HashMap<String, Option<u64>> = candidates.into_iter().map(|id| (id, None)).collect();
    let builder = open(table)?;
    let id_column = builder.schema().index_of("item_id")?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [id_column]);
    let mut row = 0u64;
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| table.damaged(0, e))?;
    for batch in super::decoded(reader) {
        let batch = batch.map_err(|e| table.damaged(row, e))?;
        let ids = text(&batch, "item_id")?;
        for i in 0..batch.num_rows() {
            row += 1;
            let id = ids.value(i);
            if let Some(first) = first_at.get_mut(id) {
                match first {
                    None => *first = Some(row),
                    Some(first) => {
                        let message = format!("duplicate item_id {id:?} (first at {} {first})", table.row_label());
                        return Err(BuildError::Input(table.error_at(Some(row), Some("item_id"), message)));
                    }
                }
            }
        }
    }
    Ok(())
}
