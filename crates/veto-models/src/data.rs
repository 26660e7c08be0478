//! The training data of a shard, as a pure function of the snapshot's shard
//! rows and the doc ids removed so far.

use std::collections::BTreeSet;
use std::path::Path;

use arrow::array::{Array, AsArray, BooleanArray, StringArray};
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_core::hashing::{LeafData, leaf_hash, merkle_root};

use crate::{ModelsError, io};

/// One row of a shard: its doc id and (redacted) text, if any.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    pub doc_id: String,
    pub text: Option<String>,
}

pub use veto_core::hashing::is_heldout;

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

/// The training set of one shard at one model version: the shard's rows,
/// all columns, minus the held-out slice and the removed doc ids, in doc_id
/// order (the shard's order). Its root is the RFC 6962 Merkle root over the
/// rows' leaf hashes (the same leaves as the snapshot's shard tree), so it
/// names exactly what a trainer was given, whatever the trainer.
pub struct TrainingSet {
    pub schema: arrow::datatypes::SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub root: [u8; 32],
}

/// Kept rows of some row groups and their leaves, in file order.
type Part = (Vec<RecordBatch>, Vec<[u8; 32]>);

impl TrainingSet {
    /// Reads a shard file and keeps the rows a model may train on, on up to
    /// `threads` threads (each reads consecutive row groups; the parts are
    /// joined in file order, so the set is the same for any thread count).
    pub fn read(path: &Path, removed: &BTreeSet<String>, threads: usize) -> Result<TrainingSet, ModelsError> {
        let file = std::fs::File::open(path).map_err(io(path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let schema = builder.schema().clone();
        let groups = builder.metadata().num_row_groups();
        let per = groups.div_ceil(threads.clamp(1, groups.max(1))).max(1);
        let chunks: Vec<Vec<usize>> = (0..groups)
            .collect::<Vec<_>>()
            .chunks(per)
            .map(<[usize]>::to_vec)
            .collect();
        // Hashed: every row's doc id is looked up.
        let removed: rustc_hash::FxHashSet<&str> = removed.iter().map(String::as_str).collect();
        let parts: Vec<Result<Part, ModelsError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let removed = &removed;
                    scope.spawn(move || read_part(path, chunk, removed))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(ModelsError::Internal("a reader thread panicked".into())))
                })
                .collect()
        });
        let (mut batches, mut leaves) = (Vec::new(), Vec::new());
        for part in parts {
            let (b, l) = part?;
            batches.extend(b);
            leaves.extend(l);
        }
        Ok(TrainingSet {
            schema,
            rows: leaves.len() as u64,
            root: merkle_root(&leaves),
            batches,
        })
    }

    /// The texts of the set (rows without text, such as photos, have none).
    pub fn texts(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.rows as usize);
        for b in &self.batches {
            if let Some(t) = b.column_by_name("text").and_then(|c| c.as_string_opt::<i32>()) {
                out.extend(t.iter().flatten());
            }
        }
        out
    }
}

/// The kept rows of row groups `groups` of a shard file, with their leaves.
fn read_part(path: &Path, groups: Vec<usize>, removed: &rustc_hash::FxHashSet<&str>) -> Result<Part, ModelsError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_row_groups(groups)
        .with_batch_size(65_536)
        .build()?;
    let (mut batches, mut leaves) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    for batch in reader {
        let batch = batch?;
        let col = |name: &str| -> Result<&StringArray, ModelsError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| ModelsError::Format {
                    path: path.to_path_buf(),
                    message: format!("no text column {name}"),
                })
        };
        let (ids, texts, platforms, kinds, langs, media) = (
            col("doc_id")?,
            col("text")?,
            col("platform")?,
            col("kind")?,
            col("lang")?,
            col("media_sha256")?,
        );
        fn opt(a: &StringArray, i: usize) -> Option<&str> {
            a.is_valid(i).then(|| a.value(i))
        }
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let id = ids.value(i);
            let kept = !is_heldout(id) && !removed.contains(id);
            keep.push(kept);
            if kept {
                LeafData {
                    doc_id: id,
                    text: opt(texts, i),
                    platform: platforms.value(i),
                    kind: kinds.value(i),
                    lang: opt(langs, i),
                    media_sha256: opt(media, i),
                }
                .canonical_bytes(&mut buf);
                leaves.push(leaf_hash(&buf));
            }
        }
        batches.push(filter_record_batch(&batch, &BooleanArray::from(keep))?);
    }
    Ok((batches, leaves))
}

/// The texts a shard model trains on: not held out, not removed, not empty.
pub fn training_texts<'a>(docs: &'a [Doc], removed: &'a BTreeSet<String>) -> impl Iterator<Item = &'a str> + 'a {
    docs.iter()
        .filter(move |d| !is_heldout(&d.doc_id) && !removed.contains(&d.doc_id))
        .filter_map(|d| d.text.as_deref())
}
