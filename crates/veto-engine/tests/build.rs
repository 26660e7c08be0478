//! A build on a generated platform: every item accounted for, one shard per
//! person, redaction, objections honoured, determinism.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use regex::Regex;
use veto_core::hashing::{LeafData, leaf_hash, merkle_root};
use veto_core::redact::{EMAIL_PATTERN, IBAN_PATTERN, iban_is_valid};
use veto_engine::Manifest;

#[test]
fn every_item_is_accounted_for_and_every_person_sits_in_one_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate(&data, 400, 7, veto_synth::Format::Parquet);
    let out = tmp.path().join("snap");
    let outcome = run(request(&data, out.clone(), objections)).unwrap();
    let m = &outcome.manifest;

    assert!(m.items.read > 3000, "{}", m.items.read);
    assert_eq!(m.items.included + m.items.excluded + m.items.rejected, m.items.read);
    assert_eq!(m.excluded_by_reason.values().sum::<u64>(), m.items.excluded);
    // The generator produces every kind of exclusion a v1 export can have
    // (the v1.1 reasons need its `tagged` and `usage` fields).
    let v1_1 = ["tagged_minor", "tagged_objector", "creator_opt_out"];
    for (reason, n) in &m.excluded_by_reason {
        assert!(
            *n > 0 || v1_1.contains(&reason.as_str()),
            "no item excluded as {reason}"
        );
    }

    let index = read_parquet(&out.join("index.parquet"));
    let index_rows: usize = index.iter().map(|b| b.num_rows()).sum();
    assert_eq!(index_rows as u64, m.items.included);
    let exclusions = read_parquet(&out.join("exclusions.parquet"));
    let reasons = strings(&exclusions, "reason");
    assert_eq!(reasons.len() as u64, m.items.excluded);
    for (reason, n) in &m.excluded_by_reason {
        assert_eq!(
            reasons.iter().filter(|r| r.as_deref() == Some(reason)).count() as u64,
            *n,
            "{reason}"
        );
    }

    // Each person's items are in exactly one shard.
    let persons = strings(&index, "person_id");
    let mut shard_of: HashMap<String, u32> = HashMap::new();
    for b in &index {
        let shards = b
            .column_by_name("shard")
            .unwrap()
            .as_any()
            .downcast_ref::<datafusion::arrow::array::UInt32Array>()
            .unwrap();
        let ids = b
            .column_by_name("person_id")
            .unwrap()
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        for i in 0..b.num_rows() {
            let previous = shard_of.insert(ids.value(i).to_string(), shards.value(i));
            assert!(
                previous.is_none_or(|s| s == shards.value(i)),
                "person {} in two shards",
                ids.value(i)
            );
        }
    }
    assert!(shard_of.len() > 100, "{} persons included", shard_of.len());
    assert!(persons.len() > shard_of.len());

    // Shard files hold no person ids, their rows add up, and each Merkle root
    // recomputes from the shard's own rows.
    assert_eq!(m.shards.len(), 8);
    let mut total = 0;
    for s in &m.shards {
        let batches = read_parquet(&out.join(&s.file));
        let schema = batches.first().map(|b| b.schema());
        if let Some(schema) = schema {
            assert!(schema.field_with_name("person_id").is_err());
            assert!(schema.field_with_name("item_id").is_err());
        }
        let doc = strings(&batches, "doc_id");
        let (text, platform, kind, lang, media) = (
            strings(&batches, "text"),
            strings(&batches, "platform"),
            strings(&batches, "kind"),
            strings(&batches, "lang"),
            strings(&batches, "media_sha256"),
        );
        let mut leaves = Vec::new();
        let mut buf = Vec::new();
        for i in 0..doc.len() {
            LeafData {
                doc_id: doc[i].as_deref().unwrap(),
                text: text[i].as_deref(),
                platform: platform[i].as_deref().unwrap(),
                kind: kind[i].as_deref().unwrap(),
                lang: lang[i].as_deref(),
                media_sha256: media[i].as_deref(),
            }
            .canonical_bytes(&mut buf);
            leaves.push(leaf_hash(&buf));
        }
        assert_eq!(doc.len() as u64, s.rows);
        assert_eq!(hex::encode(merkle_root(&leaves)), s.merkle_root, "shard {}", s.shard);
        total += s.rows;
    }
    assert_eq!(total, m.items.included);

    // The manifest on disk is the one returned.
    let on_disk: Manifest = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(&on_disk, m);
    assert_eq!(
        entries(tmp.path()),
        vec!["export", "snap"],
        "no staging directory left behind"
    );
}

