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
        third_parties: Vec::new(),
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

#[test]
fn every_file_the_manifest_names_is_rehashed_and_an_edit_to_any_is_caught() {
    let b = build();
    let ledger = ledger_for(&b.dir, &b.manifest);
    let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
    assert!(check.ok(), "{:?}", check.failures);
    let named = 3 + b.manifest.shards.len() + usize::from(b.manifest.rejected.is_some());
    assert_eq!(check.files_checked, named);

    // Before, only the shards were re-hashed: each of these edits said "ok".
    for file in ["policy.toml", "index.parquet", "exclusions.parquet"] {
        let path = b.dir.join(file);
        let original = std::fs::read(&path).unwrap();
        let mut edited = original.clone();
        if file == "policy.toml" {
            edited.extend_from_slice(b"\nlate_objections = \"ignore\"\n");
        } else {
            // Same size: only the hash can tell.
            let middle = edited.len() / 2;
            edited[middle] ^= 0x01;
        }
        std::fs::write(&path, &edited).unwrap();
        let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
        assert!(
            check
                .failures
                .iter()
                .any(|f| f.starts_with(&format!("{file}: SHA-256"))),
            "{file}: {:?}",
            check.failures
        );
        std::fs::remove_file(&path).unwrap();
        let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
        assert!(
            check.failures.contains(&format!("{file}: missing from the snapshot")),
            "{file}: {:?}",
            check.failures
        );
        std::fs::write(&path, &original).unwrap();
    }
    assert!(snapshot::verify(&b.dir, Some(&ledger)).unwrap().ok());

    // A missing shard is named too, and the other shards are still checked.
    let shard = b.dir.join(&b.manifest.shards[0].file);
    std::fs::remove_file(&shard).unwrap();
    let check = snapshot::verify(&b.dir, Some(&ledger)).unwrap();
    assert_eq!(
        check.failures,
        [format!("{}: missing from the snapshot", b.manifest.shards[0].file)]
    );
    assert_eq!(check.shards_checked, b.manifest.shards.len() - 1);
}

#[test]
fn a_manifest_that_names_a_file_outside_the_snapshot_or_repeats_a_key_is_refused() {
    let b = build();
    let path = b.dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["index"]["file"] = json!("../../outside.parquet");
    std::fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    let check = snapshot::verify(&b.dir, None).unwrap();
    assert!(
        check.failures.iter().any(|f| f.contains("outside the snapshot")),
        "{:?}",
        check.failures
    );
    // A second "shards" key: serde_json would read only the last one.
    let doubled = text.replacen("{\n", "{\n  \"shards\": [],\n", 1);
    std::fs::write(&path, doubled).unwrap();
    let e = snapshot::verify(&b.dir, None).unwrap_err();
    assert!(e.to_string().contains("duplicate key \"shards\""), "{e}");
}

#[test]
fn a_proof_with_changed_top_level_claims_or_a_duplicated_item_is_refused() {
    let b = build();
    let ledger = ledger_for(&b.dir, &b.manifest);
    let index = std::fs::File::open(b.dir.join("index.parquet")).unwrap();
    let first = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(index)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let person = datafusion::arrow::array::AsArray::as_string::<i32>(first.column_by_name("person_id").unwrap())
        .value(0)
        .to_string();
    let text = serde_json::to_string_pretty(&proof::prove(&b.dir, &person, SECRET).unwrap()).unwrap();
    let bundle = proof::ProofBundle::from_json(&text).unwrap();
    assert!(proof::verify(&bundle, &ledger, None).unwrap().ok());

    // Each of these verified before: the items' paths still lead to the
    // ledger's root, but the bundle claims something else at the top.
    let tampered = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        change(&mut v);
        let bundle = proof::ProofBundle::from_json(&v.to_string()).unwrap();
        proof::verify(&bundle, &ledger, None).unwrap().failures
    };
    let expect = |failures: Vec<String>, word: &str| {
        assert!(failures.iter().any(|f| f.contains(word)), "{word}: {failures:?}");
    };
    expect(tampered(&|v| v["merkle_root"] = json!("ff".repeat(32))), "merkle_root");
    expect(
        tampered(&|v| v["tree_size"] = json!(v["tree_size"].as_u64().unwrap() + 1)),
        "tree_size",
    );
    expect(tampered(&|v| v["format"] = json!("veto-proof/9")), "format");
    expect(
        tampered(&|v| {
            let first = v["included"][0].clone();
            v["included"].as_array_mut().unwrap().push(first);
        }),
        "more than once",
    );
    expect(
        tampered(&|v| {
            v["shard"] = json!(null);
            v["tree_size"] = json!(null);
            v["merkle_root"] = json!(null);
        }),
        "names no shard",
    );

    // Parsed strictly: unknown fields and duplicated keys never reach the checks.
    let noted = text.replacen("{\n", "{\n  \"note\": \"verified by the operator\",\n", 1);
    assert!(proof::ProofBundle::from_json(&noted).is_err());
    let doubled = text.replacen("{\n", &format!("{{\n  \"merkle_root\": \"{}\",\n", "ff".repeat(32)), 1);
    let e = proof::ProofBundle::from_json(&doubled).unwrap_err();
    assert!(e.to_string().contains("duplicate key \"merkle_root\""), "{e}");
}
