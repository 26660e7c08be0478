//! Typed access to the columns of a Parquet export table. Each column is
//! checked against the format once per file (a wrong type is an error naming
//! the file and field) and then normalised to one Arrow type per kind, so row
//! validation reads JSON Lines and Parquet the same way.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Date32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};

use super::TableFile;
use crate::error::BuildError;

/// What the format expects of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Text,
    /// A timestamp with a time zone, or RFC 3339 text.
    Instant,
    /// A date, or `YYYY-MM-DD` text.
    Date,
    /// A list of strings.
    TextList,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Expect::Text => "a string",
            Expect::Instant => "a timestamp with time zone, or an RFC 3339 string",
            Expect::Date => "a date, or a YYYY-MM-DD string",
            Expect::TextList => "a list of strings",
        }
    }

    fn accepts(self, t: &DataType) -> bool {
        let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
            || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8));
        match self {
            _ if *t == DataType::Null => true,
            Expect::Text => text,
            Expect::Instant => text || matches!(t, DataType::Timestamp(_, Some(_))),
            Expect::Date => text || matches!(t, DataType::Date32 | DataType::Date64),
            Expect::TextList => match t {
                DataType::List(f) | DataType::LargeList(f) => Expect::Text.accepts(f.data_type()),
                _ => false,
            },
        }
    }
}

/// Checks a file's schema: no unknown columns, every required column
/// present, every column of an accepted type.
pub(crate) fn check_schema(
    table: &TableFile,
    schema: &Schema,
    columns: &[(&str, Expect)],
    required: &[&str],
) -> Result<(), BuildError> {
    let err = |field: &str, message: String| BuildError::Input(table.error_at(None, Some(field), message));
    for f in schema.fields() {
        match columns.iter().find(|(name, _)| name == f.name()) {
            None => {
                let known: Vec<_> = columns.iter().map(|(n, _)| *n).collect();
                return Err(err(
                    f.name(),
                    format!("unknown column (known columns: {})", known.join(", ")),
                ));
            }
            Some((_, expect)) if !expect.accepts(f.data_type()) => {
                return Err(err(
                    f.name(),
                    format!("has type {}, expected {}", f.data_type(), expect.describe()),
                ));
            }
            Some(_) => {}
        }
    }
    for name in required {
        if schema.field_with_name(name).is_err() {
            return Err(err(name, "required column is missing".into()));
        }
    }
    Ok(())
}

fn column(batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
    batch.column_by_name(name).cloned()
}

/// A text column as `StringArray` (absent column = all null).
pub(crate) fn text(batch: &RecordBatch, name: &str) -> Result<StringArray, BuildError> {
    let array = match column(batch, name) {
        Some(a) => cast(&a, &DataType::Utf8)?,
        None => Arc::new(StringArray::new_null(batch.num_rows())),
    };
    Ok(array
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8")
        .clone())
}

/// An instant column: native microseconds, or text still to parse.
pub(crate) enum InstantColumn {
    Micros(TimestampMicrosecondArray),
    Text(StringArray),
}

/// A raw instant value of one row.
pub(crate) enum RawInstant<'a> {
    Null,
    Micros(i64),
    Text(&'a str),
}

impl InstantColumn {
    pub fn read(batch: &RecordBatch, name: &str) -> Result<InstantColumn, BuildError> {
        match column(batch, name) {
            Some(a) if matches!(a.data_type(), DataType::Timestamp(_, Some(_))) => {
                let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
                let micros = cast(&a, &utc)?;
                Ok(InstantColumn::Micros(
                    micros
                        .as_any()
                        .downcast_ref::<TimestampMicrosecondArray>()
                        .expect("cast to timestamp")
                        .clone(),
                ))
            }
            _ => Ok(InstantColumn::Text(text(batch, name)?)),
        }
    }

    pub fn get(&self, i: usize) -> RawInstant<'_> {
        match self {
            InstantColumn::Micros(a) if a.is_valid(i) => RawInstant::Micros(a.value(i)),
            InstantColumn::Text(a) if a.is_valid(i) => RawInstant::Text(a.value(i)),
            _ => RawInstant::Null,
        }
    }
}

/// A date column: native days, or text still to parse.
pub(crate) enum DateColumn {
    Days(Date32Array),
    Text(StringArray),
}

impl DateColumn {
    pub fn read(batch: &RecordBatch, name: &str) -> Result<DateColumn, BuildError> {
        match column(batch, name) {
            Some(a) if matches!(a.data_type(), DataType::Date32 | DataType::Date64) => {
                let days = cast(&a, &DataType::Date32)?;
                Ok(DateColumn::Days(
                    days.as_any()
                        .downcast_ref::<Date32Array>()
                        .expect("cast to date32")
                        .clone(),
                ))
            }
            _ => Ok(DateColumn::Text(text(batch, name)?)),
        }
    }

    /// The date as days since the epoch, or an error message.
    pub fn get(&self, i: usize) -> Result<Option<i32>, String> {
        match self {
            DateColumn::Days(a) => Ok(a.is_valid(i).then(|| a.value(i))),
            DateColumn::Text(a) if a.is_valid(i) => {
                veto_core::time::parse_date(a.value(i)).map(|d| Some(veto_core::time::to_days(d)))
            }
            DateColumn::Text(_) => Ok(None),
        }
    }
}
