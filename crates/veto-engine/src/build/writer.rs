//! Parquet sinks for a snapshot: shards with their Merkle leaves, the private
//! index, and the exclusions.
//!
//! Determinism: the query engine hands over sorted rows in batches whose
//! boundaries depend on the thread count, and Parquet page boundaries follow
//! batch boundaries. Every sink therefore re-chunks its input into batches of
//! exactly [`CHUNK_ROWS`] rows, so the bytes depend only on the rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt32Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use veto_core::hashing::merkle_root;

use crate::error::BuildError;
use veto_snapshot::manifest::{FileInfo, ShardInfo};
use veto_snapshot::sha256_file;

pub const CHUNK_ROWS: usize = 8192;
/// zstd level 1: compresses several times faster than the default 3 for a
/// few percent more bytes, and decompresses as fast.
const ZSTD_LEVEL: i32 = 1;
/// Columns with (nearly) one value per row: written without a dictionary.
const UNIQUE_COLUMNS: &[&str] = &["doc_id", "text", "item_id", "person_id", "leaf_hash", "media_sha256"];
const ROW_GROUP_ROWS: usize = 128 * 1024;

fn utf8(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

/// Columns of a training shard. No person ids.
pub static SHARD_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("doc_id", false),
        utf8("text", true),
        utf8("platform", false),
        utf8("kind", false),
        utf8("lang", true),
        utf8("media_sha256", true),
    ]))
});

/// Columns of the private index of included items.
pub static INDEX_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("item_id", false),
        utf8("person_id", false),
        utf8("doc_id", false),
        Field::new("shard", DataType::UInt32, false),
        Field::new("leaf_hash", DataType::FixedSizeBinary(32), false),
        utf8("platform", false),
        utf8("kind", false),
    ]))
});

/// Columns of the private list of excluded items.
pub static EXCLUSIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        utf8("item_id", false),
        utf8("person_id", false),
        utf8("reason", false),
    ]))
});

/// One Parquet file written in fixed-size chunks. Encoding and compression
/// run on a thread of their own, so the single consumer of the sorted stream
/// only re-chunks and hands batches over.
pub struct ParquetSink {
    path: PathBuf,
    schema: SchemaRef,
    sender: Option<SyncSender<RecordBatch>>,
    encoder: Option<JoinHandle<Result<(), BuildError>>>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
}

/// A sink whose last rows are handed over and whose file is being finished
/// in the background.
pub struct ClosingFile {
    path: PathBuf,
    rows: u64,
    encoder: JoinHandle<Result<(), BuildError>>,
}

impl ClosingFile {
    /// Waits for the file to be complete and describes it relative to `root`.
    pub fn wait(self, root: &Path) -> Result<FileInfo, BuildError> {
        join_encoder(self.encoder, &self.path)?;
        describe(&self.path, root, Some(self.rows))
    }
}

fn join_encoder(encoder: JoinHandle<Result<(), BuildError>>, path: &Path) -> Result<(), BuildError> {
    encoder
        .join()
        .map_err(|_| BuildError::Refused(format!("internal: the writer of {} panicked", path.display())))?
}

/// Batches in flight to one encoder thread.
const QUEUED_CHUNKS: usize = 4;

impl ParquetSink {
    pub fn create(path: PathBuf, schema: SchemaRef) -> Result<ParquetSink, BuildError> {
        Self::create_with(path, schema, &[])
    }

