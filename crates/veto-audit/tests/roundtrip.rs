//! Build → summaries → prove → verify on a generated platform, and the
//! checks that must fail when anything is altered.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::json;
use veto_audit::{proof, snapshot, summaries::PersonSummaries};
use veto_core::ledger::{Entry, GENESIS_PREV};
use veto_engine::build::DEFAULT_MEMORY_LIMIT;
use veto_engine::{BuildRequest, Destination, Manifest, OnError};

const SECRET: &[u8] = b"audit test secret";

struct Built {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    manifest: Manifest,
    objections: Vec<veto_core::Objection>,
    as_of: chrono::DateTime<chrono::Utc>,
    /// The engine's own per-person counts, taken while writing.
    tally: veto_engine::PersonTally,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn build() -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    veto_synth::generate(&data, 300, 21, veto_synth::Format::Parquet).unwrap();
    let objections = veto_engine::export::read_objections(&data.join("objections.jsonl")).unwrap();
    let as_of = veto_core::time::parse_rfc3339("2025-07-01T00:00:00Z").unwrap();
    let dir = tmp.path().join("snap");
    let req = BuildRequest {
        data_dir: data,
        policy: veto_core::Policy::preset("meta-2025").unwrap(),
        as_of,
        shards: 4,
        threads: 2,
        destination: Destination::Exact(dir.clone()),
        on_error: OnError::Abort,
        secret: SECRET.to_vec(),
        objections: objections.clone(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: false,
    };
    let outcome = rt().block_on(veto_engine::build(req)).unwrap();
    Built {
        _tmp: tmp,
        dir,
        manifest: outcome.manifest,
        tally: outcome.persons,
        objections,
        as_of,
    }
}

/// A ledger as the store would write it: genesis, then the snapshot entry.
fn ledger_for(dir: &Path, manifest: &Manifest) -> Vec<Entry> {
    use sha2::Digest;
    let bytes = std::fs::read(dir.join("manifest.json")).unwrap();
    let genesis = Entry::new(
        0,
        "ledger_created",
        "2025-01-01T00:00:00Z",
        json!({"public_key": "00"}),
        GENESIS_PREV,
    );
    let shards: Vec<_> = manifest
        .shards
        .iter()
        .map(|s| json!({"shard": s.shard, "rows": s.rows, "sha256": s.sha256, "merkle_root": s.merkle_root}))
        .collect();
    let payload = json!({
        "snapshot_id": manifest.snapshot_id,
        "manifest_sha256": hex::encode(sha2::Sha256::digest(&bytes)),
        "shards": shards,
    });
    let built = Entry::new(1, "snapshot_built", "2025-01-02T00:00:00Z", payload, &genesis.hash);
    vec![genesis, built]
}

#[test]
fn summaries_cover_every_item_once_and_match_the_manifest() {
    let b = build();
    let all = rt().block_on(async {
        let mut s = PersonSummaries::open(&b.dir, SECRET).await.unwrap();
        let mut all = Vec::new();
        loop {
            let chunk = s.next_chunk(50).await.unwrap();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        all
    });
    let ids: HashSet<&str> = all.iter().map(|p| p.person_id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "each person once, even across chunk boundaries");
    let included: u64 = all.iter().flat_map(|p| p.included_by_kind.values()).sum();
    let excluded: u64 = all.iter().flat_map(|p| p.excluded_by_reason.values()).sum();
    assert_eq!(included, b.manifest.items.included);
    assert_eq!(excluded, b.manifest.items.excluded);
    for p in &all {
        assert_eq!(p.shard.is_some(), !p.included_by_kind.is_empty(), "{}", p.person_id);
        assert_eq!(p.person_ref, veto_core::hashing::person_ref(SECRET, &p.person_id));
    }
    // In key order of the lookup table, so the store appends.
    assert!(all.windows(2).all(|w| w[0].person_ref < w[1].person_ref));
    // The counts the build took while writing (what the lookup stores) are
    // exactly what its files say.
    let from_files: std::collections::HashMap<&str, &veto_audit::summaries::PersonSummary> =
        all.iter().map(|p| (p.person_id.as_str(), p)).collect();
    let mut tallied = 0;
    for (i, id) in b.tally.persons() {
        let counted = b.tally.counts(i);
        let read = from_files[id];
        assert_eq!(counted.shard, read.shard, "{id}");
        assert_eq!(counted.included_by_kind, read.included_by_kind, "{id}");
        assert_eq!(counted.included_by_platform, read.included_by_platform, "{id}");
        assert_eq!(counted.excluded_by_reason, read.excluded_by_reason, "{id}");
        tallied += 1;
    }
    assert_eq!(tallied, all.len(), "the same persons");
}

#[test]
fn an_included_persons_proof_verifies_and_any_alteration_fails() {
    let b = build();
    let ledger = ledger_for(&b.dir, &b.manifest);
    // A person with included items.
    let index = std::fs::File::open(b.dir.join("index.parquet")).unwrap();
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(index)
        .unwrap()
        .build()
        .unwrap();
    let first = reader.into_iter().next().unwrap().unwrap();
    let person = datafusion::arrow::array::AsArray::as_string::<i32>(first.column_by_name("person_id").unwrap())
        .value(0)
        .to_string();

    let bundle = proof::prove(&b.dir, &person, SECRET).unwrap();
    assert!(!bundle.included.is_empty());
    let check = proof::verify(&bundle, &ledger, Some(&b.dir)).unwrap();
    assert!(check.ok(), "{:?}", check.failures);
    assert_eq!(check.included_verified, bundle.included.len());

    // The text the bundle shows is the redacted training text: change it and the proof fails.
    let mut altered = bundle.clone();
    altered.included[0].row.text = Some("something else".into());
    assert!(!proof::verify(&altered, &ledger, None).unwrap().ok());
    // A wrong path element fails.
    let mut altered = bundle.clone();
    if let Some(p) = altered.included[0].path.first_mut() {
        *p = "00".repeat(32);
        assert!(!proof::verify(&altered, &ledger, None).unwrap().ok());
    }
    // A ledger that recorded another root fails.
    let mut other = ledger.clone();
    other[1].payload["shards"][bundle.shard.unwrap() as usize]["merkle_root"] = json!("ff".repeat(32));
    assert!(!proof::verify(&bundle, &other, None).unwrap().ok());
}

#[test]
fn a_person_who_objected_before_the_build_has_no_doc_id_in_any_shard() {
    let b = build();
    let ledger = ledger_for(&b.dir, &b.manifest);
    let objector = b
        .objections
        .iter()
        .find(|o| o.scope == veto_core::ObjectionScope::All && o.in_force_at(b.as_of))
        .expect("the generator makes such objections")
        .person_id
        .clone();
    let bundle = proof::prove(&b.dir, &objector, SECRET).unwrap();
    assert!(bundle.included.is_empty());
    assert!(
        bundle.excluded.iter().any(|e| e.reason == "objection"),
        "{:?}",
        bundle.excluded
    );
    let check = proof::verify(&bundle, &ledger, Some(&b.dir)).unwrap();
    assert!(check.ok(), "{:?}", check.failures);
    assert_eq!(check.absence_verified, Some(bundle.excluded.len()));

    // Independently: no shard holds any doc_id of the objector's items.
    let doc_ids: HashSet<String> = bundle.excluded.iter().map(|e| e.doc_id.clone()).collect();
    for s in &b.manifest.shards {
        let f = std::fs::File::open(b.dir.join(&s.file)).unwrap();
        for batch in datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let ids = datafusion::arrow::array::AsArray::as_string::<i32>(batch.column_by_name("doc_id").unwrap());
            for i in 0..batch.num_rows() {
                assert!(!doc_ids.contains(ids.value(i)));
            }
        }
    }

    // A claimed absence is caught when the doc_id is in fact in a shard.
    let mut lie = bundle.clone();
    let f = std::fs::File::open(b.dir.join(&b.manifest.shards[0].file)).unwrap();
    let batch = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let present = datafusion::arrow::array::AsArray::as_string::<i32>(batch.column_by_name("doc_id").unwrap())
        .value(0)
        .to_string();
    lie.excluded[0].doc_id = present;
    assert!(!proof::verify(&lie, &ledger, Some(&b.dir)).unwrap().ok());
}

#[test]
fn a_snapshot_verifies_and_a_changed_shard_is_caught() {
    let b = build();
    let ledger = ledger_for(&b.dir, &b.manifest);
    let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
    assert!(check.ok(), "{:?}", check.failures);
    assert_eq!(check.rows_checked, b.manifest.items.included);

    // Replace one shard by another shard's file: hash and root no longer match.
    let (a, z) = (&b.manifest.shards[0], &b.manifest.shards[1]);
    std::fs::copy(b.dir.join(&z.file), b.dir.join(&a.file)).unwrap();
    let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
    assert!(!check.ok());
    assert!(
        check.failures.iter().any(|f| f.contains(&a.file)),
        "{:?}",
        check.failures
    );
}
