//! The per-person lookup answers for every snapshot, and the rows of stores
//! made before the packed pages are carried over, not lost.

use veto_core::hashing::person_ref;
use veto_core::{Kind, Platform, Reason};
use veto_store::lookup::{PersonCounts, page};
use veto_store::{SnapshotRecord, Store};

async fn snapshot(store: &Store, id: &str, pages: &[page::Page]) {
    store
        .record_snapshot(
            &SnapshotRecord {
                snapshot_id: id.into(),
                as_of: chrono::Utc::now(),
                policy_name: "meta-2025".into(),
                policy_sha256: "0".repeat(64),
                path: format!("/snapshots/{id}"),
                built_at: chrono::Utc::now(),
                manifest: "{}".into(),
                objections_seq: None,
            },
            pages,
            &Default::default(),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lookup_shows_each_snapshot_with_the_persons_counts_or_their_absence() {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        let secret = store.secret().await.unwrap();
        // 1,300 persons: three pages, so most lookups land past the first page.
        let hasher = veto_core::hashing::KeyedHasher::person_refs(&secret);
        let mut entries: Vec<([u8; 16], PersonCounts)> = (0..1300u32)
            .map(|p| {
                let mut c = PersonCounts {
                    shard: (p % 5 != 0).then_some(p % 16),
                    ..PersonCounts::default()
                };
                if c.shard.is_some() {
                    c.kinds[Kind::Post.code() as usize] = p + 1;
                    c.platforms[Platform::Instagram.code() as usize] = p + 1;
                }
                c.reasons[Reason::Minor.code() as usize] = p % 3;
                (hasher.truncated(&format!("person-{p}")), c)
            })
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        // snap-a with its persons; snap-b, recorded with no one in it.
        snapshot(&store, "snap-a", &page::pack(entries).unwrap()).await;
        snapshot(&store, "snap-b", &[]).await;

        let rows = store.lookup(&person_ref(&secret, "person-42")).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].snapshot_id, "snap-a");
        assert!(rows[0].lookup_ready);
        let p = rows[0].person.as_ref().expect("person-42 is in snap-a");
        assert_eq!(p.shard, Some(42 % 16));
        assert_eq!(p.included_by_kind.get("post"), Some(&43));
        assert_eq!(p.included_by_platform.get("instagram"), Some(&43));
        // 42 % 3 = 0 excluded items: a zero count is not listed.
        assert!(p.excluded_by_reason.is_empty());
        assert_eq!(p.included(), 43);
        // snap-b's lookup was recorded with it: ready, and it has no one.
        assert_eq!(rows[1].snapshot_id, "snap-b");
        assert!(rows[1].lookup_ready);
        assert!(rows[1].person.is_none());

        let excluded_only = store.lookup(&person_ref(&secret, "person-10")).await.unwrap();
        let p = excluded_only[0].person.as_ref().unwrap();
        assert_eq!((p.shard, p.included(), p.excluded()), (None, 0, 1));

        let stranger = store.lookup(&person_ref(&secret, "not-in-any-export")).await.unwrap();
        assert!(stranger.iter().all(|r| r.person.is_none()));
    }
}

#[tokio::test]
async fn rows_of_the_old_per_person_table_are_repacked_when_the_store_opens() {
    let home = tempfile::tempdir().unwrap();
    // SQLite only: PostgreSQL stores never had the old table.
    let store = Store::open(home.path()).await.unwrap();
    let secret = store.secret().await.unwrap();
    snapshot(&store, "snap-old", &[]).await;
    store.close().await;
    // The table and rows as migrations 0002 and 0004 left them.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", home.path().join("veto.db").display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE snapshot_persons (person_ref TEXT NOT NULL, snapshot_id TEXT NOT NULL, shard BIGINT,
         included BIGINT NOT NULL, by_kind TEXT NOT NULL, excluded BIGINT NOT NULL, by_reason TEXT NOT NULL,
         by_platform TEXT NOT NULL, PRIMARY KEY (person_ref, snapshot_id))",
    )
    .execute(&db)
    .await
    .unwrap();
    for (who, shard, by_kind, by_reason, by_platform) in [
        (
            "erika",
            Some(3),
            r#"{"photo":2,"post":5}"#,
            r#"{"deleted":1}"#,
            r#"{"facebook":7}"#,
        ),
        ("max", None, "{}", r#"{"objection":4}"#, "{}"),
    ] {
        sqlx::query("INSERT INTO snapshot_persons VALUES (?, 'snap-old', ?, 0, ?, 0, ?, ?)")
            .bind(person_ref(&secret, who))
            .bind(shard)
            .bind(by_kind)
            .bind(by_reason)
            .bind(by_platform)
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;

    let store = Store::open(home.path()).await.unwrap();
    let erika = store.lookup(&person_ref(&secret, "erika")).await.unwrap();
    let p = erika[0].person.as_ref().expect("erika's row was carried over");
    assert_eq!(p.shard, Some(3));
    assert_eq!(p.included_by_kind.get("post"), Some(&5));
    assert_eq!(p.included_by_kind.get("photo"), Some(&2));
    assert_eq!(p.included_by_platform.get("facebook"), Some(&7));
    assert_eq!(p.excluded_by_reason.get("deleted"), Some(&1));
    let max = store.lookup(&person_ref(&secret, "max")).await.unwrap();
    let p = max[0].person.as_ref().expect("max's row was carried over");
    assert_eq!((p.shard, p.included()), (None, 0));
    assert_eq!(p.excluded_by_reason.get("objection"), Some(&4));
    store.close().await;

    // The old table is gone, so opening again does not repack twice.
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", home.path().join("veto.db").display()))
        .await
        .unwrap();
    let left: Option<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE name = 'snapshot_persons'")
        .fetch_optional(&db)
        .await
        .unwrap();
    assert_eq!(left, None);
}