#[test]
fn no_email_or_valid_iban_reaches_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate(&data, 400, 11, veto_synth::Format::Parquet);
    let out = tmp.path().join("snap");
    let m = run(request(&data, out.clone(), objections)).unwrap().manifest;
    assert!(m.redactions.emails > 0 && m.redactions.ibans > 0 && m.redactions.phones > 0 && m.redactions.mentions > 0);
    let (email, iban) = (Regex::new(EMAIL_PATTERN).unwrap(), Regex::new(IBAN_PATTERN).unwrap());
    let mut texts = 0;
    for s in &m.shards {
        for text in strings(&read_parquet(&out.join(&s.file)), "text").into_iter().flatten() {
            texts += 1;
            assert!(!email.is_match(&text), "email in shard: {text}");
            assert!(
                !iban.find_iter(&text).any(|x| iban_is_valid(x.as_str())),
                "IBAN in shard: {text}"
            );
            // Objectors' handles are `@<USER>`; every other mention is `[MENTION]`.
            assert!(!text.replace("@<USER>", "").contains(" @"), "mention in shard: {text}");
        }
    }
    assert!(texts > 1000);
}

#[test]
fn an_objection_in_force_at_the_build_keeps_all_of_a_persons_covered_items_out() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate(&data, 400, 3, veto_synth::Format::Parquet);
    let req = request(&data, tmp.path().join("snap"), objections.clone());
    let as_of = req.as_of;
    let out = run(req).unwrap().path;
    let objected_all: HashSet<&str> = objections
        .iter()
        .filter(|o| o.scope == veto_core::ObjectionScope::All && o.in_force_at(as_of))
        .map(|o| o.person_id.as_str())
        .collect();
    assert!(objected_all.len() > 10);
    let included: HashSet<String> = strings(&read_parquet(&out.join("index.parquet")), "person_id")
        .into_iter()
        .flatten()
        .collect();
    for p in &objected_all {
        assert!(!included.contains(*p), "{p} objected but has items in a shard");
    }
    // Withdrawn before the build: the person is back (for some of them at least).
    let withdrawn: Vec<&str> = objections
        .iter()
        .filter(|o| o.withdrawn_at.is_some_and(|w| w <= as_of) && !objected_all.contains(o.person_id.as_str()))
        .map(|o| o.person_id.as_str())
        .collect();
    assert!(
        withdrawn.iter().any(|p| included.contains(*p)),
        "no withdrawn objector is included"
    );
}

#[test]
fn the_same_inputs_give_byte_identical_snapshots_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    // ~34,000 items: several query batches under a small budget (8k rows),
    // about one under the default (32k rows).
    let objections = generate(&data, 4000, 5, veto_synth::Format::Parquet);
    let mut one = request(&data, tmp.path().join("one"), objections.clone());
    one.threads = 1;
    let mut four = request(&data, tmp.path().join("four"), objections);
    four.threads = 4;
    // Neither the thread count nor a tight memory budget (which also means
    // smaller batches) may change a byte.
    four.memory_limit = 16 << 20;
    let a = run(one).unwrap();
    let b = run(four).unwrap();
    assert_eq!(a.manifest, b.manifest);
    for s in &a.manifest.shards {
        assert_eq!(
            std::fs::read(a.path.join(&s.file)).unwrap(),
            std::fs::read(b.path.join(&s.file)).unwrap(),
            "{}",
            s.file
        );
    }
    for f in ["index.parquet", "exclusions.parquet", "manifest.json"] {
        assert_eq!(
            std::fs::read(a.path.join(f)).unwrap(),
            std::fs::read(b.path.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn json_lines_and_parquet_exports_of_the_same_platform_build_the_same_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let (pq, js) = (tmp.path().join("pq"), tmp.path().join("js"));
    let objections = generate(&pq, 150, 9, veto_synth::Format::Parquet);
    generate(&js, 150, 9, veto_synth::Format::JsonLines);
    let a = run(request(&pq, tmp.path().join("a"), objections.clone()))
        .unwrap()
        .manifest;
    let b = run(request(&js, tmp.path().join("b"), objections)).unwrap().manifest;
    let roots = |m: &Manifest| m.shards.iter().map(|s| s.merkle_root.clone()).collect::<Vec<_>>();
    assert_eq!(roots(&a), roots(&b));
    assert_eq!(a.excluded_by_reason, b.excluded_by_reason);
    assert_ne!(a.inputs, b.inputs, "the manifest records which files were read");
}

#[test]
fn a_build_before_the_policys_training_start_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("export");
    let objections = generate(&data, 20, 1, veto_synth::Format::Parquet);
    let mut req = request(&data, tmp.path().join("snap"), objections);
    req.as_of = veto_core::time::parse_rfc3339("2025-05-26T23:59:59+02:00").unwrap();
    let e = run(req).unwrap_err().to_string();
    assert!(e.contains("before training_start"), "{e}");
    assert_eq!(entries(tmp.path()), vec!["export"]);
}
