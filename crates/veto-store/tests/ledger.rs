//! The store keeps the ledger in step with its state, and what it exports
//! verifies.

use chrono::Duration;
use veto_core::{Channel, Objection, ObjectionScope};
use veto_store::Store;

fn objection(id: &str, person: &str, withdrawn: bool) -> Objection {
    let filed = veto_core::time::parse_rfc3339("2025-05-20T10:00:00+02:00").unwrap();
    Objection {
        objection_id: id.into(),
        person_id: person.into(),
        scope: ObjectionScope::All,
        filed_at: filed,
        withdrawn_at: withdrawn.then(|| filed + Duration::days(3)),
        channel: Channel::Letter,
    }
}

#[tokio::test]
async fn every_objection_is_in_the_ledger_without_the_person_id_in_clear() {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        store
            .import_objections(&[
                objection("o-1", "erika.mustermann", false),
                objection("o-2", "max.mustermann", true),
            ])
            .await
            .unwrap();
        let entries = store.ledger_entries().await.unwrap();
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "ledger_created",
                "objection_filed",
                "objection_filed",
                "objection_withdrawn"
            ]
        );
        let text = serde_json::to_string(&entries).unwrap();
        assert!(!text.contains("mustermann"), "person ids must not appear in clear");
        let secret = store.secret().await.unwrap();
        assert_eq!(
            entries[1].payload["person_ref"],
            veto_core::hashing::person_ref(&secret, "erika.mustermann")
        );

        let head = store.signed_head().await.unwrap();
        let genesis_key = store.public_key().await.unwrap();
        assert_eq!(
            veto_core::ledger::verify(&entries, &head, Some(&genesis_key)).unwrap(),
            genesis_key
        );

        // A re-import adds nothing to the ledger.
        store
            .import_objections(&[objection("o-1", "erika.mustermann", false)])
            .await
            .unwrap();
        assert_eq!(store.ledger_entries().await.unwrap().len(), 4);
    }
}

#[tokio::test]
async fn after_a_key_rotation_the_ledger_still_verifies_from_the_genesis_key() {
    let home = tempfile::tempdir().unwrap();
    for store in veto_store::testing::stores(home.path()).await {
        let genesis_key = store.public_key().await.unwrap();
        let new_key = store.rotate_signing_key().await.unwrap();
        assert_ne!(new_key, genesis_key);
        store
            .import_objections(&[objection("o-1", "p-1", false)])
            .await
            .unwrap();
        let (entries, head) = (
            store.ledger_entries().await.unwrap(),
            store.signed_head().await.unwrap(),
        );
        assert_eq!(head.public_key, new_key);
        assert_eq!(
            veto_core::ledger::verify(&entries, &head, Some(&genesis_key)).unwrap(),
            new_key
        );
        let (home, database) = (store.home().to_path_buf(), store.database().clone());
        store.close().await;
        // The key and the chain survive a reopen.
        let store = Store::open_at(&home, &database).await.unwrap();
        assert_eq!(store.public_key().await.unwrap(), new_key);
        let (entries, head) = (
            store.ledger_entries().await.unwrap(),
            store.signed_head().await.unwrap(),
        );
        assert!(veto_core::ledger::verify(&entries, &head, Some(&genesis_key)).is_ok());
    }
}

#[tokio::test]
async fn objections_come_back_in_byte_order_on_every_backend() {
    // Byte order, as a person reading ids expects from `veto objections
    // list` and as the build reads them: it must not follow the server's
    // locale (the CI server sorts text by ICU de-DE, where "a" < "B").
    let home = tempfile::tempdir().unwrap();
    let ids = ["o-b", "o-B", "o-a", "o-A", "o-_", "o-ä", "o-Z"];
    let mut expected: Vec<&str> = ids.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for store in veto_store::testing::stores(home.path()).await {
        let objections: Vec<Objection> = ids.iter().map(|id| objection(id, &format!("p{id}"), false)).collect();
        store.import_objections(&objections).await.unwrap();
        let read = store.objections_read().await.unwrap();
        let got: Vec<&str> = read.objections.iter().map(|o| o.objection_id.as_str()).collect();
        assert_eq!(got, expected, "{}", store.database());
    }
}