    /// Like [`ParquetSink::create`], with `uncompressed` columns stored
    /// without compression.
    pub fn create_with(path: PathBuf, schema: SchemaRef, uncompressed: &[&str]) -> Result<ParquetSink, BuildError> {
        let file = std::fs::File::create(&path).map_err(BuildError::io(&path))?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            // Readers prune by row group; per-page min/max of unique strings
            // cost a comparison per value and help no one.
            .set_statistics_enabled(EnabledStatistics::Chunk);
        for field in schema.fields() {
            if uncompressed.contains(&field.name().as_str()) {
                props =
                    props.set_column_compression(ColumnPath::from(field.name().as_str()), Compression::UNCOMPRESSED);
            }
            if UNIQUE_COLUMNS.contains(&field.name().as_str()) {
                // A dictionary of unique values only grows until the writer
                // gives up on it: skip the attempt.
                props = props.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
        let props = props.build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        let (sender, receiver) = sync_channel::<RecordBatch>(QUEUED_CHUNKS);
        let encoder = std::thread::Builder::new()
            .name("veto-parquet".into())
            .spawn(move || {
                for batch in receiver {
                    writer.write(&batch)?;
                }
                writer.close()?;
                Ok(())
            })
            .map_err(BuildError::io(&path))?;
        Ok(ParquetSink {
            path,
            schema,
            sender: Some(sender),
            encoder: Some(encoder),
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
        })
    }

    fn send(&mut self, batch: RecordBatch) -> Result<(), BuildError> {
        let sender = self.sender.as_ref().expect("open until closed");
        if sender.send(batch).is_ok() {
            return Ok(());
        }
        // The encoder stopped early: its error is the one to report.
        self.sender = None;
        if let Some(encoder) = self.encoder.take() {
            join_encoder(encoder, &self.path)?;
        }
        Err(BuildError::Refused(format!(
            "internal: the writer of {} stopped",
            self.path.display()
        )))
    }

    pub fn write(&mut self, batch: RecordBatch) -> Result<(), BuildError> {
        if self.pending_rows == 0 && batch.num_rows() == CHUNK_ROWS {
            // Already one chunk: no copy.
            self.rows += CHUNK_ROWS as u64;
            return self.send(batch);
        }
        self.pending_rows += batch.num_rows();
        self.rows += batch.num_rows() as u64;
        self.pending.push(batch);
        if self.pending_rows >= CHUNK_ROWS {
            let all = concat_batches(&self.schema, &self.pending)?;
            self.pending.clear();
            let full = all.num_rows() / CHUNK_ROWS * CHUNK_ROWS;
            for start in (0..full).step_by(CHUNK_ROWS) {
                self.send(all.slice(start, CHUNK_ROWS))?;
            }
            self.pending_rows = all.num_rows() - full;
            if self.pending_rows > 0 {
                self.pending.push(all.slice(full, self.pending_rows));
            }
        }
        Ok(())
    }

    /// Hands over what is left and lets the file finish in the background.
    pub fn close(mut self) -> Result<ClosingFile, BuildError> {
        if self.pending_rows > 0 {
            let rest = concat_batches(&self.schema, &self.pending)?;
            self.send(rest)?;
        }
        drop(self.sender.take());
        let encoder = self.encoder.take().expect("encoder runs until closed");
        Ok(ClosingFile {
            path: self.path,
            rows: self.rows,
            encoder,
        })
    }

    /// Writes what is left, closes the file and describes it relative to `root`.
    pub fn finish(self, root: &Path) -> Result<FileInfo, BuildError> {
        self.close()?.wait(root)
    }
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    a.is_valid(i).then(|| a.value(i))
}

/// Size, SHA-256 and relative name of a finished file.
pub fn describe(path: &Path, root: &Path, rows: Option<u64>) -> Result<FileInfo, BuildError> {
    let (sha256, bytes) = sha256_file(path)?;
    let file = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
    Ok(FileInfo {
        file,
        rows,
        bytes,
        sha256,
    })
}

struct OpenShard {
    shard: u32,
    sink: ParquetSink,
    leaves: Vec<[u8; 32]>,
}

/// What the writer counts of a snapshot's shards, for the manifest and the
/// public summary (the rest is counted by `veto_reason`: `IncludedFacts`).
#[derive(Debug, Default)]
pub struct ShardStats {
    /// `"unknown"` for items without a language.
    pub by_lang: BTreeMap<String, u64>,
    /// UTF-8 bytes of redacted text in the shards.
    pub text_bytes: u64,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Receives included rows sorted by (shard, doc_id) and writes each shard
/// file in turn, its Merkle leaves, and the index.
///
/// Input columns: shard, doc_id, text, platform, kind, lang, media_sha256,
/// item_id, person_id, leaf_hash (32 bytes).
pub struct ShardSink {
    root: PathBuf,
    shard_count: u32,
    open: Option<OpenShard>,
    /// Shards being finished in the background (file, then Merkle root).
    closing: Vec<JoinHandle<Result<ShardInfo, BuildError>>>,
    next: u32,
    index: ParquetSink,
    pub shards: Vec<ShardInfo>,
    pub stats: ShardStats,
}

impl ShardSink {
    pub fn create(root: &Path, shard_count: u32) -> Result<ShardSink, BuildError> {
        let dir = root.join("shards");
        std::fs::create_dir_all(&dir).map_err(BuildError::io(&dir))?;
        Ok(ShardSink {
            root: root.to_path_buf(),
            shard_count,
            open: None,
            closing: Vec::new(),
            next: 0,
            // SHA-256 output does not compress, and hex doc ids only 2.3x: at
            // 10M items they were 156 of the 277 MB zstd read for the private
            // index (the public shards keep their doc ids compressed: there,
            // size matters more).
            index: ParquetSink::create_with(
                root.join("index.parquet"),
                INDEX_SCHEMA.clone(),
                &["doc_id", "leaf_hash"],
            )?,
            shards: Vec::new(),
            stats: ShardStats::default(),
        })
    }

    fn shard_path(&self, shard: u32) -> PathBuf {
        self.root.join("shards").join(format!("shard-{shard:05}.parquet"))
    }

    /// Closes open shards and creates (empty) ones until `shard` is open.
    fn open_shard(&mut self, shard: u32) -> Result<(), BuildError> {
        if self.open.as_ref().is_some_and(|o| o.shard == shard) {
            return Ok(());
        }
        self.close_open()?;
        while self.next <= shard {
            let sink = ParquetSink::create(self.shard_path(self.next), SHARD_SCHEMA.clone())?;
            let open = OpenShard {
                shard: self.next,
                sink,
                leaves: Vec::new(),
            };
            self.next += 1;
            if open.shard == shard {
                self.open = Some(open);
            } else {
                self.close(open)?;
            }
        }
        Ok(())
    }

    fn close(&mut self, open: OpenShard) -> Result<(), BuildError> {
        let file = open.sink.close()?;
        let root = self.root.clone();
        let OpenShard { shard, leaves, .. } = open;
        let finishing = std::thread::Builder::new()
            .name("veto-shard".into())
            .spawn(move || {
                let merkle_root = hex::encode(merkle_root(&leaves));
                let info = file.wait(&root)?;
                Ok(ShardInfo {
                    shard,
                    file: info.file,
                    rows: info.rows.unwrap_or(0),
                    bytes: info.bytes,
                    sha256: info.sha256,
                    merkle_root,
                })
            })
            .map_err(BuildError::io(&self.root))?;
        self.closing.push(finishing);
        Ok(())
    }

    fn close_open(&mut self) -> Result<(), BuildError> {
        match self.open.take() {
            Some(open) => self.close(open),
            None => Ok(()),
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), BuildError> {
        let shard_col = batch.column(0).as_primitive::<UInt32Type>();
        let mut start = 0;
        while start < batch.num_rows() {
            let shard = shard_col.value(start);
            let mut end = start + 1;
            while end < batch.num_rows() && shard_col.value(end) == shard {
                end += 1;
            }
            if shard >= self.shard_count || shard + 1 < self.next {
                return Err(BuildError::Refused(format!(
                    "internal: rows for shard {shard} arrived out of order"
                )));
            }
            self.open_shard(shard)?;
            self.write_run(&batch.slice(start, end - start), shard)?;
            start = end;
        }
        Ok(())
    }

    fn write_run(&mut self, run: &RecordBatch, shard: u32) -> Result<(), BuildError> {
        let col = |i: usize| -> &StringArray { run.column(i).as_string::<i32>() };
        let (text, lang) = (col(2), col(5));
        let leaf_hashes = run.column(9).as_fixed_size_binary();
        let open = self.open.as_mut().expect("shard opened above");
        let stats = &mut self.stats;
        for i in 0..run.num_rows() {
            bump(&mut stats.by_lang, opt(lang, i).unwrap_or("unknown"));
            stats.text_bytes += opt(text, i).map_or(0, |t| t.len() as u64);
            let leaf: [u8; 32] = leaf_hashes
                .value(i)
                .try_into()
                .map_err(|_| BuildError::Refused("internal: a leaf hash is not 32 bytes".into()))?;
            open.leaves.push(leaf);
        }
        let shard_columns: Vec<ArrayRef> = (1..=6).map(|i| run.column(i).clone()).collect();
        open.sink
            .write(RecordBatch::try_new(SHARD_SCHEMA.clone(), shard_columns)?)?;
        let index_columns: Vec<ArrayRef> = vec![
            run.column(7).clone(),
            run.column(8).clone(),
            run.column(1).clone(),
            Arc::new(UInt32Array::from(vec![shard; run.num_rows()])),
            run.column(9).clone(),
            run.column(3).clone(),
            run.column(4).clone(),
        ];
        self.index
            .write(RecordBatch::try_new(INDEX_SCHEMA.clone(), index_columns)?)
    }

    /// Closes the last shard, writes empty files for shards that got no
    /// rows, and returns the index description.
    pub fn finish(mut self) -> Result<(Vec<ShardInfo>, FileInfo, ShardStats), BuildError> {
        if self.shard_count > 0 {
            self.open_shard(self.shard_count - 1)?;
        }
        self.close_open()?;
        for finishing in self.closing {
            let info = finishing
                .join()
                .map_err(|_| BuildError::Refused("internal: a shard writer panicked".into()))??;
            self.shards.push(info);
        }
        let index = self.index.finish(&self.root)?;
        Ok((self.shards, index, self.stats))
    }
}
