//! The training data of a shard, as a pure function of the snapshot's shard
//! rows and the doc ids removed so far.

use std::collections::BTreeSet;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{ModelsError, io};

/// One row of a shard: its doc id and (redacted) text, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    pub doc_id: String,
    pub text: Option<String>,
}

/// The held-out slice: one doc id in sixteen, never trained on.
pub fn is_heldout(doc_id: &str) -> bool {
    doc_id.starts_with('0')
}

/// Reads `doc_id` and `text` of a shard file.
pub fn read_shard(path: &Path) -> Result<Vec<Doc>, ModelsError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["doc_id", "text"]);
    let mut docs = Vec::new();
    for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
        let batch = batch?;
        let (ids, texts) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for i in 0..batch.num_rows() {
            docs.push(Doc {
                doc_id: ids.value(i).to_string(),
                text: texts.is_valid(i).then(|| texts.value(i).to_string()),
            });
        }
    }
    Ok(docs)
}

/// The texts a shard model trains on: not held out, not removed, not empty.
pub fn training_texts<'a>(docs: &'a [Doc], removed: &'a BTreeSet<String>) -> impl Iterator<Item = &'a str> + 'a {
    docs.iter()
        .filter(move |d| !is_heldout(&d.doc_id) && !removed.contains(&d.doc_id))
        .filter_map(|d| d.text.as_deref())
}
