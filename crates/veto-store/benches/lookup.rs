//! Person lookup latency on a large installation: 10 snapshots of about
//! 10 million items each (1.16 million persons per snapshot at the generated
//! 8.6 items per person). Prints p50/p99/max over random lookups.
//!
//!     cargo bench -p veto-store --bench lookup [-- PERSONS_PER_SNAPSHOT SNAPSHOTS LOOKUPS]
//!
//! The database is built once under bench/work/lookup-pages-<persons>x<snapshots>
//! and reused. With `VETO_BENCH_DATABASE_URL=postgres://…/DB` the store is
//! that PostgreSQL database instead (filled on the first run, when it holds
//! no snapshot, and reused after).

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use veto_core::{Kind, Platform, Reason};
use veto_store::Store;
use veto_store::lookup::PersonCounts;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let persons = arg(0, 1_163_000);
    let snapshots = arg(1, 10);
    let lookups = arg(2, 20_000);
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../bench/work/lookup-pages-{persons}x{snapshots}"));
    let database = match std::env::var("VETO_BENCH_DATABASE_URL") {
        Ok(url) => veto_store::Database::parse(&url).unwrap(),
        Err(_) => veto_store::Database::default_for(&dir),
    };
    let store = Store::open_at(&dir, &database).await.unwrap();
    let fresh = store.snapshots().await.unwrap().is_empty();
    let secret = store.secret().await.unwrap();
    let hasher = veto_core::hashing::KeyedHasher::person_refs(&secret);
    if fresh {
        for s in 0..snapshots {
            let id = format!("snap-bench-{s:02}");
            let manifest = serde_json::json!({ "snapshot_id": id, "shards": [] }).to_string();
            store
                .record_snapshot(
                    &veto_store::SnapshotRecord {
                        snapshot_id: id.clone(),
                        as_of: chrono::Utc::now(),
                        policy_name: "meta-2025".into(),
                        policy_sha256: "0".repeat(64),
                        path: format!("/bench/{id}"),
                        built_at: chrono::Utc::now(),
                        manifest,
                        objections_seq: None,
                    },
                    &[],
                    &Default::default(),
                    None,
                )
                .await
                .unwrap();
            // What a build hands the store: every person's counts, sorted by
            // person_ref.
            let mut entries: Vec<([u8; 16], PersonCounts)> = (0..persons)
                .map(|p| {
                    let mut counts = PersonCounts {
                        shard: Some((p % 16) as u32),
                        ..PersonCounts::default()
                    };
                    counts.kinds[Kind::Post.code() as usize] = (p % 7) as u32 + 1;
                    counts.kinds[Kind::Photo.code() as usize] = (p % 3) as u32;
                    counts.platforms[Platform::Facebook.code() as usize] = (p % 7) as u32 + 1;
                    counts.reasons[Reason::NotPublic.code() as usize] = (p % 4) as u32;
                    (hasher.truncated(&format!("p{p:08}")), counts)
                })
                .collect();
            entries.sort_unstable_by_key(|e| e.0);
            let recording = Instant::now();
            let pages = veto_store::lookup::page::pack(entries).unwrap();
            store.record_lookup(&id, &pages).await.unwrap();
            eprintln!(
                "snapshot {s}: {persons} persons packed and recorded in {:.2} s",
                recording.elapsed().as_secs_f64()
            );
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut micros = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let p = rng.random_range(0..persons);
        let person_ref = veto_core::hashing::person_ref(&secret, &format!("p{p:08}"));
        let t = Instant::now();
        let rows = store.lookup(&person_ref).await.unwrap();
        micros.push(t.elapsed().as_micros() as u64);
        assert_eq!(rows.len(), snapshots);
        assert!(rows.iter().all(|r| r.person.is_some()));
    }
    micros.sort_unstable();
    let pct = |q: f64| micros[((micros.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    println!(
        "{:?}: lookup over {snapshots} snapshots x {persons} persons: {lookups} lookups, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        database.backend(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
