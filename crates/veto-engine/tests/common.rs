//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use veto_core::{Objection, Policy};
use veto_engine::build::{BuildOutcome, DEFAULT_MEMORY_LIMIT};
use veto_engine::{BuildError, BuildRequest, Destination, OnError};

pub const SECRET: &[u8] = b"test installation secret";

pub fn generate(dir: &Path, persons: usize, seed: u64, format: veto_synth::Format) -> Vec<Objection> {
    veto_synth::generate(dir, persons, seed, format).unwrap();
    veto_engine::export::read_objections(&dir.join("objections.jsonl")).unwrap()
}

/// An export in format v1.1 (with `tagged` and `usage`).
pub fn generate_v1_1(dir: &Path, persons: usize, seed: u64, format: veto_synth::Format) -> Vec<Objection> {
    let max_posts = veto_synth::DEFAULT_MAX_POSTS;
    veto_synth::generate_export(dir, persons, max_posts, seed, format, veto_synth::Version::V1_1).unwrap();
    veto_engine::export::read_objections(&dir.join("objections.jsonl")).unwrap()
}

pub fn request(data: &Path, out: PathBuf, objections: Vec<Objection>) -> BuildRequest {
    let policy = Policy::preset("meta-2025").unwrap();
    BuildRequest {
        data_dir: data.to_path_buf(),
        as_of: veto_core::time::parse_rfc3339("2025-07-01T00:00:00Z").unwrap(),
        policy,
        shards: 8,
        threads: 2,
        destination: Destination::Exact(out),
        on_error: OnError::Abort,
        secret: SECRET.to_vec(),
        objections,
        third_parties: Vec::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: false,
    }
}

pub fn run(req: BuildRequest) -> Result<BuildOutcome, BuildError> {
    let threads = req.threads;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .unwrap()
        .block_on(veto_engine::build(req))
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The values of a string column over all batches (None for null).
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let a = b.column_by_name(column).unwrap_or_else(|| panic!("column {column}"));
        let a = a.as_string::<i32>();
        out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_string())));
    }
    out
}

/// Names of leftover entries in `dir` (staging directories would show up here).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
