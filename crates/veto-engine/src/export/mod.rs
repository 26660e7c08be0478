//! Reading a platform export (format v1, see `docs/export-format.md`) and
//! objection files, with every bad row reported by file, row and field.
//!
//! Persons are loaded into memory (they are the small side of every join);
//! items are streamed and validated, and either checked in place (Parquet
//! with native types, failing on the first bad row) or staged as Parquet for
//! the query engine.

mod check;
mod columns;
mod items;
mod json;
mod objections;
mod persons;
mod plausible;
mod seen;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use check::{CHECKED, check_in_place, confirm_repeats, queryable_rows};
pub use items::{ItemColumns, tagged_type, validate_fields};
pub use items::{StagedItems, stage_items};
pub use objections::{ObjectionFile, read_objection_file, read_objections};
pub use persons::{Named, PersonTable, Persons, load_persons, load_persons_naming};
pub use seen::SeenIds;

use crate::error::{BuildError, InputError};

/// The two on-disk encodings of an export table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    Parquet,
    JsonLines,
}

/// One table of an export, found in the export directory.
#[derive(Clone, Debug)]
pub struct TableFile {
    pub path: PathBuf,
    pub format: TableFormat,
}

impl TableFile {
    /// Finds `<name>.parquet` or `<name>.jsonl` in `dir`; exactly one must exist.
    pub fn locate(dir: &Path, name: &str) -> Result<TableFile, BuildError> {
        let parquet = dir.join(format!("{name}.parquet"));
        let jsonl = dir.join(format!("{name}.jsonl"));
        let whole_file = |message: String| {
            BuildError::Input(InputError {
                file: format!("{name}.parquet|jsonl"),
                row: None,
                row_label: "row",
                field: None,
                message,
            })
        };
        match (parquet.is_file(), jsonl.is_file()) {
            (true, false) => Ok(TableFile {
                path: parquet,
                format: TableFormat::Parquet,
            }),
            (false, true) => Ok(TableFile {
                path: jsonl,
                format: TableFormat::JsonLines,
            }),
            (true, true) => Err(whole_file(format!(
                "both {name}.parquet and {name}.jsonl are in {}; keep one",
                dir.display()
            ))),
            (false, false) => Err(whole_file(format!(
                "neither {name}.parquet nor {name}.jsonl is in {}",
                dir.display()
            ))),
        }
    }

    /// The file name used in error messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub(crate) fn row_label(&self) -> &'static str {
        match self.format {
            TableFormat::Parquet => "row",
            TableFormat::JsonLines => "line",
        }
    }

    /// A Parquet file its reader cannot read: truncated, or a damaged footer
    /// or page. An error of the whole file (quarantine does not apply: no
    /// row can be set aside), naming how far reading got.
    pub(crate) fn damaged(&self, rows_read: u64, e: impl std::fmt::Display) -> BuildError {
        let message = match rows_read {
            0 => format!("not a readable Parquet file (truncated or damaged): {e}"),
            n => format!("damaged Parquet file, unreadable after row {n}: {e}"),
        };
        BuildError::Input(self.error_at(None, None, message))
    }

    /// An error at `row` (1-based) and `field` of this table.
    pub(crate) fn error_at(&self, row: Option<u64>, field: Option<&str>, message: impl Into<String>) -> InputError {
        InputError {
            file: self.name(),
            row,
            row_label: self.row_label(),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }
}

/// The batches of a Parquet reader, where a panic while decoding one is an
/// error like any other damage. The parquet crate asserts on some damaged
/// pages instead of returning an error (a dictionary page whose index bit
/// width exceeds 32, found by fuzzing: `fuzz/regressions/parquet_export`);
/// a damaged export must be an input error naming the file, not a crash.
/// Decoding is then over: the reader's state after a panic is unknown.
pub(crate) fn decoded(
    mut reader: datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader,
) -> impl Iterator<Item = Result<datafusion::arrow::array::RecordBatch, datafusion::arrow::error::ArrowError>> {
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next())) {
            Ok(next) => next,
            Err(panic) => {
                failed = true;
                Some(Err(datafusion::arrow::error::ArrowError::ParquetError(format!(
                    "the decoder failed on a damaged page: {}",
                    panic_message(&*panic)
                ))))
            }
        }
    })
}

/// The reader of a Parquet file, its footer decoded; a panic while decoding
/// the footer is the damaged-file error, as in [`decoded`] (arrow-ipc
/// panics on an embedded Arrow schema naming type NONE, found by fuzzing:
/// `fuzz/regressions/parquet_export`).
pub(crate) fn open_parquet(
    table: &TableFile,
    file: File,
) -> Result<datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>, BuildError> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetRecordBatchReaderBuilder::try_new(file)
    })) {
        Ok(opened) => opened.map_err(|e| table.damaged(0, e)),
        Err(panic) => Err(table.damaged(
            0,
            format!("the decoder failed on a damaged footer: {}", panic_message(&*panic)),
        )),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// What to do with a bad row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop at the first bad row; write nothing.
    #[default]
    Abort,
    /// Write the row and its error to `rejected.jsonl`, and go on.
    Quarantine,
}

/// Where rejected rows go: nowhere (abort) or `rejected.jsonl`.
pub struct Rejections {
    mode: OnError,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    pub persons: u64,
    pub items: u64,
}

impl Rejections {
    pub fn new(mode: OnError, path: PathBuf) -> Rejections {
        Rejections {
            mode,
            path,
            out: None,
            persons: 0,
            items: 0,
        }
    }

    /// Records a bad row. In abort mode this is the build's error.
    pub fn reject(&mut self, error: InputError, record: serde_json::Value, is_person: bool) -> Result<(), BuildError> {
        if self.mode == OnError::Abort {
            return Err(BuildError::Input(error));
        }
        if self.out.is_none() {
            let f = File::create(&self.path).map_err(BuildError::io(&self.path))?;
            self.out = Some(BufWriter::new(f));
        }
        let line = serde_json::json!({
            "file": error.file,
            "row": error.row,
            "field": error.field,
            "error": error.message,
            "record": record,
        });
        let out = self.out.as_mut().expect("opened above");
        writeln!(out, "{line}").map_err(BuildError::io(&self.path))?;
        if is_person {
            self.persons += 1
        } else {
            self.items += 1
        }
        Ok(())
    }

    pub fn mode(&self) -> OnError {
        self.mode
    }

    /// Flushes and closes `rejected.jsonl`; returns its path if any row was rejected.
    pub fn finish(mut self) -> Result<Option<PathBuf>, BuildError> {
        match self.out.take() {
            None => Ok(None),
            Some(mut out) => {
                out.flush().map_err(BuildError::io(&self.path))?;
                Ok(Some(self.path))
            }
        }
    }
}
